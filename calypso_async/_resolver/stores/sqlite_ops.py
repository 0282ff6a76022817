"""The SQL of ``SQLiteStore``: the schema, and each operation as one transaction.

Plain functions of a connection, run on the store's own thread. An operation that
changes anything runs in ``BEGIN IMMEDIATE``: it holds the write lock from its first
read, so every read-then-write (claim, the write-ahead record's compare-and-set) is
atomic among all the processes sharing the file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from ..policy import Outcome, Write
from ..ports import OutcomeRecord, WriteRefused

__all__ = ["Foreign", "checkpoint", "prepare", "transaction"]

T = TypeVar("T")

_CLOCK_TICK = 1e-3

_SCHEMA = (
    """CREATE TABLE entries (
        invoice_id TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('pending', 'claimed')),
        due REAL NOT NULL,
        token TEXT,
        owner TEXT,
        expires REAL,
        again INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID""",
    "CREATE INDEX entries_by_due ON entries (state, due)",
    "CREATE INDEX entries_by_expiry ON entries (state, expires)",
    "CREATE TABLE events (key TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID",
    """CREATE TABLE writes (
        invoice_id TEXT NOT NULL,
        write TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('sending', 'unknown', 'landed')),
        token TEXT NOT NULL,
        until REAL NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (invoice_id, write)
    ) WITHOUT ROWID""",
    """CREATE TABLE outcomes (
        invoice_id TEXT PRIMARY KEY,
        outcome TEXT NOT NULL,
        reason TEXT NOT NULL,
        at REAL NOT NULL,
        writes TEXT NOT NULL,
        attempts INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX outcomes_by_kind ON outcomes (outcome, at)",
)
_TABLES = frozenset({"entries", "events", "writes", "outcomes"})


class Foreign(Exception):
    """The file is not a store of this SDK (or not one this version can read)."""


def prepare(conn: sqlite3.Connection, application_id: int, version: int, synchronous: str) -> None:
    """Check the file is a store (make an empty one a store), then set WAL mode.

    Raises:
        Foreign: Another application's file, a newer schema, or a damaged one.
        sqlite3.DatabaseError: Not a SQLite file at all.
    """
    found = conn.execute("PRAGMA application_id").fetchone()[0]
    if found not in (0, application_id):
        raise Foreign(f"its application_id is {found:#x}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if found == 0:
            if tables:
                raise Foreign("it holds another application's tables")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {application_id}")
            conn.execute(f"PRAGMA user_version = {version}")
        else:
            found_version = conn.execute("PRAGMA user_version").fetchone()[0]
            if found_version != version:
                raise Foreign(f"its schema is version {found_version}, this SDK reads {version}")
            if not tables >= _TABLES:
                raise Foreign(f"tables are missing: {', '.join(sorted(_TABLES - tables))}")
            check = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
            if check != "ok":
                raise Foreign(f"it is damaged ({check})")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"WAL mode refused (journal_mode is {mode})")
    conn.execute(f"PRAGMA synchronous = {synchronous}")


def checkpoint(conn: sqlite3.Connection) -> None:
    """Fold the write-ahead log back into the file, without waiting for anyone."""
    # Read to the end: a statement left with a row to read keeps the connection busy,
    # and its next COMMIT fails ("SQL statements in progress").
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def _reads(fn: Callable[..., T]) -> Callable[..., T]:
    fn.reads_only = True  # type: ignore[attr-defined]
    return fn


