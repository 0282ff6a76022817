"""A bounded pool of worker tasks fed by a queue: the engine of the resolver's worker mode.

Generic over the item type; it knows nothing of invoices. ``submit`` never blocks (a web
handler calls it), items with the same key wait in the queue at most once, and ``stop``
drains for a grace period before cancelling what is still running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from ._errors import ConfigurationError, LifecycleError

__all__ = ["WorkerPool"]

logger = logging.getLogger("calypso_async.worker")

T = TypeVar("T")


class WorkerPool(Generic[T]):
    """Runs ``handler(item)`` for submitted items on at most ``max_concurrency`` tasks.

    Args:
        handler: Awaited once per item; an exception it raises is logged, never lost.
        key: Identifies items for de-duplication while queued (``None``: never merged).
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
        self._workers = [
            asyncio.create_task(self._work(self._queue), name=f"{self._name}-{index}")
            for index in range(self._max_concurrency)
        ]

    def submit(self, item: T) -> bool:
        """Queue ``item``; ``False`` if an item with the same key is already queued."""
        if self._queue is None:
            raise LifecycleError(f"{self._name} is not running: use it with 'async with'")
        key = self._key(item)
        if key is not None and key in self._queued_keys:
            return False
        self._queue.put_nowait((key, item))
        if key is not None:
            self._queued_keys.add(key)
        return True

    async def join(self) -> None:
        """Wait until every item submitted so far has been handled (or dropped by stop)."""
        if self._queue is None:
            raise LifecycleError(f"{self._name} is not running")
        await self._queue.join()

    async def stop(self) -> None:
        """Stop accepting, drain for the grace period, then cancel and await the workers."""
        queue, self._queue = self._queue, None
        if queue is None:
            return
        try:
            async with asyncio.timeout(self._grace):
                await queue.join()
        except TimeoutError:
            logger.warning(
                "%s: %d queued item(s) not started and running ones cancelled after the "
                "%g s shutdown grace",
                self._name,
                queue.qsize(),
                self._grace,
            )
        finally:
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers = []
            # Items never started are dropped: account for them so that a join() still
            # waiting returns instead of hanging on work that will never run.
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()

    async def _work(self, queue: asyncio.Queue[tuple[Hashable | None, T]]) -> None:
        while True:
            key, item = await queue.get()
            if key is not None:
                self._queued_keys.discard(key)
            try:
                await self._handler(item)
            except Exception:
                logger.exception("%s: a submitted item failed", self._name)
            finally:
                queue.task_done()
