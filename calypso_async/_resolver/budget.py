"""``RequestBudget``: at most N requests in any second, for every process on one store.

Every attempt a client makes (retries and resends included) first asks the store's
budget, through the client's ``request`` hook, so the cap holds for all the requests
the processes sharing the store send, whoever makes them (as granted: a request that
takes longer than ``margin`` to leave, or to cross the network, may arrive closer to
another than a window). Polls stop short of the whole budget (``poll_share`` of it),
so a resolver's reads and writes get in when it is short. A ``429`` halves the rate at
which every process sharing the store polls (the ceiling is kept in the store), at most
once a window; each second without one gives one request per second back (AIMD), up to
the cap. The resolver's calls keep the whole budget: they are few, and they must not
wait behind polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from .._core import checks
from .._errors import ConfigurationError
from .._http.observe import RequestEvent, ResponseEvent
from .tracking import TrackingStore

__all__ = ["RequestBudget"]

logger = logging.getLogger("calypso_async.resolver")

_POLLING: contextvars.ContextVar[bool] = contextvars.ContextVar("calypso_polling", default=False)


class RequestBudget:
    """A request budget shared by every process using ``store``.

    ::

        budget = RequestBudget(store, max_rps=20)
        client = CalypsoClient.from_env(event_hooks=budget.event_hooks())

    Args:
        store: The store the processes share (``MemoryStore``: this process only).
        max_rps: Requests allowed in any ``window`` (one second), all processes
            together; a whole number, 1 or more.
        window: The length of the window, in seconds.
        margin: Seconds added to the window when granting, so that requests granted a
            window apart still arrive a window apart despite uneven latency.
        burst: Grants are at least ``window / (max_rps * burst)`` apart, so a window's
            requests never leave all at once (a burst that waits is what uneven
            latency squeezes into less than a window). ``None``: no spacing.
        poll_share: The fraction of the budget polls may use (the rest is kept for
            the resolver's calls).
        sleep: How to wait for the budget (``asyncio.sleep``).
        clock: Monotonic seconds, for how often the shared ceiling is read again.
    """

    def __init__(
        self,
        store: TrackingStore,
        max_rps: int,
        *,
        window: float = 1.0,
        margin: float = 0.04,
        burst: int | None = 2,
        poll_share: float = 0.8,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_rps, bool) or not isinstance(max_rps, int) or max_rps < 1:
            raise ConfigurationError(
                f"max_rps must be a whole number of requests per second, 1 or more, not {max_rps!r}"
            )
        if not (isinstance(poll_share, (int, float)) and 0 < poll_share <= 1):
            raise ConfigurationError("poll_share must be a fraction above 0, at most 1")
        self.store = store
        self.max_rps = max_rps
        self._window = checks.seconds("window", window)
        self._margin = checks.seconds("margin", margin, allow_zero=True)
        self._poll_share = float(poll_share)
        self._burst = None if burst is None else checks.integer("burst", burst, least=1)
        self._sleep = sleep or asyncio.sleep
        self._clock = clock
        self._ceiling = float(max_rps)
        self._ceiling_read = -math.inf
        # One asker per priority at a time: waiters woken together would each ask the
        # store again, and all but one be refused (a store operation each).
        self._asking = {True: asyncio.Lock(), False: asyncio.Lock()}
        self.granted = 0
        """Requests granted to this process."""
        self.waited = 0.0
        """Seconds this process spent waiting for the budget."""

    def __repr__(self) -> str:
        return f"RequestBudget(max_rps={self.max_rps}, rate={self.rate})"

    @property
    def rate(self) -> int:
        """The requests per window polls keep under now, as last read from the store.

        ``max_rps`` until a 429 lowers it for every process sharing the store.
        """
        return max(1, math.floor(self._ceiling))

    async def _limit(self, polling: bool) -> int:
        if not polling:
            return self.max_rps
        if self._clock() - self._ceiling_read >= self._window:
            self._ceiling = await self.store.ceiling(self.max_rps)
            self._ceiling_read = self._clock()
        return max(1, math.floor(min(self._ceiling, self.max_rps * self._poll_share)))

    async def acquire(self, *, polling: bool = False) -> None:
        """Wait until the store grants one request."""
        async with self._asking[polling]:
            await self._acquire(polling)

    async def _acquire(self, polling: bool) -> None:
        window = self._window + self._margin
        while True:
            limit = await self._limit(polling)
            # Spaced so that `burst` grants at most go out within one even share.
            spacing = 0.0 if self._burst is None else self._window / self.max_rps / self._burst
            wait = await self.store.grant(limit, window, spacing)
            if wait <= 0:
                self.granted += 1
                return
            self.waited += wait
            await self._sleep(wait)

    async def lower(self) -> None:
        """A 429: halve the rate every process polls at (at least 1), once a window."""
        before = self.rate
        self._ceiling = await self.store.lower_ceiling(self.max_rps, self._window)
        self._ceiling_read = self._clock()
        if self.rate < before:
            logger.info("429 from Calypso: polls are down to %d/s", self.rate)

    async def _before(self, event: RequestEvent) -> None:
        await self.acquire(polling=_POLLING.get())

    async def _after(self, event: ResponseEvent) -> None:
        if event.status == 429:
            await self.lower()

    def event_hooks(self) -> dict[str, list[Callable[[Any], Any]]]:
        """The ``event_hooks`` for a ``CalypsoClient`` whose requests this budget caps."""
        return {"request": [self._before], "response": [self._after]}


@contextlib.contextmanager
def polling() -> Iterator[None]:
    """Inside the block, this task's requests are polls: the lower priority."""
    token = _POLLING.set(True)
    try:
        yield
    finally:
        _POLLING.reset(token)
