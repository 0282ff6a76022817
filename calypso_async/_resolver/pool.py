"""A bounded pool of worker tasks fed by a source: the engine of the resolver's worker mode.

It knows nothing of invoices or stores, only of claims and where they come from. Each
worker takes a claim from the source, awaits the handler, and tells the source it is
done. The source decides what comes next (the store's next due invoice, one claim per
invoice, so duplicates of one slow invoice never occupy two workers). ``stop`` drains
for a grace period, cancels what is still running and hands back what never started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .._aio import being_cancelled
from .._core import checks
from .._errors import LifecycleError
from .ports import Claim, ClaimSource

__all__ = ["WorkerPool"]

logger = logging.getLogger("calypso_async.resolver")


class WorkerPool:
    """Runs ``handler(item)`` for the items of a source on ``max_concurrency`` tasks.

    Args:
        handler: Awaited once per item; an exception it raises is logged, never lost.
        max_concurrency: Worker tasks.
        shutdown_grace: Seconds ``stop`` waits for the source to drain before cancelling.
        name: Names the worker tasks, for debugging.
    """

    def __init__(
        self,
        handler: Callable[[Claim], Awaitable[None]],
        *,
        max_concurrency: int,
        shutdown_grace: float,
        name: str,
    ) -> None:
        self._handler = handler
        self._max_concurrency = checks.integer("max_concurrency", max_concurrency, least=1)
        self._grace = shutdown_grace
        self._name = name
        self._source: ClaimSource | None = None
        self._busy = 0
        self._workers: list[asyncio.Task[None]] = []

    @property
    def running(self) -> bool:
        """Whether the pool is started and not stopped."""
        return self._source is not None

    def start(self, source: ClaimSource) -> None:
        """Start the worker tasks in the running loop, taking items from ``source``."""
        if self._source is not None:
            raise LifecycleError(f"{self._name} is already running")
        self._source = source
        self._workers = [
            asyncio.create_task(self._work(source), name=f"{self._name}-{index}")
            for index in range(self._max_concurrency)
        ]

    async def join(self) -> None:
        """Wait until every item handed in so far has been handled (or dropped by stop)."""
        if self._source is None:
            raise LifecycleError(f"{self._name} is not running")
        await self._source.join()

    async def stop(self, dropped: list[str] | None = None) -> list[str]:
        """Stop taking items, drain for the grace period, then cancel and await the workers.

        Args:
            dropped: Filled with the keys of the items that never started as soon as they
                are known, so a caller whose ``stop()`` is cancelled still learns them.

        Returns:
            The keys of the items that never started.
        """
        source, self._source = self._source, None
        if dropped is None:
            dropped = []
        if source is None:
            return dropped
        try:
            try:
                async with asyncio.timeout(self._grace):
                    await source.join()
            except TimeoutError:
                never_started = source.close()
                dropped.extend(never_started)
                logger.warning(
                    "%s: after the %g s shutdown grace, %d running item(s) are cancelled and "
                    "%d never started",
                    self._name,
                    self._grace,
                    self._busy,
                    len(never_started),
                    extra={"calypso_cancelled": self._busy},
                )
        finally:
            # Also when stop() itself is cancelled: no worker may outlive the pool. The
            # books are settled before the wait below, which a cancellation may cut.
            workers, self._workers = self._workers, []
            for worker in workers:
                worker.cancel()
            dropped.extend(key for key in source.close() if key not in dropped)
            try:
                await asyncio.gather(*workers, return_exceptions=True)
            finally:
                if dropped and being_cancelled():
                    logger.warning(
                        "%s: stop() was cancelled; %d item(s) never started: %s",
                        self._name,
                        len(dropped),
                        ", ".join(dropped),
                    )
        return dropped

    async def _work(self, source: ClaimSource) -> None:
        while True:
            try:
                item = await source.take()
            except Exception:
                # Whatever went wrong taking work, the worker must live on.
                logger.exception("%s: taking the next item failed; trying again", self._name)
                await asyncio.sleep(1.0)
                continue
            self._busy += 1
            try:
                await self._handler(item)
            except Exception:
                logger.exception("%s: a submitted item failed", self._name)
            finally:
                self._busy -= 1
                source.done()
