"""``SQLiteStore``: the resolver's shared state in one SQLite file, for one machine.

Every process on the machine that opens the same file shares intake, claims, the
write-ahead record and outcomes. The file is in WAL mode (readers never block the one
writer), every operation is one ``BEGIN IMMEDIATE`` transaction (the compare-and-sets
take the write lock before they read), and a busy timeout makes a process wait for
another's transaction instead of failing.

The standard library's ``sqlite3`` does the work: an operation is a few statements on
a small file, about 30 microseconds, so it first runs right on the event loop through a
connection that never waits for a lock (a busy timeout of zero, no checkpoints of its
own). Only when another process holds the write lock does the operation go to the
store's one thread, whose connection waits for the lock; checkpoints run there too, so
the event loop never waits on the disk or on another process. A thread for every
operation (``aiosqlite``'s way) costs three times the operation's own CPU in handing
over, and adds a dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..._core import checks
from ..._errors import ConfigurationError, StoreError
from ..policy import Outcome, Write
from ..ports import Claim, Intake, OutcomeRecord, WriteRefused
from . import sqlite_ops as ops
from . import sqlite_tracks as tracks
from .polling import PollingSource

__all__ = ["SQLiteStore"]

logger = logging.getLogger("calypso_async.store")

T = TypeVar("T")

APPLICATION_ID = 0x43414C59
"""``PRAGMA application_id`` of a calypso_async store ("CALY"): a file without it is
someone else's, and is never written to."""
SCHEMA_VERSION = 1

_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_CHECKPOINT_EVERY = 500
"""Operations on the event loop's connection between two checkpoints on the thread."""


