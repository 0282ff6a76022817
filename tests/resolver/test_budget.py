"""RequestBudget: N requests in any window, polls stopping short, AIMD after a 429."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from calypso_async import ConfigurationError, RequestBudget
from calypso_async._resolver.budget import polling
from calypso_async.stores import MemoryStore
from calypso_async.testing import FakeCalypso


class Clock:
    """A clock the injected sleep moves forward."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def budget(clock: Clock, max_rps: int, **options: Any) -> RequestBudget:
    store = MemoryStore(clock=clock)
    options = {"margin": 0.0, "burst": None, **options}
    return RequestBudget(store, max_rps, sleep=clock.sleep, clock=clock, **options)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "5", None])
def test_a_budget_of_zero_or_less_or_not_whole_is_refused(bad: Any) -> None:
    """Nothing is sent under a budget that cannot be met."""
    with pytest.raises(ConfigurationError, match="max_rps"):
        RequestBudget(MemoryStore(), bad)


async def test_no_window_holds_more_than_the_budget() -> None:
    """Five granted at once; the sixth waits until the first is a window old."""
    clock = Clock()
    b = budget(clock, 5)
    times = []
    for _ in range(12):
        await b.acquire()
        times.append(clock.now)
    for i, at in enumerate(times):
        within = [t for t in times if at <= t < at + 1.0]
        assert len(within) <= 5, f"{len(within)} requests in the window from request {i}"
    assert b.granted == 12


async def test_a_burst_is_spread_over_the_window() -> None:
    """With burst=1, 4 per second go out 0.25 s apart, never back to back."""
    clock = Clock()
    b = budget(clock, 4, burst=1)
    times = []
    for _ in range(4):
        await b.acquire()
        times.append(clock.now)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps == [pytest.approx(0.25)] * 3


async def test_polls_leave_a_share_of_the_budget_to_the_resolver() -> None:
    """With 10/s, polls stop at 8 in a window; the resolver's calls still get 2 more."""
    clock = Clock()
    b = budget(clock, 10)
    with polling():
        for _ in range(8):
            await b.acquire(polling=True)
    await b.acquire()
    await b.acquire()
    assert clock.sleeps == []
    await b.acquire(polling=True)
    assert clock.sleeps == [pytest.approx(1.0)]


async def test_polls_waiting_together_do_not_all_ask_the_store_again() -> None:
    """20 polls waiting on a 5/s budget: one asks the store at a time, not all 20."""
    clock = Clock()

    async def sleep(seconds: float) -> None:
        # Waiters woken at one time: the clock moves once for all of them.
        wake = clock.now + seconds
        await asyncio.sleep(0)
        clock.now = max(clock.now, wake)

    b = RequestBudget(MemoryStore(clock=clock), 5, sleep=sleep, clock=clock, burst=None)
    asked = 0
    grant = b.store.grant

    async def counted(*args: Any) -> float:
        nonlocal asked
        asked += 1
        return await grant(*args)

    b.store.grant = counted  # type: ignore[method-assign]
    await asyncio.gather(*(b.acquire(polling=True) for _ in range(20)))
    assert b.granted == 20
    assert asked <= 2 * 20


async def test_a_429_halves_the_polls_once_a_window_and_quiet_seconds_give_back() -> None:
    """AIMD: 10 -> 5 at once (more 429s in that window change nothing), 8 three
    seconds later, 10 again after five; never below one."""
    clock = Clock()
    b = budget(clock, 10)
    await b.lower()
    await b.lower()
    assert b.rate == 5
    clock.now += 3.0
    assert await b.store.ceiling(10) == 8
    clock.now += 10.0
    assert await b.store.ceiling(10) == 10
    for _ in range(5):
        clock.now += 1.0
        await b.lower()
    assert b.rate == 1, "never below one request per window"


async def test_a_429_one_process_meets_lowers_every_process_on_the_store() -> None:
    """The ceiling is kept in the store: another budget on it polls slower too."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    one, two = (
        RequestBudget(store, 10, sleep=clock.sleep, clock=clock, margin=0.0, burst=None)
        for _ in range(2)
    )
    await one.lower()
    for _ in range(5):
        await two.acquire(polling=True)
    assert clock.sleeps == []
    await two.acquire(polling=True)
    assert clock.sleeps, "the sixth poll in the window waits, in the other process too"


async def test_after_a_429_the_resolvers_calls_keep_the_whole_budget() -> None:
    """Polls drop to the lowered rate; reads and writes of the resolver do not."""
    clock = Clock()
    b = budget(clock, 10)
    await b.lower()
    for _ in range(5):
        await b.acquire(polling=True)
    for _ in range(5):
        await b.acquire()
    assert clock.sleeps == []
    await b.acquire(polling=True)
    assert clock.sleeps, "the sixth poll in the window waits"


async def test_a_clients_every_attempt_asks_the_budget() -> None:
    """Through event_hooks: a retried call takes a grant per attempt; a 429 lowers it."""
    clock = Clock()
    b = budget(clock, 4)
    async with FakeCalypso() as fake:
        fake.fail("/api/v1/account", 429, retry_after="0")
        async with fake.client(event_hooks=b.event_hooks(), sleep=clock.sleep) as client:
            await client.account.balances()
            assert b.granted == 2
            assert b.rate == 2, "the 429 halved the polls' rate"
            for _ in range(3):
                await client.account.balances()
    assert b.granted == 5
    assert clock.sleeps, "the budget made the last calls wait"