def transaction(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(conn, *args)`` in one transaction (``IMMEDIATE`` unless it only reads)."""
    conn.execute("BEGIN" if getattr(fn, "reads_only", False) else "BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (busy, on a connection that does not wait) leaves the
        # transaction open, holding the write lock against every other process.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


@_reads
def ping(conn: sqlite3.Connection) -> None:
    """Read one row: the file answers."""
    conn.execute("SELECT 1").fetchone()


def accept(
    conn: sqlite3.Connection,
    invoice_id: str,
    event_key: str | None,
    now: float,
    replay_until: float,
    sweep_older_than: float | None,
) -> str:
    """Hold ``invoice_id`` as pending; returns an ``Intake`` value."""
    if event_key is not None:
        seen = conn.execute("SELECT expires FROM events WHERE key = ?", (event_key,)).fetchone()
        if seen is not None and seen[0] > now:
            return "replay"
        conn.execute("INSERT OR REPLACE INTO events VALUES (?, ?)", (event_key, replay_until))
    row = conn.execute(
        "SELECT state, again FROM entries WHERE invoice_id = ?", (invoice_id,)
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO entries (invoice_id, state, due) VALUES (?, 'pending', ?)",
            (invoice_id, now),
        )
        intake = "queued"
    elif row[0] == "pending" or row[1]:
        intake = "merged"
    else:
        conn.execute("UPDATE entries SET again = 1 WHERE invoice_id = ?", (invoice_id,))
        intake = "again"
    if sweep_older_than is not None:
        _sweep(conn, now, now - sweep_older_than)
    return intake


def _sweep(conn: sqlite3.Connection, now: float, before: float) -> None:
    """Forget expired event ids, and finished outcomes and landed writes grown old."""
    conn.execute("DELETE FROM events WHERE expires <= ?", (now,))
    conn.execute(
        "DELETE FROM outcomes WHERE outcome IN ('RESOLVED', 'SKIPPED') AND at < ?", (before,)
    )
    conn.execute("DELETE FROM writes WHERE state = 'landed' AND at < ?", (before,))


def claim(
    conn: sqlite3.Connection,
    invoice_id: str | None,
    token: str,
    owner: str,
    now: float,
    expires: float,
) -> tuple[str, int] | None:
    """Claim ``invoice_id``, or the next due entry (``None``); returns (id, attempt)."""
    if invoice_id is None:
        row = (
            conn.execute(
                "SELECT invoice_id, attempt FROM entries WHERE state = 'pending' AND due <= ? "
                "ORDER BY due LIMIT 1",
                (now,),
            ).fetchone()
            or conn.execute(
                "SELECT invoice_id, attempt FROM entries WHERE state = 'claimed' AND expires <= ? "
                "ORDER BY expires LIMIT 1",
                (now,),
            ).fetchone()
        )
        if row is None:
            return None
    else:
        found = conn.execute(
            "SELECT invoice_id, attempt, state, expires FROM entries WHERE invoice_id = ?",
            (invoice_id,),
        ).fetchone()
        if found is None:
            conn.execute(
                "INSERT INTO entries (invoice_id, state, due) VALUES (?, 'pending', ?)",
                (invoice_id, now),
            )
            row = (invoice_id, 0)
        elif found[2] == "claimed" and found[3] > now:
            return None
        else:
            row = found[:2]
    conn.execute(
        "UPDATE entries SET state = 'claimed', token = ?, owner = ?, expires = ?, "
        "attempt = attempt + 1 WHERE invoice_id = ?",
        (token, owner, expires, row[0]),
    )
    return row[0], row[1] + 1


def renew(
    conn: sqlite3.Connection, invoice_id: str, token: str, now: float, expires: float
) -> bool:
    """Extend a live claim held with ``token``; ``False`` when it is gone or ran out."""
    updated = conn.execute(
        "UPDATE entries SET expires = ? WHERE invoice_id = ? AND token = ? AND expires > ?",
        (expires, invoice_id, token, now),
    )
    return updated.rowcount == 1


def release(
    conn: sqlite3.Connection,
    invoice_id: str,
    token: str,
    now: float,
    outcome: OutcomeRecord | None,
) -> None:
    """End a claim: keep ``outcome``; pending again if given back or accepted again."""
    row = conn.execute(
        "SELECT token, again FROM entries WHERE invoice_id = ?", (invoice_id,)
    ).fetchone()
    if row is None or row[0] != token:
        return  # no longer this run's claim: another worker owns the invoice now
    if outcome is not None:
        # Held again (or failed again): "since" stays when it first was.
        conn.execute(
            "INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (invoice_id) DO "
            "UPDATE SET at = CASE WHEN outcome = excluded.outcome THEN at ELSE excluded.at "
            "END, outcome = excluded.outcome, reason = excluded.reason, "
            "writes = excluded.writes, attempts = excluded.attempts",
            (
                invoice_id,
                str(outcome.outcome),
                outcome.reason,
                now,
                ",".join(outcome.writes),
                outcome.attempts,
            ),
        )
    if outcome is None or row[1]:
        conn.execute(
            "UPDATE entries SET state = 'pending', due = ?, token = NULL, owner = NULL, "
            "expires = NULL, again = 0 WHERE invoice_id = ?",
            (now, invoice_id),
        )
    else:
        conn.execute("DELETE FROM entries WHERE invoice_id = ?", (invoice_id,))


@_reads
def counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """Entries pending and entries claimed."""
    found = dict(conn.execute("SELECT state, COUNT(*) FROM entries GROUP BY state").fetchall())
    return found.get("pending", 0), found.get("claimed", 0)


def begin_write(
    conn: sqlite3.Connection, invoice_id: str, token: str, write: str, now: float, hold: float
) -> WriteRefused | None:
    """The write-ahead record's compare-and-set (see ``ResolverStore.begin_write``)."""
    held = conn.execute(
        "SELECT 1 FROM entries WHERE invoice_id = ? AND token = ? AND expires > ?",
        (invoice_id, token, now),
    ).fetchone()
    if held is None:
        return WriteRefused(claim_lost=True)
    row = conn.execute(
        "SELECT state, until FROM writes WHERE invoice_id = ? AND write = ?", (invoice_id, write)
    ).fetchone()
    if row is not None:
        if row[0] == "landed":
            return WriteRefused(landed=True)
        if row[1] - now > _CLOCK_TICK:
            return WriteRefused(hold=row[1] - now)
    conn.execute(
        "INSERT OR REPLACE INTO writes VALUES (?, ?, 'sending', ?, ?, ?)",
        (invoice_id, write, token, now + hold, now),
    )
    return None


def settle_write(
    conn: sqlite3.Connection,
    invoice_id: str,
    token: str,
    write: str,
    landed: bool | None,
    now: float,
    hold: float,
) -> None:
    """Settle the intent recorded with ``token`` (anyone else's is left alone)."""
    key = (invoice_id, write, token)
    where = "WHERE invoice_id = ? AND write = ? AND token = ?"
    if landed is True:
        conn.execute(f"UPDATE writes SET state = 'landed', at = ? {where}", (now, *key))  # noqa: S608
    elif landed is False:
        conn.execute(f"DELETE FROM writes {where}", key)  # noqa: S608
    else:
        conn.execute(
            f"UPDATE writes SET state = 'unknown', until = ?, at = ? {where}",  # noqa: S608
            (now + hold, now, *key),
        )


def write_landed(conn: sqlite3.Connection, invoice_id: str, write: str, now: float) -> None:
    """Whoever sent it, ``write`` took effect: no run records it for the invoice again."""
    conn.execute(
        "INSERT INTO writes VALUES (?, ?, 'landed', '', 0, ?) ON CONFLICT (invoice_id, write) "
        "DO UPDATE SET state = 'landed', at = excluded.at",
        (invoice_id, write, now),
    )


@_reads
def write_hold(conn: sqlite3.Connection, invoice_id: str, write: str, now: float) -> float:
    """Seconds before ``write`` may be recorded again (0 when landed or free)."""
    row = conn.execute(
        "SELECT state, until FROM writes WHERE invoice_id = ? AND write = ?", (invoice_id, write)
    ).fetchone()
    if row is None or row[0] == "landed" or row[1] - now <= _CLOCK_TICK:
        return 0.0
    return float(row[1] - now)


def forget(conn: sqlite3.Connection, invoice_id: str) -> bool:
    """Drop the outcome kept for ``invoice_id``."""
    return conn.execute("DELETE FROM outcomes WHERE invoice_id = ?", (invoice_id,)).rowcount > 0


@_reads
def outcomes(conn: sqlite3.Connection, outcome: str) -> list[OutcomeRecord]:
    """The invoices whose last outcome is ``outcome``, oldest first."""
    rows = conn.execute(
        "SELECT invoice_id, outcome, reason, at, writes, attempts FROM outcomes "
        "WHERE outcome = ? ORDER BY at",
        (outcome,),
    ).fetchall()
    return [
        OutcomeRecord(
            row[0],
            Outcome(row[1]),
            row[2],
            row[3],
            tuple(Write(write) for write in row[4].split(",") if write),
            row[5],
        )
        for row in rows
    ]
