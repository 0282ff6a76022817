"""How one round is run and measured: get loops, wait_for over staggered payments."""

from __future__ import annotations

import asyncio
import gc
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from calypso_async import CalypsoClient, CalypsoError, InvoiceState

from . import _stats
from ._raw import SDK_CONNECTION_LIMIT
from ._server import FakeServerProcess

AMOUNT = "10.234"
"""Every benchmark invoice asks this much; paying it exactly leads to COMPLETED."""


@attrs.define
class Round:
    """What one variant did in one round at one concurrency level."""

    variant: str
    concurrency: int
    seconds: float
    cpu_seconds: float
    server_cpu_seconds: float | None
    peak_rss_mb: float
    latencies: list[float]
    errors: int
    error_samples: list[str]
    lags: list[float] = attrs.Factory(list)
    invoices: int = 0
    others_cpu_seconds: float | None = None
    window_polls: int | None = None
    oldest_waiting: float = math.nan
    """Seconds the oldest poll still in flight when the window closed had been waiting."""

    @property
    def polls(self) -> int:
        """Polls answered or failed within the measured window."""
        if self.window_polls is not None:
            return self.window_polls
        return len(self.latencies) + self.errors

    @property
    def polls_per_second(self) -> float:
        """Throughput of this round."""
        return self.polls / self.seconds if self.seconds > 0 else math.nan

    @property
    def cpu_us_per_poll(self) -> float:
        """Client CPU microseconds per poll in this round."""
        return self.cpu_seconds / self.polls * 1e6 if self.polls else math.nan


class Errors:
    def __init__(self) -> None:
        self.count = 0
        self.samples: list[str] = []

    def add(self, exc: BaseException) -> None:
        self.count += 1
        if len(self.samples) < 3:
            self.samples.append(f"{type(exc).__name__}: {exc}"[:300])


async def create_invoices(client: CalypsoClient, count: int) -> list[str]:
    ids: list[str] = []
    limit = asyncio.Semaphore(SDK_CONNECTION_LIMIT)

    async def create(index: int) -> None:
        async with limit:
            invoice = await client.invoices.create_single(
                amount=AMOUNT, currency="USDT", description=f"benchmark {index}"
            )
        ids.append(invoice.id)

    await asyncio.gather(*(create(index) for index in range(count)))
    return ids


class Measure:
    """Client CPU, server CPU, other processes' CPU and the RSS peak over one window.

    Entering runs ``gc.collect()`` (no garbage from the previous variant is collected on
    this one's time) and opens the window; :meth:`start` may open it again later (after
    a warm-up); it ends at :meth:`close`, or when the ``with`` block ends if nothing
    closed it sooner. The RSS peak always covers the whole block.
    """

    def __init__(self, server: FakeServerProcess, rss: _stats.RssSampler) -> None:
        self._server = server
        self._rss = rss

    def __enter__(self) -> Measure:
        gc.collect()
        self._rss.restart()
        self.start()
        return self

    def start(self) -> None:
        """Open the measured window now (again, if it was open)."""
        self._closed = False
        self._server_cpu = self._server.cpu_seconds()
        self._busy = _stats.machine_busy_seconds()
        self._cpu = _stats.cpu_seconds()
        self._started = time.perf_counter()

    def close(self) -> None:
        """End the measured window now (later calls change nothing)."""
        if self._closed:
            return
        self._closed = True
        self.seconds = time.perf_counter() - self._started
        self.cpu_seconds = _stats.cpu_seconds() - self._cpu
        after = self._server.cpu_seconds()
        busy = _stats.machine_busy_seconds()
        self.server_cpu_seconds = (
            None if after is None or self._server_cpu is None else after - self._server_cpu
        )
        self.others_cpu_seconds = (
            None
            if busy is None or self._busy is None or self.server_cpu_seconds is None
            else max(busy - self._busy - self.cpu_seconds - self.server_cpu_seconds, 0.0)
        )

    def __exit__(self, *exc_info: object) -> None:
        self.close()
        self._rss.sample()
        self.peak_rss_mb = self._rss.peak


