"""The SQL of invoice tracking and the request budget in ``SQLiteStore``.

Plain functions of a connection, each run as one transaction by the store (the ones
that write in ``BEGIN IMMEDIATE``, so taking due invoices and granting a request are
atomic among every process sharing the file). The tables are added to a store file
that lacks them, whatever made it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..tracking import TrackedInvoice, ceiling_now
from .sqlite_ops import _reads

T = TypeVar("T")

__all__ = [
    "SCHEMA",
    "SQLiteTracks",
    "ceiling",
    "grant",
    "hurry",
    "last_outcome",
    "lower_ceiling",
    "next_due",
    "reschedule",
    "take_due",
    "track",
    "tracked",
    "tracked_count",
    "untrack",
]

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tracked (
        invoice_id TEXT PRIMARY KEY,
        due REAL NOT NULL,
        state TEXT,
        since REAL NOT NULL,
        polls INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS tracked_by_due ON tracked (due)",
    "CREATE TABLE IF NOT EXISTS grants (at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS grants_by_time ON grants (at)",
    """CREATE TABLE IF NOT EXISTS ceiling (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        rate REAL NOT NULL,
        at REAL NOT NULL
    )""",
)


def track(conn: sqlite3.Connection, invoice_ids: Sequence[str], due: float, now: float) -> int:
    """Track ``invoice_ids``; return how many were new."""
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO tracked (invoice_id, due, since) VALUES (?, ?, ?)",
        [(invoice_id, due, now) for invoice_id in invoice_ids],
    )
    return conn.total_changes - before


def untrack(conn: sqlite3.Connection, invoice_id: str) -> bool:
    """Stop tracking ``invoice_id``."""
    return conn.execute("DELETE FROM tracked WHERE invoice_id = ?", (invoice_id,)).rowcount > 0


def take_due(
    conn: sqlite3.Connection, limit: int, now: float, lease: float
) -> list[TrackedInvoice]:
    """Take up to ``limit`` due invoices, pushing each one's due time ``lease`` ahead."""
    rows = conn.execute(
        "SELECT invoice_id, due, state, since, polls FROM tracked WHERE due <= ? "
        "ORDER BY due LIMIT ?",
        (now, limit),
    ).fetchall()
    conn.executemany(
        "UPDATE tracked SET due = ? WHERE invoice_id = ?", [(now + lease, r[0]) for r in rows]
    )
    return [TrackedInvoice(*row) for row in rows]


def reschedule(conn: sqlite3.Connection, invoice_id: str, due: float, state: str | None) -> bool:
    """After a poll: the next due time and the state read."""
    return (
        conn.execute(
            "UPDATE tracked SET due = ?, state = ?, polls = polls + 1 WHERE invoice_id = ?",
            (due, state, invoice_id),
        ).rowcount
        > 0
    )


def hurry(conn: sqlite3.Connection, invoice_id: str, due: float) -> bool:
    """Bring a poll forward to ``due`` (never back); whether the invoice is tracked."""
    conn.execute(
        "UPDATE tracked SET due = ? WHERE invoice_id = ? AND due > ?", (due, invoice_id, due)
    )
    return (
        conn.execute("SELECT 1 FROM tracked WHERE invoice_id = ?", (invoice_id,)).fetchone()
        is not None
    )


@_reads
def next_due(conn: sqlite3.Connection) -> float | None:
    """When the earliest tracked invoice is due."""
    row = conn.execute("SELECT MIN(due) FROM tracked").fetchone()
    return None if row is None or row[0] is None else float(row[0])


@_reads
def tracked(conn: sqlite3.Connection, limit: int | None) -> list[TrackedInvoice]:
    """The tracked invoices, earliest due first."""
    rows = conn.execute(
        "SELECT invoice_id, due, state, since, polls FROM tracked ORDER BY due, invoice_id LIMIT ?",
        (-1 if limit is None else limit,),
    ).fetchall()
    return [TrackedInvoice(*row) for row in rows]


@_reads
def tracked_count(conn: sqlite3.Connection) -> int:
    """How many invoices are tracked."""
    return int(conn.execute("SELECT COUNT(*) FROM tracked").fetchone()[0])


def _lowered(conn: sqlite3.Connection) -> tuple[float, float] | None:
    row = conn.execute("SELECT rate, at FROM ceiling WHERE id = 1").fetchone()
    return None if row is None else (float(row[0]), float(row[1]))


@_reads
def ceiling(conn: sqlite3.Connection, max_rps: int, clock: Callable[[], float]) -> float:
    """The shared rate ceiling."""
    return ceiling_now(_lowered(conn), max_rps, clock())


