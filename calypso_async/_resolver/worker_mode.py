"""Worker mode: a pool of workers fed by the store, and a shutdown that loses nothing.

Every run a shutdown cancels and every accepted invoice it drops is reported ``FAILED``
with a :class:`ResolutionCancelledError`, and its id handed back to the caller of
``stop()``; a durable store also has them back in its queue.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .._aio import being_cancelled
from .._errors import LifecycleError, ResolutionCancelledError
from .policy import Outcome, Resolution
from .pool import WorkerPool
from .ports import Claim, ClaimSource

__all__ = ["WorkerMode"]

logger = logging.getLogger("calypso_async.resolver")


class _Drain:
    """A running ``stop()``: its task and how many callers wait for it."""

    __slots__ = ("task", "unfinished", "waiters")

    def __init__(self, task: asyncio.Task[tuple[str, ...]], unfinished: list[str]) -> None:
        self.task = task
        self.unfinished = unfinished
        self.waiters = 0


class WorkerMode:
    """The background workers of one resolver, and their shutdown.

    Args:
        handle: Runs one claimed invoice to its end.
        report: Logs a Resolution and hands it to ``on_outcome``.
        max_concurrency: Invoices resolved at once.
        shutdown_grace: Seconds ``stop`` waits before cancelling what still runs.
    """

    def __init__(
        self,
        handle: Callable[[Claim], Awaitable[Resolution]],
        report: Callable[[Resolution], Coroutine[Any, Any, Resolution]],
        *,
        max_concurrency: int,
        shutdown_grace: float,
    ) -> None:
        self._handle = handle
        self._report = report
        self._stopping = False
        self._drain: _Drain | None = None
        # The tasks that run the policy and on_outcome (executions, workers, the drain):
        # a stop() from one of them must not wait for the drain, which waits for them.
        self.own_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        # The pool's workers: only a run whose waiter is one of them is cancelled by a
        # shutdown (a direct resolve() its caller cancels is not).
        self._worker_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._side_reports: set[asyncio.Task[Resolution]] = set()
        self._unfinished: list[str] = []
        self._pool: WorkerPool = WorkerPool(
            self._work,
            max_concurrency=max_concurrency,
            shutdown_grace=shutdown_grace,
            name="intervention-resolver",
        )

    @property
    def running(self) -> bool:
        """Whether the workers run (between start and stop)."""
        return self._pool.running

    def start(self, source: Callable[[], ClaimSource]) -> None:
        """Start the workers on the claims of the source ``source()`` returns."""
        if self._drain is not None and not self._drain.task.done():
            raise LifecycleError(
                "this resolver is still stopping: await its stop() before starting it again"
            )
        self._pool.start(source())

    def report_later(self, resolution: Resolution) -> None:
        """Report off the caller's stack (``submit`` cannot await); ``join`` waits for it."""
        task = asyncio.create_task(self._report(resolution))
        self._side_reports.add(task)
        task.add_done_callback(self._side_reports.discard)

    async def join(self) -> None:
        """Wait until everything accepted so far has been handled."""
        await self._pool.join()
        while self._side_reports:
            await asyncio.gather(*self._side_reports)

    def is_shutdown(self) -> bool:
        """Whether the current task is a worker a running stop() is cancelling."""
        return self._stopping and asyncio.current_task() in self._worker_tasks

    def hand_back(self, invoice_id: str) -> None:
        """Count ``invoice_id`` among the ids the running stop() returns."""
        if invoice_id not in self._unfinished:
            self._unfinished.append(invoice_id)

    async def stop(self) -> tuple[str, ...]:
        """Drain, cancel, report; see ``InterventionResolver.stop``."""
        drain = self._drain
        if drain is None or drain.task.done():
            self._stopping = True
            self._unfinished = []
            drain = self._drain = _Drain(
                asyncio.create_task(self._drain_pool(), name="stop"), self._unfinished
            )
            drain.task.add_done_callback(lambda _: self._forget_drain(drain))
            self.own_tasks.add(drain.task)
        if asyncio.current_task() in self.own_tasks:
            return tuple(drain.unfinished)
        drain.waiters += 1
        try:
            return await asyncio.shield(drain.task)
        except asyncio.CancelledError:
            if drain.task.cancelled() and not being_cancelled():
                # The drain was cancelled by an earlier caller who gave up, not this
                # one: what it gathered is this caller's answer too.
                return tuple(drain.unfinished)
            raise
        finally:
            drain.waiters -= 1
            if drain.waiters == 0 and not drain.task.done():
                # The last caller gave up: no more grace, stop every worker now.
                drain.task.cancel()
                await asyncio.wait([drain.task])

    def _forget_drain(self, drain: _Drain) -> None:
        if self._drain is drain:
            self._drain = None
        if not drain.task.cancelled():
            drain.task.exception()  # retrieved: a failed drain is raised to its callers

    async def _drain_pool(self) -> tuple[str, ...]:
        dropped: list[str] = []
        try:
            await self._pool.stop(dropped)
        except asyncio.CancelledError:
            # The pool has logged them; the callers still waiting get their ids.
            for invoice_id in dropped:
                self.hand_back(invoice_id)
            raise
        finally:
            self._stopping = False  # runs cancelled by this shutdown are marked already
            for task in self._side_reports:
                task.cancel()
        never_started = list(dict.fromkeys(dropped))
        # Known to the caller before any report: a cancellation below loses none of them.
        for invoice_id in never_started:
            self.hand_back(invoice_id)
        reason = "not started: the resolver shut down first; submit it again"
        reported = 0
        try:
            for invoice_id in never_started:
                await self._report(
                    Resolution(
                        invoice_id, Outcome.FAILED, reason, error=ResolutionCancelledError(reason)
                    )
                )
                reported += 1
        except asyncio.CancelledError:
            if unreported := never_started[reported:]:
                logger.warning(
                    "stop() was cancelled while reporting; never started, not reported: %s",
                    ", ".join(unreported),
                    extra={"calypso_unreported": unreported},
                )
            raise
        return tuple(self._unfinished)

    async def _work(self, claim: Claim) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.own_tasks.add(task)
            self._worker_tasks.add(task)
        await self._handle(claim)
