"""What one execution holds in the store: its claim, kept alive, and the writes under it.

A :class:`ClaimGuard` is made for each execution once its claim is taken. It renews the
claim in the background (for a store other processes share), and every write the run
makes goes through it: :meth:`ClaimGuard.begin` records the intent in the store before
anything is sent, and refuses when the claim may have lapsed, so a worker that was
paused past its lease (SIGSTOP, a long GC, a partition from the store) sends nothing
when it wakes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .._errors import CalypsoError
from .policy import Write
from .ports import Claim, ResolverStore, WriteRefused

__all__ = ["ClaimGuard"]

logger = logging.getLogger("calypso_async.resolver")

_MARGIN = 0.2
"""Share of the lease kept in hand: a write is not started in the last fifth of it."""


class ClaimGuard:
    """One execution's claim on one invoice, and the write-ahead records made under it.

    Leases run on real time (``time.monotonic``), whatever clock the client was given:
    they are about processes being alive, which a test's fake clock cannot say.

    Args:
        store: The resolver's store.
        claim: The claim the execution took.
        lease: Seconds a claim lives without renewal.
        resend_hold: Seconds no other return-to-paid is recorded after one whose fate is
            unknown.
        monotonic: The local clock leases are counted on (tests pass their own).
    """

    def __init__(
        self,
        store: ResolverStore,
        claim: Claim,
        *,
        lease: float,
        resend_hold: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.claim = claim
        self._lease = lease
        self._hold = resend_hold
        self._monotonic = monotonic
        # From before the claim was asked for: the store's lease began no earlier.
        self._valid_until = (claim.taken or monotonic()) + lease
        self._lost = False
        self._recorded = False
        self._keeper: asyncio.Task[None] | None = None

    @property
    def resend_hold(self) -> float:
        """Seconds a return-to-paid whose fate is unknown holds every other back."""
        return self._hold

    @property
    def invoice_id(self) -> str:
        """The invoice claimed."""
        return self.claim.invoice_id

    @property
    def lost(self) -> bool:
        """Whether the claim is gone or given up.

        Taken over, not renewed in time, or too little of it left to start a write: the
        invoice then goes back to the queue rather than being parked as failed.
        """
        if not self.store.shared:
            return self._lost
        return self._lost or self._monotonic() >= self._valid_until

    def keep_alive(self) -> None:
        """Renew the claim every third of its lease until :meth:`stop` (shared stores)."""
        if self.store.shared and self._keeper is None:
            self._keeper = asyncio.create_task(
                self._renew_forever(), name=f"renew-{self.claim.invoice_id}"
            )

    async def stop(self) -> None:
        """Stop renewing."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.cancel()
            # Waits for it without taking its CancelledError for the caller's own.
            await asyncio.wait([keeper])
            if not keeper.cancelled():
                keeper.result()  # a bug in renewing surfaces here

    async def _renew_forever(self) -> None:
        while not self._lost:
            await asyncio.sleep(self._lease / 3)
            started = self._monotonic()
            try:
                held = await self.store.renew(self.claim, self._lease)
            except CalypsoError as exc:
                logger.warning(
                    "invoice %s: the claim could not be renewed (%s); retrying",
                    self.claim.invoice_id,
                    exc,
                    extra={"calypso_invoice_id": self.claim.invoice_id},
                )
                continue
            if not held:
                self._lost = True
                logger.warning(
                    "invoice %s: the claim ran out (not renewed in time, or taken over by "
                    "another worker); this run sends no more writes",
                    self.claim.invoice_id,
                    extra={"calypso_invoice_id": self.claim.invoice_id},
                )
                return
            self._valid_until = started + self._lease

    def _in_hand(self) -> bool:
        """Whether enough of the lease is left to start a write (always, unshared)."""
        if not self.store.shared:
            return True
        return not self._lost and self._monotonic() < self._valid_until - _MARGIN * self._lease

    async def begin(self, write: Write) -> WriteRefused | None:
        """Record the intent to send ``write`` now; ``None`` means send it.

        Refused when the claim is gone or too close to its end, or when the store shows
        another intent that landed or may still land.
        """
        if not self._in_hand():
            self._lost = True
            return WriteRefused(claim_lost=True)
        started = self._monotonic()
        refused = await self.store.begin_write(self.claim, write, self._hold)
        if refused is not None:
            if refused.claim_lost:
                self._lost = True
            return refused
        self._recorded = True
        if self.store.shared and self._monotonic() - started > _MARGIN * self._lease:
            # Recorded, but this process stalled on the way (paused, or the store was
            # slow): the lease may have run out meanwhile. Send nothing; the record
            # is settled as "did not land", which it never can now.
            await self.settle(write, False)
            self._lost = True
            return WriteRefused(claim_lost=True)
        return None

    async def settle(self, write: Write, landed: bool | None) -> None:
        """Settle the intent recorded by :meth:`begin` (``None``: its fate is unknown)."""
        await self.store.settle_write(self.claim, write, landed, self._hold)

    async def landed(self, write: Write) -> None:
        """The server shows ``write`` took effect: clear a hold this execution recorded."""
        if self._recorded or not self.store.shared:
            await self.store.write_landed(self.claim.invoice_id, write)

    async def hold_left(self, write: Write) -> float:
        """Seconds before ``write`` may be recorded for this invoice again."""
        return await self.store.write_hold(self.claim.invoice_id, write)

    async def check(self) -> bool:
        """Whether the claim is still this run's (before a write that is not recorded).

        Decided here, without asking the store: a claim is taken over only once it has
        run out on the store's clock, and this process counts its lease from before the
        store last granted it, so while enough of it is left in hand nobody else holds it.
        """
        if self._in_hand():
            return True
        self._lost = True
        return False
