"""WorkerPool: bounded concurrency, de-duplication while queued, clean shutdown."""

from __future__ import annotations

import asyncio

import pytest

from calypso_async import LifecycleError
from calypso_async._worker import WorkerPool


def pool(handler: object, *, concurrency: int = 1, grace: float = 0.05) -> WorkerPool[str]:
    return WorkerPool(
        handler,  # type: ignore[arg-type]
        key=lambda item: item,
        max_concurrency=concurrency,
        max_queue=10,
        shutdown_grace=grace,
        name="test-pool",
    )


async def test_items_with_the_same_key_wait_in_the_queue_once() -> None:
    """A second submission of a queued key is merged; once started it can queue again."""
    done: list[str] = []
    gate = asyncio.Event()

    async def handle(item: str) -> None:
        await gate.wait()
        done.append(item)

    workers = pool(handle)
    await workers.start()
    assert workers.submit("a")
    await asyncio.sleep(0)  # "a" starts and waits on the gate
    assert workers.submit("b")
    assert not workers.submit("b")
    gate.set()
    await workers.join()
    await workers.stop()
    assert done == ["a", "b"]


async def test_join_waiting_when_stop_drops_queued_items_returns() -> None:
    """Items never started are dropped at shutdown, and a waiting join() is released."""
    never = asyncio.Event()

    async def stuck(item: str) -> None:
        await never.wait()

    workers = pool(stuck)
    await workers.start()
    for item in ("a", "b", "c"):
        workers.submit(item)
    joiner = asyncio.create_task(workers.join())
    await asyncio.sleep(0)  # join() is waiting before shutdown begins
    await workers.stop()
    await asyncio.wait_for(joiner, 1)


async def test_a_failing_handler_is_logged_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One bad item does not stop the pool."""
    done: list[str] = []

    async def handle(item: str) -> None:
        if item == "bad":
            raise RuntimeError("boom")
        done.append(item)

    workers = pool(handle)
    await workers.start()
    workers.submit("bad")
    workers.submit("good")
    await workers.join()
    await workers.stop()
    assert done == ["good"]
    assert "a submitted item failed" in caplog.text


async def test_submit_before_start_is_a_lifecycle_error() -> None:
    """A pool that is not running refuses work."""
    with pytest.raises(LifecycleError):
        pool(print).submit("a")
