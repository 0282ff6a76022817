"""Invoice tracking and the request budget of ``MemoryStore``: a heap and a deque.

The schedule is a heap of ``(due, invoice)`` with lazy deletion (an entry whose due
time no longer matches the invoice's is skipped), so taking, rescheduling and hurrying
cost ``O(log n)`` whatever the number tracked.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..ports import OutcomeRecord
from ..tracking import TrackedInvoice, ceiling_now

__all__ = ["MemoryTracks"]


class _Track:
    __slots__ = ("due", "polls", "since", "state")

    def __init__(self, due: float, since: float) -> None:
        self.due = due
        self.since = since
        self.state: str | None = None
        self.polls = 0

    def public(self, invoice_id: str) -> TrackedInvoice:
        return TrackedInvoice(invoice_id, self.due, self.state, self.since, self.polls)


class _Book:
    def __init__(self) -> None:
        self.tracks: dict[str, _Track] = {}
        self.heap: list[tuple[float, str]] = []
        self.grants: collections.deque[float] = collections.deque()
        self.lowered: tuple[float, float] | None = None  # the shared AIMD ceiling

    def schedule(self, invoice_id: str, track: _Track, due: float) -> None:
        track.due = due
        heapq.heappush(self.heap, (due, invoice_id))
        if len(self.heap) > 4 * len(self.tracks) + 64:
            # Mostly stale entries: rebuild rather than let them pile up.
            self.heap = [(t.due, i) for i, t in self.tracks.items()]
            heapq.heapify(self.heap)

    def first(self) -> tuple[float, str] | None:
        heap = self.heap
        while heap:
            due, invoice_id = heap[0]
            track = self.tracks.get(invoice_id)
            if track is not None and track.due == due:
                return due, invoice_id
            heapq.heappop(heap)
        return None


class MemoryTracks:
    """The tracking half of ``MemoryStore`` (see ``TrackingStore``), in this process."""

    __book: _Book | None = None

    if TYPE_CHECKING:  # MemoryStore's
        _outcomes: collections.OrderedDict[str, OutcomeRecord]

        def _now(self) -> float: ...

    @property
    def _book(self) -> _Book:
        if self.__book is None:
            self.__book = _Book()
        return self.__book

    async def track(self, invoice_ids: Sequence[str], delay: float) -> int:
        """Track ``invoice_ids`` (see ``TrackingStore.track``)."""
        book, added, now = self._book, 0, self._now()
        due = now + delay
        for invoice_id in invoice_ids:
            if invoice_id not in book.tracks:
                track = book.tracks[invoice_id] = _Track(due, now)
                book.schedule(invoice_id, track, due)
                added += 1
        return added

    async def untrack(self, invoice_id: str) -> bool:
        """Stop tracking ``invoice_id``."""
        return self._book.tracks.pop(invoice_id, None) is not None

    async def take_due(self, limit: int, lease: float) -> list[TrackedInvoice]:
        """Take the invoices due now (see ``TrackingStore.take_due``)."""
        book, now = self._book, self._now()
        taken: list[TrackedInvoice] = []
        while len(taken) < limit and (first := book.first()) is not None:
            due, invoice_id = first
            if due > now:
                break
            track = book.tracks[invoice_id]
            taken.append(track.public(invoice_id))
            book.schedule(invoice_id, track, now + lease)
        return taken

    async def reschedule(self, invoice_id: str, delay: float, state: str | None) -> bool:
        """After a poll (see ``TrackingStore.reschedule``)."""
        book = self._book
        track = book.tracks.get(invoice_id)
        if track is None:
            return False
        track.state = state
        track.polls += 1
        book.schedule(invoice_id, track, self._now() + delay)
        return True

    async def hurry(self, invoice_id: str, delay: float) -> bool:
        """Bring a poll forward (see ``TrackingStore.hurry``)."""
        book, due = self._book, self._now() + delay
        track = book.tracks.get(invoice_id)
        if track is None:
            return False
        if due < track.due:
            book.schedule(invoice_id, track, due)
        return True

    async def next_due(self) -> float | None:
        """Seconds until the earliest tracked invoice is due."""
        first = self._book.first()
        return None if first is None else first[0] - self._now()

    async def tracked(self, limit: int | None = None) -> list[TrackedInvoice]:
        """The tracked invoices, earliest due first."""
        tracks = sorted(self._book.tracks.items(), key=lambda item: (item[1].due, item[0]))
        return [track.public(i) for i, track in tracks[:limit]]

    async def tracked_count(self) -> int:
        """How many invoices are tracked."""
        return len(self._book.tracks)

    async def last_outcome(self, invoice_id: str) -> str | None:
        """The outcome kept for ``invoice_id``."""
        record = self._outcomes.get(invoice_id)
        return None if record is None else str(record.outcome)

    async def ceiling(self, max_rps: int) -> float:
        """The shared rate ceiling (see ``TrackingStore.ceiling``)."""
        return ceiling_now(self._book.lowered, max_rps, self._now())

    async def lower_ceiling(self, max_rps: int, window: float) -> float:
        """A 429 (see ``TrackingStore.lower_ceiling``)."""
        book, now = self._book, self._now()
        current = ceiling_now(book.lowered, max_rps, now)
        if book.lowered is not None and now - book.lowered[1] < window:
            return current
        book.lowered = (max(1.0, current / 2), now)
        return book.lowered[0]

    async def grant(self, limit: int, window: float, spacing: float = 0.0) -> float:
        """One request from the budget (see ``TrackingStore.grant``)."""
        grants, now = self._book.grants, self._now()
        while grants and grants[0] <= now - window:
            grants.popleft()
        while grants and grants[-1] > now + spacing:  # the clock was set back
            grants.pop()
        wait = grants[-1] + spacing - now if grants and spacing > 0 else 0.0
        if len(grants) >= limit:
            # The grant that must leave the window first for this caller to fit.
            wait = max(wait, grants[len(grants) - limit] + window - now)
        if wait <= 0:
            grants.append(now)
            return 0.0
        return max(wait, 1e-3)
