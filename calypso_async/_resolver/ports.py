"""What a resolver shares with every process that uses the same store: the store Protocol.

Four things must hold across processes, so they live in the store, not in memory:

* **intake**: an accepted invoice is pending until a run finishes it. One pending entry
  per invoice however many copies arrive; an event id seen once is a replay everywhere.
* **claims**: a run claims its invoice for a lease, renews it while it runs and releases
  it with its outcome; a dead worker's claim is taken over once its lease has run out.
* **the write-ahead record**: before ``return-to-paid`` is sent, :meth:`begin_write`
  records the intent with one atomic compare-and-set, refused while another intent for
  the invoice is not settled as "did not land". This record, not a lock's timing, keeps
  every process to one return-to-paid: a paused worker that wakes after its claim was
  taken finds its record superseded or its claim gone, and sends nothing.
* **outcomes**: the last outcome of every invoice, so operators can list what is held
  and what failed for good, and queue an invoice again.

Every operation is one atomic step in the store (a lock in memory, a ``BEGIN IMMEDIATE``
transaction in SQLite, a Lua script in Redis). Times are seconds on the store's clock.
"""

from __future__ import annotations

import enum
from typing import Protocol, Self

import attrs

from .policy import Outcome, Write

__all__ = [
    "Claim",
    "ClaimSource",
    "Intake",
    "OutcomeRecord",
    "ResolverStore",
    "WriteRefused",
]


class Intake(enum.StrEnum):
    """What :meth:`ResolverStore.accept` did with an invoice."""

    QUEUED = "queued"
    """A new pending entry: a worker will run it."""
    MERGED = "merged"
    """Already pending (or already marked to run again): nothing added."""
    AGAIN = "again"
    """Being resolved right now: it runs once more when that run ends."""
    REPLAY = "replay"
    """The event was accepted before (by any process sharing the store): ignored."""


@attrs.frozen
class Claim:
    """A run's hold on one invoice; the token fences every write made under it.

    Attributes:
        invoice_id: The invoice claimed.
        token: Unique to this claim: a claim taken over by another worker has another.
        owner: Who holds it (a worker's name), for operators.
        attempt: How many times the invoice's current entry has been claimed (1 for
            the first; a takeover after a dead worker's lease counts too).
        taken: This process's monotonic time (``time.monotonic``) from before the claim
            was asked for: its lease runs from no later than this.
    """

    invoice_id: str
    token: str
    owner: str
    attempt: int = 1
    taken: float = attrs.field(default=0.0, eq=False)


@attrs.frozen
class WriteRefused:
    """:meth:`ResolverStore.begin_write` refused to record an intent.

    Attributes:
        landed: Another run's return-to-paid is known to have landed.
        hold: Seconds before another may be recorded (0 when it landed, or when the
            claim is gone).
        claim_lost: The claim this run holds is no longer its own.
    """

    landed: bool = False
    hold: float = 0.0
    claim_lost: bool = False


@attrs.frozen
class OutcomeRecord:
    """The last outcome the store keeps for an invoice.

    Attributes:
        invoice_id: The invoice.
        outcome: ``RESOLVED``, ``HELD``, ``SKIPPED`` or ``FAILED``.
        reason: Why, in words for an operator.
        at: When it was recorded (Unix seconds for a durable store).
        writes: What the run sent.
        attempts: How many runs it took.
    """

    invoice_id: str
    outcome: Outcome
    reason: str
    at: float
    writes: tuple[Write, ...] = ()
    attempts: int = 1


class ClaimSource(Protocol):
    """Where a resolver's workers take their claims from (:meth:`ResolverStore.source`)."""

    async def take(self) -> Claim:
        """Wait for the next due invoice and return it claimed."""
        ...

    def done(self) -> None:
        """One claim :meth:`take` returned has been handled."""
        ...

    async def join(self) -> None:
        """Return once nothing accepted is pending or running any more."""
        ...

    def close(self) -> list[str]:
        """Stop handing out claims; return the ids dropped without ever starting.

        A durable store drops nothing: what is pending stays pending in the store.
        """
        ...


class ResolverStore(Protocol):
    """The state a resolver shares with every process that uses the same store."""

    @property
    def url(self) -> str:
        """What the store is (``memory://``, ``sqlite:///...``), with no secret in it."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other processes can use it too (claims must then be renewed)."""
        ...

    async def open(self) -> None:
        """Connect and check the store; raises ``StoreError`` when it cannot be used."""
        ...

    async def aclose(self) -> None:
        """Let go of connections; idempotent."""
        ...

    async def __aenter__(self) -> Self:
        """:meth:`open`, for ``async with store:``."""
        ...

    async def __aexit__(self, *exc_info: object) -> None:
        """:meth:`aclose`."""
        ...

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers now."""
        ...

    async def counts(self) -> tuple[int, int]:
        """How many invoices are pending, and how many are claimed right now."""
        ...

    def source(self, owner: str, lease: float) -> ClaimSource:
        """The claims for the workers of one resolver, under the name ``owner``."""
        ...

    async def accept(self, invoice_id: str, *, event_key: str | None = None) -> Intake:
        """Hold ``invoice_id`` as pending; returns only once the store has it.

        Args:
            invoice_id: The invoice to resolve.
            event_key: The delivery's identity (subscription and event id): a key seen
                before, within the store's replay window, makes this a ``REPLAY``.
        """
        ...

    async def claim(self, invoice_id: str, owner: str, lease: float) -> Claim | None:
        """Claim ``invoice_id`` for ``lease`` seconds, whether it is pending or not.

        Returns ``None`` while a live claim of another run holds it.
        """
        ...

    async def renew(self, claim: Claim, lease: float) -> bool:
        """Extend ``claim`` by ``lease`` seconds from now; ``False`` when it is gone."""
        ...

    async def release(self, claim: Claim, outcome: OutcomeRecord | None) -> None:
        """End ``claim``: keep ``outcome``, or with ``None`` put the invoice back (pending).

        An invoice accepted again while claimed is pending again afterwards. A claim
        that is no longer this run's is left alone.
        """
        ...

    async def begin_write(self, claim: Claim, write: Write, hold: float) -> WriteRefused | None:
        """Record that ``write`` is about to be sent under ``claim``: the atomic CAS.

        Refused (a :class:`WriteRefused`) when the claim is no longer this run's, when an
        earlier intent landed, or while an earlier intent is not settled as "did not
        land" and its hold (``hold`` seconds from when it was recorded or last failed)
        has not run out. ``None``: recorded; send it.
        """
        ...

    async def settle_write(
        self, claim: Claim, write: Write, landed: bool | None, hold: float
    ) -> None:
        """Settle this run's intent: landed, did not land, or unknown (``None``).

        Unknown keeps every other run from sending for ``hold`` seconds from now.
        """
        ...

    async def write_landed(self, invoice_id: str, write: Write) -> None:
        """The server shows ``write`` took effect, whoever sent it: clear any hold."""
        ...

    async def write_hold(self, invoice_id: str, write: Write) -> float:
        """Seconds before ``write`` may be recorded for ``invoice_id`` again (0: now)."""
        ...

    async def outcomes(self, outcome: Outcome) -> list[OutcomeRecord]:
        """The invoices whose last outcome is ``outcome``, oldest first.

        An invoice held (or failed) again keeps the time it first was.
        """
        ...

    async def forget(self, invoice_id: str) -> bool:
        """Drop the outcome kept for ``invoice_id`` (a human dealt with it)."""
        ...

    async def requeue(self, invoice_id: str) -> Intake:
        """Queue an invoice again (an operator's "run it once more")."""
        ...