async def poll_round(
    variant: str,
    get: Callable[[str], Awaitable[object]],
    ids: Sequence[str],
    concurrency: int,
    duration: float,
    measure: Measure,
) -> Round:
    """Keep ``concurrency`` polls in flight and measure a window of ``duration`` seconds.

    The window opens once the round is in its steady state: when as many polls have
    finished as are in flight (every worker has turned over about once, so the start-up
    burst of building ``concurrency`` requests at once is behind it). It lasts at least
    ``duration`` seconds and at least one more turnover (another ``concurrency`` polls),
    so that at 1000 in flight it is not a fraction of one cycle. It counts the polls that
    finish inside it, their latencies, and the CPU spent inside it; then the workers stop
    after their current poll, outside the window. Latencies only cover polls that
    finished, so the age of the oldest poll still waiting at the close is kept too: a
    queue that lets some polls starve shows there, not in the percentiles.
    """
    latencies: list[float] = []
    errors = Errors()
    perf_counter = time.perf_counter
    recording = stopping = False
    finished = 0
    window_polls = 0
    oldest_waiting = math.nan
    waiting_since: list[float | None] = [None] * concurrency

    closes_at = math.inf

    def open_window() -> None:
        nonlocal recording, closes_at
        recording = True
        measure.start()
        closes_at = perf_counter() + duration

    def close_window() -> None:
        nonlocal recording, stopping, window_polls, oldest_waiting
        measure.close()
        window_polls = len(latencies) + errors.count
        recording, stopping = False, True
        now = perf_counter()
        oldest_waiting = max((now - t for t in waiting_since if t is not None), default=0.0)

    async def worker(index: int) -> None:
        nonlocal finished
        count, slot = len(ids), index
        while not stopping:
            started = waiting_since[slot] = perf_counter()
            try:
                await get(ids[index % count])
            except Exception as exc:  # counted and reported, never fatal to the round
                if recording:
                    errors.add(exc)
            else:
                if recording:
                    latencies.append(perf_counter() - started)
            waiting_since[slot] = None
            index += concurrency
            finished += 1
            if finished == concurrency:
                open_window()
            elif finished >= 2 * concurrency and recording and perf_counter() >= closes_at:
                close_window()

    with measure:
        await asyncio.gather(*(worker(index) for index in range(concurrency)))
    return Round(
        variant,
        concurrency,
        measure.seconds,
        measure.cpu_seconds,
        measure.server_cpu_seconds,
        measure.peak_rss_mb,
        latencies,
        errors.count,
        errors.samples,
        others_cpu_seconds=measure.others_cpu_seconds,
        window_polls=window_polls,
        oldest_waiting=oldest_waiting,
    )


class TimedGets:
    """Times every ``get`` that ``wait_for`` makes on one client."""

    def __init__(self, client: CalypsoClient) -> None:
        self.latencies: list[float] = []
        self.errors = Errors()
        invoices = client.invoices
        original = invoices.get

        async def timed_get(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = await original(*args, **kwargs)
            except Exception as exc:
                self.errors.add(exc)
                raise
            self.latencies.append(time.perf_counter() - started)
            return result

        # wait_for calls self.get: an instance attribute shadows the method.
        setattr(invoices, "get", timed_get)  # noqa: B010

    def reset(self) -> None:
        self.latencies = []
        self.errors = Errors()


async def wait_round(
    client: CalypsoClient,
    timed: TimedGets,
    server: FakeServerProcess,
    ids: Sequence[str],
    *,
    window: float,
    interval: float,
    max_interval: float,
    settle_delay: float,
    rng: random.Random,
    measure: Measure,
    variant: str = "sdk-wait",
) -> Round:
    count = len(ids)
    paid_at = [math.nan] * count
    done_at = [math.nan] * count
    failures = Errors()
    timed.reset()
    timeout = window + settle_delay + 60.0

    async def waiter(index: int) -> None:
        try:
            await client.invoices.wait_for(
                ids[index],
                InvoiceState.COMPLETED,
                timeout=timeout,
                interval=interval,
                max_interval=max_interval,
            )
        except CalypsoError as exc:
            failures.add(exc)
        else:
            done_at[index] = time.perf_counter()

    async def payer(started: float) -> None:
        order = list(range(count))
        rng.shuffle(order)
        replies: list[asyncio.Future[str]] = []
        next_index = 0
        while next_index < count:
            now = time.perf_counter()
            # Every payment that is due goes now; then sleep until the next one is.
            while next_index < count and started + window * (next_index + 0.5) / count <= now:
                index = order[next_index]
                paid_at[index] = now
                replies.append(server.command(f"pay {ids[index]} {AMOUNT}"))
                next_index += 1
            await server.drain()
            if next_index < count:
                due = started + window * (next_index + 0.5) / count
                await asyncio.sleep(max(due - time.perf_counter(), 0.001))
        for reply in await asyncio.gather(*replies):
            if not reply.startswith("ok ") or not reply.endswith(" PAID"):
                failures.add(RuntimeError(f"payment refused: {reply}"))

    with measure:
        started = time.perf_counter()
        await asyncio.gather(payer(started), *(waiter(index) for index in range(count)))
    lags = [
        done - (paid + settle_delay)
        for paid, done in zip(paid_at, done_at, strict=True)
        if not math.isnan(done)
    ]
    return Round(
        variant,
        count,
        measure.seconds,
        measure.cpu_seconds,
        measure.server_cpu_seconds,
        measure.peak_rss_mb,
        timed.latencies,
        timed.errors.count + failures.count,
        timed.errors.samples + failures.samples,
        lags=lags,
        invoices=count,
        others_cpu_seconds=measure.others_cpu_seconds,
    )