def lower_ceiling(
    conn: sqlite3.Connection, max_rps: int, window: float, clock: Callable[[], float]
) -> float:
    """A 429: halve the shared ceiling, at most once per ``window``."""
    now = clock()
    lowered = _lowered(conn)
    current = ceiling_now(lowered, max_rps, now)
    if lowered is not None and now - lowered[1] < window:
        return current
    rate = max(1.0, current / 2)
    conn.execute("INSERT OR REPLACE INTO ceiling (id, rate, at) VALUES (1, ?, ?)", (rate, now))
    return rate


@_reads
def last_outcome(conn: sqlite3.Connection, invoice_id: str) -> str | None:
    """The outcome kept for ``invoice_id``."""
    row = conn.execute("SELECT outcome FROM outcomes WHERE invoice_id = ?", (invoice_id,))
    found = row.fetchone()
    return None if found is None else str(found[0])


def grant(
    conn: sqlite3.Connection,
    limit: int,
    window: float,
    spacing: float,
    clock: Callable[[], float],
) -> float:
    """One request from the budget: ``0.0`` and logged, or the seconds to wait.

    The time is read once the write lock is held: a grant waited for behind another
    process's transaction is stamped when it is made, not when it was asked for. Grants
    stamped ahead of the clock (it was set back) are dropped rather than waited for.
    """
    now = clock()
    conn.execute("DELETE FROM grants WHERE at <= ? OR at > ?", (now - window, now + spacing))
    wait = 0.0
    if spacing > 0:
        newest = conn.execute("SELECT MAX(at) FROM grants").fetchone()[0]
        if newest is not None:
            wait = float(newest) + spacing - now
    row = conn.execute(
        "SELECT at FROM grants ORDER BY at DESC LIMIT 1 OFFSET ?", (limit - 1,)
    ).fetchone()
    if row is not None:
        wait = max(wait, float(row[0]) + window - now)
    if wait <= 0:
        conn.execute("INSERT INTO grants (at) VALUES (?)", (now,))
        return 0.0
    return max(wait, 1e-3)


class SQLiteTracks:
    """The tracking half of ``SQLiteStore`` (see ``TrackingStore``), in its file."""

    _clock: Callable[[], float]

    if TYPE_CHECKING:  # SQLiteStore's

        async def _run(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def track(self, invoice_ids: Sequence[str], delay: float) -> int:
        """Track ``invoice_ids`` (see ``TrackingStore.track``)."""
        now = self._clock()
        return await self._run(track, list(invoice_ids), now + delay, now)

    async def untrack(self, invoice_id: str) -> bool:
        """Stop tracking ``invoice_id``."""
        return await self._run(untrack, invoice_id)

    async def take_due(self, limit: int, lease: float) -> list[TrackedInvoice]:
        """Take the invoices due now (see ``TrackingStore.take_due``)."""
        return await self._run(take_due, limit, self._clock(), lease)

    async def reschedule(self, invoice_id: str, delay: float, state: str | None) -> bool:
        """After a poll (see ``TrackingStore.reschedule``)."""
        return await self._run(reschedule, invoice_id, self._clock() + delay, state)

    async def hurry(self, invoice_id: str, delay: float) -> bool:
        """Bring a poll forward (see ``TrackingStore.hurry``)."""
        return await self._run(hurry, invoice_id, self._clock() + delay)

    async def next_due(self) -> float | None:
        """Seconds until the earliest tracked invoice is due."""
        due = await self._run(next_due)
        return None if due is None else due - self._clock()

    async def tracked(self, limit: int | None = None) -> list[TrackedInvoice]:
        """The tracked invoices, earliest due first."""
        return await self._run(tracked, limit)

    async def tracked_count(self) -> int:
        """How many invoices are tracked."""
        return await self._run(tracked_count)

    async def last_outcome(self, invoice_id: str) -> str | None:
        """The outcome kept for ``invoice_id``."""
        return await self._run(last_outcome, invoice_id)

    async def ceiling(self, max_rps: int) -> float:
        """The shared rate ceiling (see ``TrackingStore.ceiling``)."""
        return await self._run(ceiling, max_rps, self._clock)

    async def lower_ceiling(self, max_rps: int, window: float) -> float:
        """A 429 (see ``TrackingStore.lower_ceiling``)."""
        return await self._run(lower_ceiling, max_rps, window, self._clock)

    async def grant(self, limit: int, window: float, spacing: float = 0.0) -> float:
        """One request from the budget (see ``TrackingStore.grant``)."""
        return await self._run(grant, limit, window, spacing, self._clock)
