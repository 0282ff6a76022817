"""Generic asyncio helpers: they know the event loop, not Calypso.

The session layer uses two of them on every attempt:

* :class:`ConnectionGate` lets at most as many attempts onto the wire as the connection
  pool holds and makes the rest wait in line, first come first served. Without it a
  10,000-invoice watch hands 10,000 requests to aiohttp at once, and each one waiting
  for a pooled connection already holds a fully built ``ClientRequest``; and a per-attempt
  timeout would count time spent waiting for a connection, not for the server.
* :class:`Timeouts` gives each attempt a deadline the way ``asyncio.timeout()`` does, but
  on one shared loop timer: ``asyncio.timeout()`` schedules a timer handle per attempt and
  cancels it again, which costs about as much CPU as building and signing the request.

:func:`being_cancelled` serves the resolver and its worker pool, which must tell their
own cancellation from a cancellation that ended a task they wait on;
:func:`finish_despite_cancellation` lets a write in flight end before a cancellation goes
through; :func:`call_back` calls user code that may or may not be a coroutine function.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import math
from collections.abc import Callable, Coroutine
from typing import Any, Self, TypeVar

__all__ = [
    "ConnectionGate",
    "TimeoutScope",
    "Timeouts",
    "being_cancelled",
    "call_back",
    "finish_despite_cancellation",
]

T = TypeVar("T")


def being_cancelled() -> bool:
    """Whether the current task has a cancellation requested (and not yet taken back)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def call_back(callback: Callable[[T], Any], argument: T) -> Any:
    """Call ``callback(argument)`` and await the result if it is awaitable."""
    result = callback(argument)
    if inspect.isawaitable(result):
        result = await result
    return result


async def finish_despite_cancellation(step: Coroutine[Any, Any, T]) -> T:
    """Await ``step`` to its end; a cancellation meanwhile is re-raised once it has ended.

    ``step`` must be bounded by itself (every request has the session's deadline). A
    cancellation already requested before it starts is taken here, and ``step`` never
    runs: a write not yet sent need not be finished.
    """
    if being_cancelled():
        try:
            await asyncio.sleep(0)  # delivers the pending cancellation, if it still is
        except asyncio.CancelledError:
            step.close()
            raise
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                continue  # cancelled again: the write is still bounded by its deadline
        if not task.cancelled():
            task.exception()  # consumed here: the caller sees the cancellation
        raise


class ConnectionGate:
    """At most ``size`` holders at once; the others wait in line, first come first served.

    A freed place goes straight to the first in line, so a caller that has just finished
    cannot overtake the ones already waiting (as it can in aiohttp's own connection queue).
    """

    __slots__ = ("_free", "_line")

    def __init__(self, size: int) -> None:
        self._free = size
        self._line: collections.deque[asyncio.Future[None]] = collections.deque()

    def enter_now(self) -> bool:
        """Take a place if one is free and nobody waits; ``False`` otherwise."""
        if self._free and not self._line:
            self._free -= 1
            return True
        return False

    async def enter(self) -> None:
        """Wait in line for a place (call :meth:`enter_now` first)."""
        place = asyncio.get_running_loop().create_future()
        self._line.append(place)
        try:
            await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled():
                self.leave()  # handed a place, then cancelled before using it: pass it on
            raise

    def leave(self) -> None:
        """Give a place back: to the first caller still waiting, else to the pool."""
        line = self._line
        while line:
            place = line.popleft()
            if not place.done():  # a cancelled waiter's place is done: skip it
                place.set_result(None)
                return
        self._free += 1

    @property
    def waiting(self) -> int:
        """Callers in line (including cancelled ones not yet skipped)."""
        return len(self._line)


class TimeoutScope:
    """One attempt's deadline; a context manager made by :meth:`Timeouts.scope`.

    Leaving it after the deadline passed raises ``TimeoutError`` in place of the
    ``CancelledError`` that cut the attempt short, exactly as ``asyncio.timeout()`` does;
    a cancellation that came from elsewhere propagates unchanged.
    """

    __slots__ = ("_cancelling", "_task", "_timeouts", "deadline", "expired")

    def __init__(self, timeouts: Timeouts, deadline: float) -> None:
        self._timeouts = timeouts
        self.deadline = deadline
        """Loop time (``loop.time()``) at which the attempt is cancelled."""
        self.expired = False
        """Whether the deadline passed while the scope was open."""

    def __enter__(self) -> Self:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a timeout scope must be entered inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._timeouts._open(self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if not self.expired:
            self._timeouts._close(self)
        # As asyncio.Timeout: undo our cancel(); only if nobody else asked for one too,
        # the CancelledError it caused becomes a TimeoutError.
        elif self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError

    def _expire(self) -> None:
        self.expired = True
        self._task.cancel()


class Timeouts:
    """Deadlines for many concurrent attempts, enforced by one loop timer.

    The timer is always armed for the earliest open deadline. Opening and closing a scope
    is a dict insertion and deletion; the timer is moved only when a scope's deadline is
    earlier than every other one (with one timeout for all attempts, almost never).

    Args:
        loop: The loop whose clock (``loop.time()``) the deadlines use.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._open_scopes: dict[TimeoutScope, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._closing = False

    def scope(self, seconds: float) -> TimeoutScope:
        """A scope whose deadline is ``seconds`` from now, for ``with ...:``."""
        return TimeoutScope(self, self._loop.time() + seconds)

    def close(self) -> None:
        """Disarm the timer once no scope is open (scopes still open stay enforced)."""
        self._closing = True
        if not self._open_scopes:
            self._disarm()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = math.inf

    def _open(self, scope: TimeoutScope) -> None:
        self._open_scopes[scope] = None
        if scope.deadline < self._timer_at:
            self._arm(scope.deadline)

    def _close(self, scope: TimeoutScope) -> None:
        del self._open_scopes[scope]
        if self._closing and not self._open_scopes:
            self._disarm()

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        # The loop may run a timer a clock tick early: what it was armed for is due too.
        due = max(self._timer_at, self._loop.time())
        self._timer = None
        self._timer_at = math.inf
        earliest = math.inf
        expired = [scope for scope in self._open_scopes if scope.deadline <= due]
        for scope in expired:
            del self._open_scopes[scope]
            scope._expire()
        for scope in self._open_scopes:
            earliest = min(earliest, scope.deadline)
        if earliest < math.inf:
            self._arm(earliest)