class SQLiteStore(tracks.SQLiteTracks):
    """The resolver's shared state in a SQLite file, for the processes of one machine.

    ::

        async with SQLiteStore("/var/lib/shop/calypso-resolver.db") as store:
            async with InterventionResolver(client, store=store) as resolver:
                ...

    A file that exists must be a store made by this class: any other SQLite file, or
    a file that is not SQLite, is refused with :class:`StoreError` and left untouched.
    Durable against a crash of any process (SIGKILL included); against the machine
    losing power, the last transactions may be lost unless ``synchronous="FULL"``.

    Args:
        path: The database file (created with its schema if it does not exist).
        clock: Unix seconds; every process sharing the file must agree on it.
        busy_timeout: Seconds to wait for another process's transaction.
        replay_window: Seconds an accepted event id is remembered as a replay.
        keep: Seconds a finished outcome and a settled write record are kept.
        synchronous: SQLite's ``synchronous`` setting: ``"NORMAL"`` (the WAL default)
            or ``"FULL"`` (an fsync per transaction).
        create: Make the file when it does not exist (``False`` refuses instead: an
            operator's command must not answer from an empty store made by a typo).
    """

    shared = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
        replay_window: float = 3 * 24 * 3600.0,
        keep: float = 30 * 24 * 3600.0,
        synchronous: str = "NORMAL",
        create: bool = True,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ConfigurationError("a SQLiteStore needs the path of its database file")
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigurationError('synchronous must be "NORMAL" or "FULL"')
        self._create = bool(create)
        self.path = Path(path)
        self.url = f"sqlite:///{path}"
        """``sqlite:///`` and the path as given."""
        self._clock = clock
        self._busy_timeout = checks.seconds("busy_timeout", busy_timeout)
        self._replay_window = checks.seconds("replay_window", replay_window)
        self._keep = checks.seconds("keep", keep)
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None  # the thread's: waits for locks
        self._fast: sqlite3.Connection | None = None  # the event loop's: never waits
        self._executor: ThreadPoolExecutor | None = None
        self._commits = 0
        self._checkpoint: asyncio.Future[Any] | None = None
        self._opening: asyncio.Lock | None = None
        self._work: asyncio.Event | None = None
        self._accepts = 0

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open the file, checking it is a store (or making it one); idempotent."""
        if self._conn is not None:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._executor is None:  # not opened by another task meanwhile
                executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calypso-sqlite")
                try:
                    self._conn = await asyncio.get_running_loop().run_in_executor(
                        executor, self._connect
                    )
                except BaseException:
                    executor.shutdown(wait=False)
                    raise
                self._executor = executor
                if self._synchronous == "NORMAL":  # FULL fsyncs each commit: thread only
                    self._fast = self._connect_fast()

    def _connect(self) -> sqlite3.Connection:
        where = self.path.resolve()
        if not self._create and not where.is_file():
            raise StoreError(
                f"{self.url}: there is no store at {where} (is this the --store your workers "
                "use? A relative path is taken from the current folder)"
            )
        if not where.parent.is_dir():
            raise StoreError(f"{self.url}: the folder {where.parent} does not exist")
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.url}: cannot open the file ({exc})") from None
        try:
            ops.prepare(conn, APPLICATION_ID, SCHEMA_VERSION, self._synchronous)
            for statement in tracks.SCHEMA:  # added to a store made before tracking
                conn.execute(statement)
        except ops.Foreign as exc:
            conn.close()
            raise StoreError(
                f"{self.url} is not a calypso_async resolver store ({exc}); refusing to use "
                "or change it: give the worker a file of its own"
            ) from None
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(
                f"{self.url} cannot be used as a store ({exc}); refusing to change it"
            ) from None
        return conn

    def _connect_fast(self) -> sqlite3.Connection:
        try:
            fast = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            fast.execute("PRAGMA busy_timeout = 0")
            fast.execute(f"PRAGMA synchronous = {self._synchronous}")
            fast.execute("PRAGMA wal_autocheckpoint = 0")  # the thread checkpoints
        except sqlite3.Error as exc:
            raise StoreError(f"{self.url}: cannot open the file ({exc})") from None
        return fast

    async def aclose(self) -> None:
        """Close the file; idempotent."""
        fast, self._fast = self._fast, None
        if fast is not None:
            fast.close()
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
        conn, self._conn = self._conn, None
        executor, self._executor = self._executor, None
        if conn is not None and executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        if executor is not None:
            executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            await self.open()
        fast = self._fast
        if fast is not None:
            try:
                result = ops.transaction(fast, fn, *args)
            except sqlite3.OperationalError as exc:
                # The primary code: extended ones (BUSY_RECOVERY, ...) are busy too.
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _BUSY:
                    raise StoreError(f"{self.url}: {exc}") from None
                # Another process holds the write lock: wait for it on the thread.
            except sqlite3.Error as exc:
                raise StoreError(f"{self.url}: {exc}") from None
            else:
                self._commits += 1
                if self._commits % _CHECKPOINT_EVERY == 0:
                    self._start_checkpoint()
                return result
        return await self._run_waiting(fn, *args)

    async def _run_waiting(self, fn: Callable[..., T], *args: Any) -> T:
        conn, executor = self._conn, self._executor
        if conn is None or executor is None:
            raise StoreError(f"{self.url}: the store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, functools.partial(ops.transaction, conn, fn, *args)
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.url}: {exc}") from None

    def _start_checkpoint(self) -> None:
        """Fold the write-ahead log back into the file, on the thread (never waiting)."""
        conn, executor = self._conn, self._executor
        if conn is None or executor is None:
            return
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._checkpoint = asyncio.get_running_loop().run_in_executor(
            executor, ops.checkpoint, conn
        )
        self._checkpoint.add_done_callback(self._checkpointed)

    def _checkpointed(self, done: asyncio.Future[Any]) -> None:
        if not done.cancelled() and (error := done.exception()) is not None:
            logger.warning(
                "%s: a checkpoint failed (%s); the next one tries again", self.url, error
            )

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the file answers."""
        await self._run(ops.ping)

    def source(self, owner: str, lease: float) -> PollingSource:
        """Claims for the workers of one resolver, polled from the file."""
        return PollingSource(self, owner, lease, wait=0.2)

    # -- intake and claims -------------------------------------------------------------

    async def accept(self, invoice_id: str, *, event_key: str | None = None) -> Intake:
        """Hold ``invoice_id`` as pending (see ``ResolverStore.accept``)."""
        now = self._clock()
        self._accepts += 1
        sweep = self._keep if self._accepts % 500 == 0 else None
        intake = Intake(
            await self._run(
                ops.accept, invoice_id, event_key, now, now + self._replay_window, sweep
            )
        )
        if intake is Intake.QUEUED and self._work is not None:
            self._work.set()
        return intake

    async def requeue(self, invoice_id: str) -> Intake:
        """Queue an invoice again (see ``ResolverStore.requeue``)."""
        return await self.accept(invoice_id)

    async def next_claim(self, owner: str, lease: float, *, wait: float) -> Claim | None:
        """Claim the next due invoice, or a dead worker's; wait ``wait`` s for one.

        An invoice accepted by this process cuts the wait short; other processes' are
        found at the next poll.
        """
        if self._work is None:
            self._work = asyncio.Event()
        self._work.clear()
        claim = await self._claim(None, owner, lease)
        if claim is None and wait > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._work.wait()
        return claim

    async def claim(self, invoice_id: str, owner: str, lease: float) -> Claim | None:
        """Claim ``invoice_id`` (see ``ResolverStore.claim``)."""
        return await self._claim(invoice_id, owner, lease)

    async def _claim(self, invoice_id: str | None, owner: str, lease: float) -> Claim | None:
        token = uuid.uuid4().hex
        started = time.monotonic()
        now = self._clock()
        taken = await self._run(ops.claim, invoice_id, token, owner, now, now + lease)
        if taken is None:
            return None
        claimed_id, attempt = taken
        return Claim(claimed_id, token, owner, attempt, started)

    async def renew(self, claim: Claim, lease: float) -> bool:
        """Extend ``claim`` (see ``ResolverStore.renew``)."""
        now = self._clock()
        return await self._run(ops.renew, claim.invoice_id, claim.token, now, now + lease)

    async def release(self, claim: Claim, outcome: OutcomeRecord | None) -> None:
        """End ``claim`` (see ``ResolverStore.release``)."""
        await self._run(ops.release, claim.invoice_id, claim.token, self._clock(), outcome)
        if self._work is not None:
            self._work.set()  # given back, or accepted again meanwhile: it may be due

    async def counts(self) -> tuple[int, int]:
        """Invoices pending and invoices claimed."""
        return await self._run(ops.counts)

    # -- the write-ahead record --------------------------------------------------------

    async def begin_write(self, claim: Claim, write: Write, hold: float) -> WriteRefused | None:
        """Record the intent to send ``write`` (see ``ResolverStore.begin_write``)."""
        return await self._run(
            ops.begin_write, claim.invoice_id, claim.token, str(write), self._clock(), hold
        )

    async def settle_write(
        self, claim: Claim, write: Write, landed: bool | None, hold: float
    ) -> None:
        """Settle this run's intent (see ``ResolverStore.settle_write``)."""
        await self._run(
            ops.settle_write, claim.invoice_id, claim.token, str(write), landed, self._clock(), hold
        )

    async def write_landed(self, invoice_id: str, write: Write) -> None:
        """The server shows ``write`` took effect: no run records it again."""
        await self._run(ops.write_landed, invoice_id, str(write), self._clock())

    async def write_hold(self, invoice_id: str, write: Write) -> float:
        """Seconds before ``write`` may be recorded for ``invoice_id`` again."""
        return await self._run(ops.write_hold, invoice_id, str(write), self._clock())

    # -- outcomes ----------------------------------------------------------------------

    async def forget(self, invoice_id: str) -> bool:
        """Drop the outcome kept for ``invoice_id``; ``False`` if there was none."""
        return await self._run(ops.forget, invoice_id)

    async def outcomes(self, outcome: Outcome) -> list[OutcomeRecord]:
        """The invoices whose last outcome is ``outcome``, oldest first."""
        return await self._run(ops.outcomes, str(outcome))
