"""What invoice tracking keeps in the store: the tracked invoices and the request budget.

Tracked invoices form one schedule per store, ordered by when each is next due for a
poll; a worker takes the due ones (pushing each one's due time a lease ahead, which is
its claim: no other worker polls it meanwhile) and reschedules each after its poll. The
request budget is a log of the last requests granted: a request is granted only while
fewer than the limit were granted within the window before it, so no window of that
length holds more than the limit, whoever sends them. Times are read on the store's
clock (Redis's own, for a ``RedisStore``), so callers pass delays, never instants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import attrs

from .._types import Invoice, InvoiceState

__all__ = ["KEY_PREFIX", "InvoiceChange", "TrackedInvoice", "TrackingStore", "ceiling_now"]

KEY_PREFIX = "idempotencyKey:"
"""How the store names an invoice tracked by its idempotency key, until a poll reads it."""


@attrs.frozen
class InvoiceChange:
    """What a poll found changed about a tracked invoice (``on_change``'s argument).

    Attributes:
        invoice_id: The invoice.
        previous: The state the previous poll read (``None`` on the first poll).
        invoice: What this poll read; ``None`` when Calypso does not know the invoice.
        final: Whether tracking ends with this poll.
    """

    invoice_id: str
    previous: str | None
    invoice: Invoice | None
    final: bool

    @property
    def state(self) -> InvoiceState | None:
        """The state this poll read (``None``: no such invoice)."""
        return None if self.invoice is None else self.invoice.state


def ceiling_now(lowered: tuple[float, float] | None, max_rps: int, now: float) -> float:
    """The shared rate ceiling now, from when and to what a 429 last lowered it.

    ``max_rps`` when never lowered; else the rate set at ``lowered[1]`` plus one request
    per second since (AIMD's additive increase), at most ``max_rps``.
    """
    if lowered is None:
        return float(max_rps)
    rate, at = lowered
    return min(float(max_rps), rate + math.floor(max(0.0, now - at)))


@attrs.frozen
class TrackedInvoice:
    """An invoice the store tracks until it is final for the merchant.

    Attributes:
        invoice_id: The invoice.
        due: When it is next polled (the store's clock).
        state: The state its last poll read (``None`` before its first poll).
        since: When it was first tracked (the store's clock).
        polls: How many polls it has had.
    """

    invoice_id: str
    due: float
    state: str | None = None
    since: float = 0.0
    polls: int = 0


class TrackingStore(Protocol):
    """The tracking half of a store: the poll schedule and the shared request budget."""

    async def track(self, invoice_ids: Sequence[str], delay: float) -> int:
        """Track ``invoice_ids``, first due ``delay`` s from now; return how many were new.

        An invoice tracked already keeps its schedule.
        """
        ...

    async def untrack(self, invoice_id: str) -> bool:
        """Stop tracking ``invoice_id``; ``False`` when it was not tracked."""
        ...

    async def take_due(self, limit: int, lease: float) -> list[TrackedInvoice]:
        """Take up to ``limit`` invoices due now, earliest first, each for ``lease`` s.

        Each one's due time moves ``lease`` seconds ahead, so no other worker takes it
        while it is polled; a worker that dies leaves it due again once that passes.
        """
        ...

    async def reschedule(self, invoice_id: str, delay: float, state: str | None) -> bool:
        """After a poll: next due in ``delay`` s, last read ``state``; ``False`` if untracked."""
        ...

    async def hurry(self, invoice_id: str, delay: float) -> bool:
        """Bring a tracked invoice's next poll forward to ``delay`` s from now (never back).

        Returns whether it is tracked.
        """
        ...

    async def next_due(self) -> float | None:
        """Seconds until the earliest tracked invoice is due (``None``: none tracked).

        Zero or less means one is due now.
        """
        ...

    async def tracked(self, limit: int | None = None) -> list[TrackedInvoice]:
        """The tracked invoices, earliest due first (at most ``limit``)."""
        ...

    async def tracked_count(self) -> int:
        """How many invoices are tracked."""
        ...

    async def last_outcome(self, invoice_id: str) -> str | None:
        """The outcome the store keeps for ``invoice_id`` (``HELD``, ``FAILED``, ...)."""
        ...

    async def ceiling(self, max_rps: int) -> float:
        """The rate every process sharing the store keeps under (lowered by 429s)."""
        ...

    async def lower_ceiling(self, max_rps: int, window: float) -> float:
        """A 429: halve the shared ceiling (at least 1), at most once per ``window``.

        Returns the ceiling now.
        """
        ...

    async def grant(self, limit: int, window: float, spacing: float = 0.0) -> float:
        """Ask the budget for one request: ``0.0`` when granted (and logged).

        Otherwise, the seconds until fewer than ``limit`` were granted within the last
        ``window`` and none within the last ``spacing`` (which spreads a burst).
        Callers of lower priority pass a lower ``limit``: they stop short of the whole
        budget, leaving the rest to the others.
        """
        ...
