"""``MemoryStore``: the resolver's shared state kept in this process (the default).

Everything the store Protocol promises holds among the tasks of one process: one pending
entry per invoice, an invoice accepted while it runs runs once more afterwards, one
return-to-paid in flight and none resent while one may still land. Nothing survives the
process: a resolver shut down hands back what it did not finish, and a crash loses it.
Use ``SQLiteStore`` or ``RedisStore`` when several processes resolve, or when accepted
work must survive a crash.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import Callable

import attrs

from ..._core import checks
from ..._errors import LifecycleError
from ..policy import Outcome, Write
from ..ports import Claim, Intake, OutcomeRecord, WriteRefused
from .memory_tracks import MemoryTracks

__all__ = ["MemoryStore"]

_CLOCK_TICK = 1e-3
"""A sleep may end a tick early: a hold with less than this left has been served."""


class _Entry:
    """An accepted or claimed invoice."""

    __slots__ = ("accepted", "again", "attempt", "token")

    def __init__(self, *, accepted: bool) -> None:
        self.accepted = accepted  # counted by join(): it came through accept()
        self.token: str | None = None  # None while pending
        self.again = False
        self.attempt = 0


class _Intent:
    """The write-ahead record of one write for one invoice."""

    __slots__ = ("token", "until")

    def __init__(self, token: str, until: float) -> None:
        self.token = token
        self.until = until


class MemoryStore(MemoryTracks):
    """The resolver's shared state, in this process only.

    Args:
        max_queue: Invoices waiting at most; beyond it intake raises ``asyncio.QueueFull``
            (a webhook endpoint answers 503 so that Calypso delivers again later).
        clock: Monotonic seconds for holds; by default the clock of the resolver that
            uses the store (the client's runtime clock).
        replay_window: Seconds an accepted event id is remembered as a replay.
        remember: Event ids, and outcomes, remembered at most (the oldest go first).
    """

    url = "memory://"
    shared = False

    def __init__(
        self,
        *,
        max_queue: int = 10_000,
        clock: Callable[[], float] | None = None,
        replay_window: float = 24 * 3600.0,
        remember: int = 100_000,
    ) -> None:
        self._max_queue = checks.integer("max_queue", max_queue, least=1)
        self._replay_window = checks.seconds("replay_window", replay_window)
        self._remember = checks.integer("remember", remember, least=1)
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._pending = 0  # entries waiting (not claimed), for max_queue
        self._queue: asyncio.Queue[str] | None = None
        self._tokens = itertools.count(1)
        self._writes: dict[tuple[str, Write], _Intent] = {}
        self._landed: collections.OrderedDict[tuple[str, Write], None] = collections.OrderedDict()
        self._outcomes: collections.OrderedDict[str, OutcomeRecord] = collections.OrderedDict()
        self._events: collections.OrderedDict[str, float] = collections.OrderedDict()

    def __repr__(self) -> str:
        return f"MemoryStore(pending={self._pending}, running={self.running})"

    def use_clock(self, clock: Callable[[], float]) -> None:
        """Take ``clock`` unless one was given (called by the resolver that uses it)."""
        if self._clock is None:
            self._clock = clock

    def _now(self) -> float:
        return (self._clock or time.monotonic)()

    @property
    def pending(self) -> int:
        """Invoices accepted and waiting for a worker."""
        return self._pending

    @property
    def running(self) -> int:
        """Invoices claimed right now."""
        return len(self._entries) - self._pending

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Nothing to connect to."""

    async def aclose(self) -> None:
        """Nothing to let go of."""

    async def ping(self) -> None:
        """Always reachable."""

    async def counts(self) -> tuple[int, int]:
        """Invoices pending and invoices claimed."""
        return self._pending, self.running

    def source(self, owner: str, lease: float) -> _MemorySource:
        """Start handing claims to the workers of one resolver."""
        if self._queue is not None:
            raise LifecycleError("this MemoryStore already feeds a running resolver")
        self._queue = asyncio.Queue()
        return _MemorySource(self, self._queue, owner)

    # -- intake ------------------------------------------------------------------------

    async def accept(self, invoice_id: str, *, event_key: str | None = None) -> Intake:
        """Hold ``invoice_id`` as pending (see ``ResolverStore.accept``)."""
        return self.accept_nowait(invoice_id, event_key=event_key)

    def accept_nowait(self, invoice_id: str, *, event_key: str | None = None) -> Intake:
        """:meth:`accept` without waiting, for code that cannot await.

        Raises:
            LifecycleError: No resolver is running on this store.
            asyncio.QueueFull: ``max_queue`` invoices are already waiting.
        """
        if self._queue is None:
            raise LifecycleError("the resolver is not running: use it with 'async with'")
        if event_key is not None and self._seen(event_key):
            return Intake.REPLAY
        entry = self._entries.get(invoice_id)
        if entry is None:
            if self._pending >= self._max_queue:
                raise asyncio.QueueFull
            self._entries[invoice_id] = _Entry(accepted=True)
            self._enqueue(invoice_id)
            intake = Intake.QUEUED
        elif entry.token is None or entry.again:
            intake = Intake.MERGED
        else:
            entry.again = True
            intake = Intake.AGAIN
        if event_key is not None:
            self._remember_event(event_key)
        return intake

    async def requeue(self, invoice_id: str) -> Intake:
        """Queue an invoice again (see ``ResolverStore.requeue``)."""
        return self.accept_nowait(invoice_id)

    def _enqueue(self, invoice_id: str) -> None:
        assert self._queue is not None
        self._pending += 1
        self._queue.put_nowait(invoice_id)

    def _seen(self, event_key: str) -> bool:
        expires = self._events.get(event_key)
        return expires is not None and expires > self._now()

    def _remember_event(self, event_key: str) -> None:
        self._events[event_key] = self._now() + self._replay_window
        self._events.move_to_end(event_key)
        while len(self._events) > self._remember:
            self._events.popitem(last=False)

    # -- claims ------------------------------------------------------------------------

    def _claim_entry(self, invoice_id: str, entry: _Entry, owner: str) -> Claim:
        if entry.token is None:
            self._pending -= 1
        entry.token = f"{owner}#{next(self._tokens)}"
        entry.attempt += 1
        return Claim(invoice_id, entry.token, owner, entry.attempt, time.monotonic())

    async def next_claim(self, owner: str, lease: float, *, wait: float = 0.0) -> Claim | None:
        """Claim the next queued invoice now, outside any worker pool (``None``: none).

        For code that drives the store itself; a resolver's workers use :meth:`source`.
        """
        while self._queue is not None and not self._queue.empty():
            invoice_id = self._queue.get_nowait()
            self._queue.task_done()
            entry = self._entries.get(invoice_id)
            if entry is not None and entry.token is None:
                return self._claim_entry(invoice_id, entry, owner)
        return None

    async def claim(self, invoice_id: str, owner: str, lease: float) -> Claim | None:
        """Claim ``invoice_id`` (see ``ResolverStore.claim``); leases never run out here."""
        entry = self._entries.get(invoice_id)
        if entry is None:
            entry = self._entries[invoice_id] = _Entry(accepted=False)
            self._pending += 1
        elif entry.token is not None:
            return None
        return self._claim_entry(invoice_id, entry, owner)

    async def renew(self, claim: Claim, lease: float) -> bool:
        """Whether ``claim`` is still held (it cannot expire within one process)."""
        return self._holds(claim)

    def _holds(self, claim: Claim) -> bool:
        entry = self._entries.get(claim.invoice_id)
        return entry is not None and entry.token == claim.token

    async def release(self, claim: Claim, outcome: OutcomeRecord | None) -> None:
        """End ``claim``, keeping ``outcome`` (see ``ResolverStore.release``)."""
        if not self._holds(claim):
            return
        entry = self._entries[claim.invoice_id]
        if outcome is not None:
            earlier = self._outcomes.get(claim.invoice_id)
            # Held again (or failed again): "since" stays when it first was.
            same = earlier is not None and earlier.outcome is outcome.outcome
            at = earlier.at if same and earlier is not None else self._now()
            self._outcomes[claim.invoice_id] = attrs.evolve(outcome, at=at)
            self._outcomes.move_to_end(claim.invoice_id)
            while len(self._outcomes) > self._remember:
                self._outcomes.popitem(last=False)
        if entry.again and self._queue is not None:
            entry.again = False
            entry.token = None
            entry.accepted = True
            self._enqueue(claim.invoice_id)
        else:
            # Given back at shutdown, or done: nothing of it stays in this process.
            del self._entries[claim.invoice_id]

    # -- the write-ahead record --------------------------------------------------------

    async def begin_write(self, claim: Claim, write: Write, hold: float) -> WriteRefused | None:
        """Record the intent to send ``write`` (see ``ResolverStore.begin_write``)."""
        if not self._holds(claim):
            return WriteRefused(claim_lost=True)
        if (claim.invoice_id, write) in self._landed:
            return WriteRefused(landed=True)
        left = self._hold_left(claim.invoice_id, write)
        if left > 0:
            return WriteRefused(hold=left)
        self._writes[claim.invoice_id, write] = _Intent(claim.token, self._now() + hold)
        return None

    async def settle_write(
        self, claim: Claim, write: Write, landed: bool | None, hold: float
    ) -> None:
        """Settle this run's intent (see ``ResolverStore.settle_write``)."""
        intent = self._writes.get((claim.invoice_id, write))
        if intent is None or intent.token != claim.token:
            return
        if landed is None:
            intent.until = self._now() + hold
        else:
            del self._writes[claim.invoice_id, write]
            if landed:
                self._remember_landed(claim.invoice_id, write)

    async def write_landed(self, invoice_id: str, write: Write) -> None:
        """The server shows ``write`` took effect: no run records it again."""
        self._writes.pop((invoice_id, write), None)
        self._remember_landed(invoice_id, write)

    def _remember_landed(self, invoice_id: str, write: Write) -> None:
        self._landed[invoice_id, write] = None
        self._landed.move_to_end((invoice_id, write))
        while len(self._landed) > self._remember:
            self._landed.popitem(last=False)

    async def write_hold(self, invoice_id: str, write: Write) -> float:
        """Seconds before ``write`` may be recorded for ``invoice_id`` again."""
        return self._hold_left(invoice_id, write)

    def _hold_left(self, invoice_id: str, write: Write) -> float:
        intent = self._writes.get((invoice_id, write))
        if intent is None:
            return 0.0
        left = intent.until - self._now()
        if left <= _CLOCK_TICK:
            del self._writes[invoice_id, write]
            return 0.0
        return left

    # -- outcomes ----------------------------------------------------------------------

    async def forget(self, invoice_id: str) -> bool:
        """Drop the outcome kept for ``invoice_id``; ``False`` if there was none."""
        return self._outcomes.pop(invoice_id, None) is not None

    async def outcomes(self, outcome: Outcome) -> list[OutcomeRecord]:
        """The invoices whose last outcome is ``outcome``, oldest first."""
        return sorted(
            (record for record in self._outcomes.values() if record.outcome is outcome),
            key=lambda record: record.at,
        )


class _MemorySource:
    """Hands queued invoices to one resolver's workers, first queued first served."""

    def __init__(self, store: MemoryStore, queue: asyncio.Queue[str], owner: str) -> None:
        self._store = store
        self._queue = queue
        self._owner = owner

    async def take(self) -> Claim:
        """Wait for the next queued invoice and claim it."""
        store = self._store
        while True:
            invoice_id = await self._queue.get()
            entry = store._entries.get(invoice_id)
            if entry is not None and entry.token is None:
                return store._claim_entry(invoice_id, entry, self._owner)
            # Claimed meanwhile by a direct resolve(), which covers it.
            self._queue.task_done()

    def done(self) -> None:
        """One taken claim has been handled (for :meth:`join`)."""
        self._queue.task_done()

    async def join(self) -> None:
        """Return once every queued invoice has been handled."""
        await self._queue.join()

    def close(self) -> list[str]:
        """Stop; return the invoices still queued or marked to run again, and forget them."""
        store = self._store
        store._queue = None
        dropped: list[str] = []
        while not self._queue.empty():
            invoice_id = self._queue.get_nowait()
            self._queue.task_done()
            entry = store._entries.get(invoice_id)
            if entry is not None and entry.token is None:
                del store._entries[invoice_id]
                store._pending -= 1
                dropped.append(invoice_id)
        for invoice_id, entry in store._entries.items():
            if entry.again:
                entry.again = False
                dropped.append(invoice_id)
        return dropped
