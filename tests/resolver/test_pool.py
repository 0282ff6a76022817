"""WorkerPool fed by a MemoryStore, as the resolver runs them: bounded concurrency, one
worker per invoice, clean shutdown that loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from calypso_async import LifecycleError
from calypso_async._resolver.pool import WorkerPool
from calypso_async._resolver.ports import Claim
from calypso_async.stores import MemoryStore


class Pool:
    """A WorkerPool whose items are invoice ids queued in a MemoryStore.

    The handler gets the id; its claim is released afterwards, as an execution does.
    """

    def __init__(
        self,
        handler: Callable[[str], Awaitable[None]],
        concurrency: int,
        grace: float,
        max_queue: int,
    ) -> None:
        self.store = MemoryStore(max_queue=max_queue)

        async def handle(claim: Claim) -> None:
            try:
                await handler(claim.invoice_id)
            finally:
                await self.store.release(claim, None)

        self.pool: WorkerPool = WorkerPool(
            handle, max_concurrency=concurrency, shutdown_grace=grace, name="test-pool"
        )

    async def start(self) -> None:
        self.pool.start(self.store.source("test", 30.0))

    def submit(self, invoice_id: str) -> bool:
        if not self.pool.running:
            raise LifecycleError("test-pool is not running")
        return self.store.accept_nowait(invoice_id).value in ("queued", "again")

    async def join(self) -> None:
        await self.pool.join()

    async def stop(self) -> list[str]:
        return await self.pool.stop()

    @property
    def _workers(self) -> list[asyncio.Task[None]]:
        return self.pool._workers


def pool(
    handler: object, *, concurrency: int = 1, grace: float = 0.05, max_queue: int = 10
) -> Pool:
    return Pool(handler, concurrency, grace, max_queue)  # type: ignore[arg-type]


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


async def test_duplicates_of_a_running_item_never_take_a_second_worker() -> None:
    """A key being handled is marked to run once more afterwards, on the same worker, so
    duplicates of one stuck item leave the other workers free."""
    gate = asyncio.Event()
    started: list[str] = []

    async def handle(item: str) -> None:
        started.append(item)
        if item == "x":
            await gate.wait()

    workers = pool(handle, concurrency=2)
    await workers.start()
    assert workers.submit("x")
    await asyncio.sleep(0.01)
    assert workers.submit("x")  # marked to run again once the first x ends
    assert not workers.submit("x")  # already marked: adds nothing
    assert workers.submit("y")
    await asyncio.sleep(0.01)
    assert started == ["x", "y"], "y ran on the free worker while x is stuck"
    gate.set()
    await workers.join()
    await workers.stop()
    assert started == ["x", "y", "x"]


async def test_no_more_than_max_concurrency_items_run_at_once() -> None:
    """With 3 workers and 8 items, exactly 3 run at a time until the queue empties."""
    running: set[str] = set()
    most = 0
    gate = asyncio.Event()

    async def handle(item: str) -> None:
        nonlocal most
        running.add(item)
        most = max(most, len(running))
        await gate.wait()
        running.discard(item)

    workers = pool(handle, concurrency=3)
    await workers.start()
    for n in range(8):
        workers.submit(f"item{n}")
    await asyncio.sleep(0.01)
    assert len(running) == 3
    gate.set()
    await workers.join()
    await workers.stop()
    assert most == 3


async def test_submit_beyond_max_queue_raises_queue_full() -> None:
    """A full queue refuses loudly (the webhook adapter turns this into a 503)."""
    never = asyncio.Event()

    async def stuck(item: str) -> None:
        await never.wait()

    workers = pool(stuck, max_queue=2)
    await workers.start()
    workers.submit("running")
    await asyncio.sleep(0)  # taken by the only worker: the queue is empty again
    workers.submit("a")
    workers.submit("b")
    with pytest.raises(asyncio.QueueFull):
        workers.submit("c")
    dropped = await workers.stop()
    assert sorted(dropped) == ["a", "b"]


async def test_join_waiting_when_stop_drops_queued_items_returns() -> None:
    """Items never started are dropped at shutdown, and a waiting join() is released."""
    never = asyncio.Event()

    async def stuck(item: str) -> None:
        await never.wait()

    workers = pool(stuck)
    await workers.start()
    workers.submit("a")
    await asyncio.sleep(0)  # "a" is running
    for item in ("b", "c", "a"):  # "a" again: it runs once more after the first
        assert workers.submit(item)
    joiner = asyncio.create_task(workers.join())
    await asyncio.sleep(0)  # join() is waiting before shutdown begins
    dropped = await workers.stop()
    await asyncio.wait_for(joiner, 1)
    assert sorted(dropped) == ["a", "b", "c"], "what never started is handed back"


async def test_shutdown_warning_counts_running_and_unstarted_items(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning says how many were cancelled while running and how many never ran."""
    never = asyncio.Event()

    async def stuck(item: str) -> None:
        await never.wait()

    workers = pool(stuck, concurrency=2)
    await workers.start()
    for item in ("a", "b", "c"):
        workers.submit(item)
    await asyncio.sleep(0.01)
    await workers.stop()
    assert "2 running item(s) are cancelled and 1 never started" in caplog.text


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


async def test_a_cancelled_stop_still_cancels_every_worker_and_names_what_never_ran(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Cancelling stop() during its grace leaves no worker running, and the items that
    never started are logged by key rather than lost silently."""
    stuck = asyncio.Event()

    async def handle(item: str) -> None:
        await stuck.wait()

    workers = pool(handle, grace=60)
    await workers.start()
    workers.submit("a")
    workers.submit("b")
    await asyncio.sleep(0)  # "a" runs and is stuck; "b" waits in the queue
    tasks = list(workers._workers)
    stopping = asyncio.create_task(workers.stop())
    await asyncio.sleep(0)
    stopping.cancel()
    with (
        caplog.at_level("WARNING", logger="calypso_async.resolver"),
        pytest.raises(asyncio.CancelledError),
    ):
        await stopping
    assert all(task.done() for task in tasks)
    assert any("never started: b" in record.getMessage() for record in caplog.records)
