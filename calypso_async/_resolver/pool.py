"""A bounded pool of worker tasks fed by a queue: the engine of the resolver's worker mode.

Generic over the item type; it knows nothing of invoices. ``submit`` never blocks (a web
handler calls it). Items with the same key never occupy two workers: a key waits in the
queue at most once, and a submission for a key being handled marks it to be handled once
more by the same worker afterwards, so duplicates of one slow item cannot tie up the
pool. ``stop`` drains for a grace period, cancels what is still running and hands back
what never started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from .._aio import being_cancelled
from .._errors import ConfigurationError, LifecycleError

__all__ = ["WorkerPool"]


logger = logging.getLogger("calypso_async.worker")

T = TypeVar("T")


class WorkerPool(Generic[T]):
    """Runs ``handler(item)`` for submitted items on at most ``max_concurrency`` tasks.

    Args:
        handler: Awaited once per item; an exception it raises is logged, never lost.
        key: Identifies items for de-duplication (``None``: never merged).
        max_concurrency: Worker tasks.
        max_queue: Items waiting at most; ``submit`` raises ``asyncio.QueueFull`` beyond.
        shutdown_grace: Seconds ``stop`` waits for the queue to drain before cancelling.
        name: Names the worker tasks, for debugging.
    """

    def __init__(
        self,
        handler: Callable[[T], Awaitable[None]],
        *,
        key: Callable[[T], Hashable | None],
        max_concurrency: int,
        max_queue: int,
        shutdown_grace: float,
        name: str,
    ) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise ConfigurationError("max_concurrency must be an integer")
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be at least 1")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ConfigurationError("max_queue must be a positive integer")
        self._handler = handler
        self._key = key
        self._max_concurrency = max_concurrency
        self._max_queue = max_queue
        self._grace = shutdown_grace
        self._name = name
        self._queue: asyncio.Queue[tuple[Hashable | None, T]] | None = None
        self._queued_keys: set[Hashable] = set()
        self._running_keys: set[Hashable] = set()
        self._again: dict[Hashable, T] = {}
        self._busy = 0
        self._workers: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        """Whether the pool accepts submissions."""
        return self._queue is not None

    async def start(self) -> None:
        """Start the worker tasks in the running loop."""
        if self._queue is not None:
            raise LifecycleError(f"{self._name} is already running")
        self._queue = asyncio.Queue(self._max_queue)
        self._queued_keys.clear()
        self._running_keys.clear()
        self._again.clear()
        self._workers = [
            asyncio.create_task(self._work(self._queue), name=f"{self._name}-{index}")
            for index in range(self._max_concurrency)
        ]

    def submit(self, item: T) -> bool:
        """Queue ``item``, or mark its key to be handled again once its current run ends.

        Returns:
            ``False`` if that adds nothing: the key is already queued or already marked.
        """
        if self._queue is None:
            raise LifecycleError(f"{self._name} is not running: use it with 'async with'")
        key = self._key(item)
        if key is not None:
            if key in self._queued_keys or key in self._again:
                return False
            if key in self._running_keys:
                self._again[key] = item
                return True
        self._queue.put_nowait((key, item))
        if key is not None:
            self._queued_keys.add(key)
        return True

    async def join(self) -> None:
        """Wait until every item submitted so far has been handled (or dropped by stop)."""
        if self._queue is None:
            raise LifecycleError(f"{self._name} is not running")
        await self._queue.join()

    async def stop(self, dropped: list[T] | None = None) -> list[T]:
        """Stop accepting, drain for the grace period, then cancel and await the workers.

        Args:
            dropped: Filled with the items that never started as soon as they are
                known, so a caller whose ``stop()`` is cancelled still learns them.

        Returns:
            The items that never started: still queued, or marked to be handled again.
        """
        queue, self._queue = self._queue, None
        if dropped is None:
            dropped = []
        if queue is None:
            return dropped
        try:
            try:
                async with asyncio.timeout(self._grace):
                    await queue.join()
            except TimeoutError:
                logger.warning(
                    "%s: after the %g s shutdown grace, %d running item(s) are cancelled and "
                    "%d never started",
                    self._name,
                    self._grace,
                    self._busy,
                    queue.qsize() + len(self._again),
                    extra={"calypso_cancelled": self._busy},
                )
        finally:
            # Also when stop() itself is cancelled: no worker may outlive the pool. The
            # books are settled before the wait below, which a cancellation may cut.
            workers, self._workers = self._workers, []
            for worker in workers:
                worker.cancel()
            # A cancelled worker never picks up what was marked to run again.
            dropped.extend(self._again.values())
            self._again.clear()
            # Account for the dropped items so that a join() still waiting returns
            # instead of hanging on work that will never run.
            while not queue.empty():
                dropped.append(queue.get_nowait()[1])
                queue.task_done()
            self._queued_keys.clear()
            try:
                await asyncio.gather(*workers, return_exceptions=True)
            finally:
                if dropped and being_cancelled():
                    logger.warning(
                        "%s: stop() was cancelled; %d item(s) never started: %s",
                        self._name,
                        len(dropped),
                        ", ".join(str(self._key(item)) for item in dropped),
                    )
        return dropped

    async def _work(self, queue: asyncio.Queue[tuple[Hashable | None, T]]) -> None:
        while True:
            key, item = await queue.get()
            self._busy += 1
            if key is not None:
                self._queued_keys.discard(key)
                self._running_keys.add(key)
            try:
                await self._handle(key, item)
            finally:
                self._busy -= 1
                if key is not None:
                    self._running_keys.discard(key)
                queue.task_done()

    async def _handle(self, key: Hashable | None, item: T) -> None:
        while True:
            try:
                await self._handler(item)
            except Exception:
                logger.exception("%s: a submitted item failed", self._name)
            if key is None or key not in self._again:
                return
            item = self._again.pop(key)
