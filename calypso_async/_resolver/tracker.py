"""``InvoiceTracker``: tracked invoices polled until final, so no intervention waits unseen.

Webhooks fail where a merchant does not see them (a blocked subscription, a broken
receiver): polling is the safety net.

One schedule per store, not one coroutine per invoice: each process's tracker takes
the invoices that are due from the store (each is taken by one process at a time),
polls them, and puts each back with its next due time (see ``PollSchedule``). An open
intervention a poll finds goes to the resolver's ``accept``, the same intake a webhook
uses, so a poll and a webhook for one invoice never make two writes. A webhook for a
tracked invoice brings its next poll forward or ends its tracking; the resolver's
outcome (resolved, or held for a human) ends it too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self

import attrs

from .._aio import call_back
from .._core import checks
from .._errors import (
    AuthenticationError,
    CalypsoError,
    ConfigurationError,
    ErrorCode,
    LifecycleError,
    NotFoundError,
    StoreError,
)
from .._types import EventType, InvoiceState, WebhookEvent
from . import reasons
from .budget import polling
from .intervals import PollSchedule
from .policy import Outcome, Resolution
from .tracking import KEY_PREFIX, InvoiceChange, TrackedInvoice, TrackingStore

if TYPE_CHECKING:
    from .resolver import InterventionResolver

__all__ = ["InvoiceTracker"]

logger = logging.getLogger("calypso_async.resolver")

_HURRYING_EVENTS = frozenset(
    {
        EventType.INVOICE_PAID,
        EventType.INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED,
        EventType.INVOICE_EXPIRED,
        EventType.INVOICE_COMPLIANCE_DECLINED,
    }
)
_RETRY_AFTER_ERROR = 30.0
_PAUSE_AFTER_REFUSAL = 60.0
"""Seconds every poll waits after Calypso refused the credentials (401/403)."""
_TRACK_AT_ONCE = 1000
_LEFT_FOR_A_HUMAN = frozenset({str(Outcome.HELD), str(Outcome.FAILED)})


class InvoiceTracker:
    """Tracks invoices in the resolver's store and polls them until they are final.

    Its polls are marked as such: a client whose hooks come from a
    :class:`RequestBudget` gives them the lower share of the budget.

    ::

        budget = RequestBudget(store, max_rps=10)
        async with CalypsoClient.from_env(event_hooks=budget.event_hooks()) as client:
            resolver = InterventionResolver(client, store=store)
            async with resolver, InvoiceTracker(resolver) as tracker:
                await tracker.track(invoice.id)

    Args:
        resolver: Finds the store and the client, and takes the interventions found.
        schedule: How often invoices are polled, by state.
        on_change: Called (sync or async) with an :class:`InvoiceChange` whenever a
            poll reads a state other than the last one, or tracking ends.
        concurrency: Polls in flight at once in this process.
        lease: Seconds a taken invoice is kept from other processes while polled.
        batch: Invoices taken from the store at a time.
        idle: Seconds between looks at the store when nothing is due.
    """

    def __init__(
        self,
        resolver: InterventionResolver,
        *,
        schedule: PollSchedule | None = None,
        on_change: Callable[[InvoiceChange], object] | None = None,
        concurrency: int = 10,
        lease: float = 30.0,
        batch: int = 100,
        idle: float = 5.0,
    ) -> None:
        store = resolver.store
        if not hasattr(store, "take_due"):
            raise ConfigurationError(f"{store.url} cannot track invoices")
        self._store: TrackingStore = store  # type: ignore[assignment]
        self._resolver = resolver
        self._client = resolver.client
        self._schedule = schedule or PollSchedule()
        self._on_change = on_change
        self._concurrency = checks.integer("concurrency", concurrency, least=1)
        self._lease = checks.seconds("lease", lease)
        self._batch = checks.integer("batch", batch, least=1)
        self._idle = checks.seconds("idle", idle)
        self._wake = asyncio.Event()
        self._polls: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._heard_at = -math.inf
        self._in_flight: set[str] = set()
        self._paused_until = -math.inf
        # A poll ends well inside its lease, so no other process takes the invoice.
        self._poll_timeout = self._lease * 0.8
        self.polls = 0
        """Polls this tracker made."""
        resolver._listen(self._resolved)

    def __repr__(self) -> str:
        return f"InvoiceTracker(store={self._store!r}, polls={self.polls})"

    # -- what to track -------------------------------------------------------------------

    async def track(self, *invoice_ids: str, first_poll: float = 0.0) -> int:
        """Track invoices until they are final; returns how many were not tracked yet.

        An id Calypso does not know is dropped at its first poll (a 404 is final),
        logged at WARNING and reported to ``on_change``. Tracking lives in the store:
        it survives a restart of any worker.

        Args:
            invoice_ids: The invoices, by id.
            first_poll: Seconds before the first poll (an invoice just created through
                the SDK has nothing to show yet).
        """
        ids = [checks.identifier("invoice_id", i) for i in invoice_ids]
        delay = checks.seconds("first_poll", first_poll, allow_zero=True)
        added = 0
        for start in range(0, len(ids), _TRACK_AT_ONCE):  # short transactions, loop free
            added += await self._store.track(ids[start : start + _TRACK_AT_ONCE], delay)
        self._wake.set()
        return added

    async def track_key(self, *idempotency_keys: str, first_poll: float = 60.0) -> int:
        """Track invoices by the idempotency key they are about to be created with.

        Track first, then create: a process that dies between the two still leaves the
        invoice tracked, where ``track(invoice.id)`` after the create would not::

            key = str(uuid.uuid4())
            await tracker.track_key(key)
            invoice = await client.invoices.create_single(..., idempotency_key=key)

        The first poll reads the invoice by its key and tracks it by its id from then
        on. If Calypso answers that no invoice has the key (``004``), the create never
        landed: tracking ends and ``on_change`` hears of it.

        Args:
            idempotency_keys: The keys the creates will carry.
            first_poll: Seconds before the first poll: long enough for the create to be
                made (the client's ``deadline``, 60 s by default).
        """
        keys = [checks.identifier("idempotency_key", k) for k in idempotency_keys]
        return await self.track(*(KEY_PREFIX + key for key in keys), first_poll=first_poll)

    async def untrack(self, invoice_id: str) -> bool:
        """Stop tracking ``invoice_id``; ``False`` when it was not tracked."""
        return await self._store.untrack(checks.identifier("invoice_id", invoice_id))

    async def tracked(self, limit: int | None = None) -> list[TrackedInvoice]:
        """The tracked invoices, the earliest due first (``limit`` at most)."""
        return await self._store.tracked(limit)

    async def heard(self, event: WebhookEvent) -> None:
        """Note a verified webhook (pass it as ``webhook_handler``'s ``on_event``).

        Webhooks being heard makes quiet invoices wait longer between polls (for
        ``heard_for`` seconds after the last one); a payment, an expiry or a declined
        compliance check brings the invoice's next poll forward, to see it final and
        stop tracking it. It never fails the delivery: a store it cannot reach is
        logged, as the next poll comes anyway.
        """
        self._heard_at = time.monotonic()
        invoice_id = event.invoice_id
        if invoice_id is None or event.event_type not in _HURRYING_EVENTS:
            return
        try:
            if await self._store.hurry(invoice_id, self._schedule.after_event):
                self._wake.set()
        except Exception as exc:  # a hint only: the delivery must still be answered 200
            logger.warning(
                "invoice %s: tracking could not note %s (%s)", invoice_id, event.event_type, exc
            )

    def _hearing(self) -> bool:
        return time.monotonic() - self._heard_at < self._schedule.heard_for

    async def _resolved(self, resolution: Resolution) -> None:
        invoice_id = resolution.invoice_id
        done = resolution.outcome in (Outcome.RESOLVED, Outcome.HELD)
        if done and invoice_id is not None and await self._store.untrack(invoice_id):
            why = "resolved" if resolution.outcome is Outcome.RESOLVED else "held for a human"
            logger.info("invoice %s: %s, no longer tracked", invoice_id, why)

    # -- polling ---------------------------------------------------------------------------

    async def poll_due(self) -> int:
        """Take what is due (up to the free slots) and start polling it; return how many."""
        free = self._concurrency - len(self._polls)
        if free <= 0 or time.monotonic() < self._paused_until:
            return 0
        due = await self._store.take_due(min(free, self._batch), self._lease)
        for tracked in due:
            if tracked.invoice_id in self._in_flight:
                continue  # its poll here outlived the lease: one at a time all the same
            self._in_flight.add(tracked.invoice_id)
            task = asyncio.create_task(self._poll(tracked), name=f"poll {tracked.invoice_id}")
            self._polls.add(task)
            task.add_done_callback(functools.partial(self._polled, tracked.invoice_id))
        return len(due)

    def _polled(self, invoice_id: str, task: asyncio.Task[None]) -> None:
        self._polls.discard(task)
        self._in_flight.discard(invoice_id)
        self._wake.set()
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("a poll failed unexpectedly", exc_info=error)

    async def join(self) -> None:
        """Wait for the polls in flight."""
        while self._polls:
            await asyncio.gather(*self._polls, return_exceptions=True)

    async def _poll(self, tracked: TrackedInvoice) -> None:
        entry = tracked.invoice_id
        key = entry[len(KEY_PREFIX) :] if entry.startswith(KEY_PREFIX) else None
        self.polls += 1
        try:
            async with asyncio.timeout(self._poll_timeout):
                with polling():
                    if key is None:
                        invoice = await self._client.invoices.get(entry)
                    else:
                        invoice = await self._client.invoices.get(idempotency_key=key)
        except (CalypsoError, TimeoutError) as exc:
            await self._failed(tracked, exc)
            return
        invoice_id = invoice.id
        if key is not None:
            # Made: from now on it is tracked by its id (the resolver reports by id).
            await self._store.track([invoice_id], self._lease)
            await self._store.untrack(entry)
            tracked = attrs.evolve(tracked, invoice_id=invoice_id)
        state = str(invoice.state)
        final = False
        if invoice.type.is_known and not invoice.supports_interventions:
            final = True  # a type that never has an intervention: nothing to watch for
            logger.info("invoice %s: a %s invoice has no interventions", invoice_id, invoice.type)
        elif reasons.nothing_to_do(invoice) is None:
            final = await self._hand_over(invoice_id)
        delay = (
            None
            if final
            else self._schedule.next_poll(invoice, datetime.now(UTC), heard=self._hearing())
        )
        if delay is None:
            await self._store.untrack(invoice_id)
        else:
            await self._store.reschedule(invoice_id, delay, state)
        if state != tracked.state or delay is None:
            await self._changed(InvoiceChange(invoice_id, tracked.state, invoice, delay is None))
        if delay is None:
            logger.info("invoice %s: %s, no longer tracked", invoice_id, state)

    async def _hand_over(self, invoice_id: str) -> bool:
        """Give an open intervention to the resolver; ``True`` when it waits for a human."""
        outcome = await self._store.last_outcome(invoice_id)
        if outcome in _LEFT_FOR_A_HUMAN:
            # Held, or failed for good (parked): running it again would only repeat
            # what a human must now look at (calypso-async held / failed).
            logger.info("invoice %s: %s, left for a human", invoice_id, outcome)
            return True
        try:
            await self._resolver.accept(invoice_id)
        except Exception as exc:  # a full queue, a store away: the next poll tries again
            logger.warning("invoice %s: the resolver cannot take it now (%s)", invoice_id, exc)
        return False

    async def _failed(self, tracked: TrackedInvoice, error: BaseException) -> None:
        invoice_id = tracked.invoice_id
        if isinstance(error, NotFoundError) and error.code is ErrorCode.NOT_FOUND:
            # Calypso's own "no such invoice" (004): final. A bare 404, from a proxy or a
            # wrong base URL, is an outage and must not empty the schedule.
            await self._store.untrack(invoice_id)
            logger.warning("invoice %s: Calypso does not know it; no longer tracked", invoice_id)
            await self._changed(InvoiceChange(invoice_id, tracked.state, None, True))
            return
        if isinstance(error, AuthenticationError):
            if time.monotonic() >= self._paused_until:
                logger.error(
                    "Calypso refused the credentials (%s): polls wait %g s",
                    error,
                    _PAUSE_AFTER_REFUSAL,
                )
            self._paused_until = time.monotonic() + _PAUSE_AFTER_REFUSAL
            await self._store.reschedule(invoice_id, _PAUSE_AFTER_REFUSAL, tracked.state)
            return
        # Never sooner than its state's own interval: an outage must not bring more polls.
        quiet = tracked.state == str(InvoiceState.PENDING_PAYMENT)
        delay = max(
            _RETRY_AFTER_ERROR, self._schedule.quiet if quiet else self._schedule.intervention
        )
        what = "no answer in time" if isinstance(error, TimeoutError) else str(error)
        logger.warning("invoice %s: poll failed (%s); again in %g s", invoice_id, what, delay)
        await self._store.reschedule(invoice_id, delay, tracked.state)

    async def _changed(self, change: InvoiceChange) -> None:
        if change.invoice is not None:
            still_open = change.invoice.has_open_intervention and (
                change.state is not InvoiceState.PENDING_INTERVENTION
            )
            logger.info(
                "invoice %s: %s -> %s%s",
                change.invoice_id,
                change.previous or "(first poll)",
                change.state,
                " (its intervention still open)" if still_open else "",
                extra={"calypso_invoice_id": change.invoice_id},
            )
        if self._on_change is not None:
            try:
                await call_back(self._on_change, change)
            except Exception:
                logger.exception("the on_change hook raised for invoice %s", change.invoice_id)

    # -- running -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll what falls due until cancelled."""
        while True:
            try:
                if await self.poll_due():
                    continue
                wait = await self._store.next_due()
                if time.monotonic() < self._paused_until:
                    wait = self._paused_until - time.monotonic()
            except StoreError as exc:
                logger.warning("tracking cannot reach the store (%s); trying again", exc)
                wait = 1.0
            except Exception:  # a bug must not end tracking silently
                logger.exception("invoice tracking failed; going on in 1 s")
                wait = 1.0
            self._wake.clear()
            pause = self._idle if wait is None else min(max(wait, 0.01), self._idle)
            if len(self._polls) >= self._concurrency:
                pause = self._idle  # a finished poll wakes the loop
            try:
                async with asyncio.timeout(pause):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def __aenter__(self) -> Self:
        if self._runner is not None:
            raise LifecycleError("this InvoiceTracker is running already")
        self._runner = asyncio.create_task(self.run(), name="invoice tracking")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        for task in list(self._polls):
            task.cancel()
        await asyncio.gather(*self._polls, return_exceptions=True)
