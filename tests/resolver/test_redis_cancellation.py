"""A worker told to stop stops, whatever redis-py makes of the cancellation.

redis-py can turn a cancellation that lands in a blocking read into a
``ConnectionError("Connection closed by server.")``, or swallow it (redis/redis-py#2028,
#2665). A worker blocked waiting for work must still end when it is cancelled, not take
the error for an outage and poll for ever. Both behaviours are simulated on a real
RedisStore by replacing its blocking read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from calypso_async.stores import RedisStore
from tests.stores import redis_url


def _turns_cancel_into_connection_error(entered: asyncio.Event) -> Any:
    async def xreadgroup(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RedisConnectionError("Connection closed by server.") from None

    return xreadgroup


def _swallows_cancel(entered: asyncio.Event) -> Any:
    async def xreadgroup(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return []
        return []

    return xreadgroup


@pytest.mark.parametrize("behaviour", [_turns_cancel_into_connection_error, _swallows_cancel])
async def test_a_worker_waiting_for_work_ends_when_cancelled(
    behaviour: Callable[[asyncio.Event], Any],
) -> None:
    """Cancelled while blocked in the read for new work, the worker's wait ends."""
    async with RedisStore(redis_url(), namespace=f"cancel-{uuid4().hex[:8]}") as store:
        await store.ping()
        entered = asyncio.Event()
        redis: Any = store._redis
        redis.xreadgroup = behaviour(entered)
        source = store.source("worker-1", 30.0)
        waiting = asyncio.create_task(source.take())
        try:
            await asyncio.wait_for(entered.wait(), 5)
            waiting.cancel()
            done, _ = await asyncio.wait([waiting], timeout=5)
            assert done == {waiting}, "the worker went on polling after it was cancelled"
            assert waiting.cancelled()
        finally:
            del redis.xreadgroup  # the real read again: a worker left polling can end
            waiting.cancel()
            await asyncio.wait([waiting], timeout=5)


async def test_a_cleanup_in_a_cancelled_task_still_reaches_the_store() -> None:
    """A cancellation asked for before a call (a run giving its claim back while it is
    being cancelled) does not stop the call."""
    async with RedisStore(redis_url(), namespace=f"cancel-{uuid4().hex[:8]}") as store:
        await store.accept("inv-1")
        claim = await store.claim("inv-1", "worker-1", 30.0)
        assert claim is not None
        gave_back = asyncio.Event()

        async def run() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await store.release(claim, None)
                gave_back.set()
                raise

        task = asyncio.create_task(run())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gave_back.is_set()
        assert await store.counts() == (1, 0)
