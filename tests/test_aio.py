"""Flow control: the connection gate's line and per-attempt timeouts on one timer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from calypso_async._aio import ConnectionGate, Timeouts

# --- the connection gate -----------------------------------------------------------------


async def test_gate_lets_in_up_to_its_size_at_once() -> None:
    """Places are taken at once until the gate is full."""
    gate = ConnectionGate(2)
    assert gate.enter_now()
    assert gate.enter_now()
    assert not gate.enter_now()
    gate.leave()
    assert gate.enter_now()


async def test_gate_serves_its_line_first_come_first_served() -> None:
    """Waiters get freed places in arrival order, and a newcomer cannot overtake them."""
    gate = ConnectionGate(1)
    assert gate.enter_now()
    served: list[int] = []

    async def wait(number: int) -> None:
        await gate.enter()
        served.append(number)

    waiters = [asyncio.create_task(wait(number)) for number in range(3)]
    await asyncio.sleep(0)
    assert gate.waiting == 3
    gate.leave()  # the place goes to waiter 0, not back to the pool
    assert not gate.enter_now(), "a newcomer must not overtake the line"
    for _ in range(3):
        await asyncio.sleep(0)
        gate.leave()
    await asyncio.gather(*waiters)
    assert served == [0, 1, 2]
    assert gate.enter_now()  # every place came back


async def test_gate_skips_a_waiter_cancelled_in_line() -> None:
    """A cancelled waiter neither gets a place nor loses one."""
    gate = ConnectionGate(1)
    assert gate.enter_now()
    cancelled = asyncio.create_task(gate.enter())
    patient = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    gate.leave()
    await asyncio.wait_for(patient, 1)
    assert cancelled.cancelled()
    gate.leave()
    assert gate.enter_now()
    assert not gate.enter_now()


async def test_gate_passes_on_a_place_handed_to_a_waiter_cancelled_before_it_ran() -> None:
    """A place handed over just before its waiter was cancelled goes to the next in line."""
    gate = ConnectionGate(1)
    assert gate.enter_now()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # hands the place to `first`...
    first.cancel()  # ...which is cancelled before it resumes
    await asyncio.sleep(0)
    await asyncio.wait_for(second, 1)
    assert first.cancelled()
    assert not gate.enter_now(), "`second` holds the only place"


# --- timeouts on one timer -----------------------------------------------------------------


class ManualTimer:
    """The two loop methods Timeouts uses, with time moved and timers fired by hand."""

    def __init__(self) -> None:
        self.now = 100.0
        self.armed: list[tuple[asyncio.TimerHandle, Callable[[], Any]]] = []
        self.fired: set[asyncio.TimerHandle] = set()
        self.loop = asyncio.get_running_loop()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], Any]) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, (), self.loop)
        self.armed.append((handle, callback))
        return handle

    def live(self) -> list[asyncio.TimerHandle]:
        """Timers neither cancelled nor fired."""
        return [h for h, _ in self.armed if not h.cancelled() and h not in self.fired]

    def advance(self, seconds: float) -> None:
        """Move the clock and run the timers that are due, as the loop would."""
        self.now += seconds
        for handle, callback in list(self.armed):
            if handle.when() <= self.now and not handle.cancelled() and handle not in self.fired:
                self.fired.add(handle)
                callback()


@pytest.fixture
async def manual() -> ManualTimer:
    return ManualTimer()


async def test_an_overrun_attempt_raises_timeout_error(manual: ManualTimer) -> None:
    """Past its deadline the attempt is cut short and the scope raises TimeoutError."""
    timeouts = Timeouts(manual)  # type: ignore[arg-type]
    blocked = asyncio.get_running_loop().create_future()

    async def attempt() -> None:
        with timeouts.scope(5.0):
            await blocked

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0)
    manual.advance(4.9)
    await asyncio.sleep(0)
    assert not task.done()
    manual.advance(0.2)
    with pytest.raises(TimeoutError):
        await task
    assert task.cancelling() == 0, "the scope takes back the cancel it caused"


async def test_a_cancellation_from_elsewhere_is_not_turned_into_a_timeout(
    manual: ManualTimer,
) -> None:
    """Cancelling the caller propagates CancelledError, as with asyncio.timeout()."""
    timeouts = Timeouts(manual)  # type: ignore[arg-type]

    async def attempt() -> None:
        with timeouts.scope(5.0):
            await asyncio.get_running_loop().create_future()

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_racing_the_deadline_stays_a_cancellation(
    manual: ManualTimer,
) -> None:
    """When the caller is cancelled too, the scope lets the CancelledError through."""
    timeouts = Timeouts(manual)  # type: ignore[arg-type]

    async def attempt() -> None:
        with timeouts.scope(5.0):
            await asyncio.get_running_loop().create_future()

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0)
    manual.advance(6)  # the scope cancels the task...
    task.cancel()  # ...and so does somebody else
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_attempt_within_its_deadline_is_left_alone(manual: ManualTimer) -> None:
    """Leaving a scope in time disarms it: the timer firing later cancels nothing."""
    timeouts = Timeouts(manual)  # type: ignore[arg-type]
    with timeouts.scope(5.0):
        await asyncio.sleep(0)
    manual.advance(10)
    await asyncio.sleep(0)  # a stray cancel would surface here
    assert manual.live() == [], "with nothing open, the timer is not armed again"


async def test_many_attempts_with_one_timeout_share_one_timer(manual: ManualTimer) -> None:
    """A hundred overlapping scopes arm the loop timer once, not a hundred times."""
    timeouts = Timeouts(manual)  # type: ignore[arg-type]
    gate = asyncio.Event()

    async def attempt() -> None:
        with timeouts.scope(30.0):
            await gate.wait()

    tasks = []
    for _ in range(100):
        tasks.append(asyncio.create_task(attempt()))
        await asyncio.sleep(0)
        manual.now += 0.001
    assert len(manual.armed) == 1
    gate.set()
    await asyncio.gather(*tasks)


async def test_the_timer_moves_to_the_earliest_deadline(manual: ManualTimer) -> None:
    """A shorter deadline re-arms the timer; each scope expires at its own deadline."""
    timeouts = Timeouts(manual)  # type: ignore[arg-type]
    ended: dict[str, float] = {}

    async def attempt(name: str, seconds: float) -> None:
        try:
            with timeouts.scope(seconds):
                await asyncio.get_running_loop().create_future()
        except TimeoutError:
            ended[name] = manual.now

    long = asyncio.create_task(attempt("long", 30))
    await asyncio.sleep(0)
    short = asyncio.create_task(attempt("short", 2))
    await asyncio.sleep(0)
    assert [h.when() for h in manual.live()] == [102.0]
    manual.advance(2)
    await short
    assert ended == {"short": 102.0}
    assert [h.when() for h in manual.live()] == [130.0]
    manual.advance(28)
    await long
    assert ended == {"short": 102.0, "long": 130.0}


async def test_closing_disarms_the_timer(manual: ManualTimer) -> None:
    """close() cancels the pending loop timer (a closed session leaves nothing behind)."""
    timeouts = Timeouts(manual)  # type: ignore[arg-type]
    with timeouts.scope(5.0):
        pass
    assert len(manual.live()) == 1
    timeouts.close()
    assert manual.live() == []


async def test_closing_still_enforces_the_scopes_open(manual: ManualTimer) -> None:
    """A call in flight when its client closes (on a borrowed session) still times out."""
    timeouts = Timeouts(manual)  # type: ignore[arg-type]

    async def attempt() -> None:
        with timeouts.scope(5.0):
            await asyncio.get_running_loop().create_future()

    task = asyncio.create_task(attempt())
    await asyncio.sleep(0)
    timeouts.close()
    manual.advance(5)
    with pytest.raises(TimeoutError):
        await task
    assert manual.live() == []


async def test_a_scope_outside_a_task_is_refused() -> None:
    """Without a task there is nothing to cancel: the scope says so."""
    timeouts = Timeouts(asyncio.get_running_loop())

    def outside() -> None:
        with timeouts.scope(1.0):
            pass

    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def run() -> None:
        try:
            outside()
        except RuntimeError as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)

    loop.call_soon(run)
    with pytest.raises(RuntimeError, match="inside a task"):
        await future


async def test_real_loop_timeout_fires_on_time() -> None:
    """On a real loop, an overrun scope ends close to its deadline."""
    loop = asyncio.get_running_loop()
    timeouts = Timeouts(loop)
    started = loop.time()
    with pytest.raises(TimeoutError), timeouts.scope(0.02):
        await asyncio.sleep(5)
    assert 0.02 <= loop.time() - started < 1.0
    timeouts.close()
