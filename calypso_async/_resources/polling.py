"""Polling one object until it reaches a wanted state: what every ``wait_for`` shares.

``client.invoices.wait_for`` and ``client.payouts.wait_for`` differ only in what they
read, which states never change again, and which errors they raise; the timing (back
off, jitter, a reserve for the last poll, transient failures polled through) is here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from .._core import checks as check
from .._errors import (
    CalypsoConnectionError,
    CalypsoTimeoutError,
    ConfigurationError,
    RateLimitError,
    ServerError,
)

if TYPE_CHECKING:
    from .._settings import Runtime

__all__ = ["Poll", "wanted_states"]

logger = logging.getLogger("calypso_async.resources")

T = TypeVar("T")
S = TypeVar("S", bound=Enum)

_TRANSIENT = (CalypsoConnectionError, CalypsoTimeoutError, RateLimitError, ServerError)


def wanted_states(states: S | Iterable[S], cls: type[S]) -> frozenset[S]:
    """One state or several, as a set, or ``ConfigurationError`` (before any I/O)."""
    wanted = frozenset([states] if isinstance(states, cls) else states)  # type: ignore[arg-type]
    if not wanted or not all(isinstance(s, cls) for s in wanted):
        raise ConfigurationError(f"states must be one or more {cls.__name__} members")
    return wanted


class Poll:
    """How one ``wait_for`` polls: timing from the arguments, time from the runtime.

    Args:
        runtime: Where the clock, the sleep and the jitter come from.
        timeout: Seconds to wait in all.
        interval: Seconds before the second poll.
        max_interval: The longest pause between two polls.

    Raises:
        ConfigurationError: A timing argument is not a positive number of seconds.
    """

    def __init__(
        self, runtime: Runtime, *, timeout: float, interval: float, max_interval: float
    ) -> None:
        self._runtime = runtime
        self.timeout = check.seconds("timeout", timeout)
        self._interval = check.seconds("interval", interval)
        self._max_interval = check.seconds("max_interval", max_interval)  # 0 would spin

    async def until(
        self,
        read: Callable[[], Awaitable[T]],
        state_of: Callable[[T], Any],
        wanted: frozenset[Any],
        final: frozenset[Any],
        *,
        kind: str,
        ident: str,
        final_error: Callable[[str, T], Exception],
        timeout_error: Callable[[str, T | None], Exception],
    ) -> T:
        """Read until ``state_of(read())`` is in ``wanted``.

        Args:
            read: One poll (a read: safe to cut short).
            state_of: The state of what was read.
            wanted: The states that end the wait.
            final: States never left: reaching one not wanted raises ``final_error``.
            kind: What is polled, such as ``"invoice"``: messages say ``invoice <id>``,
                and a failed poll's warning carries ``calypso_invoice_id``.
            ident: Its id.
            final_error: Builds the error for a final state not wanted.
            timeout_error: Builds the error for time running out (given the last read).
        """
        clock, sleep = self._runtime.clock, self._runtime.sleep
        give_up_at = clock() + self.timeout
        # Pauses never eat into this, so the last poll has time to be answered.
        reserve = min(1.0, self.timeout / 4)
        delay = self._interval
        what = f"{kind} {ident}"
        names = ", ".join(sorted(str(state) for state in wanted))
        last: T | None = None
        last_error: Exception | None = None
        while True:
            try:
                # A poll may retry for the session's whole deadline: it must not carry
                # the wait past its own timeout (a read, so cutting it short is safe).
                async with asyncio.timeout(max(give_up_at - clock(), 0.0)):
                    last = await read()
                last_error = None
            except (*_TRANSIENT, TimeoutError) as exc:
                last_error = exc
                if clock() < give_up_at:  # else the wait's own end cut it: said below
                    logger.warning(
                        "wait_for %s: poll failed (%s), polling on",
                        ident,
                        type(exc).__name__,
                        extra={f"calypso_{kind}_id": ident},
                    )
            if last is not None and last_error is None:
                state = state_of(last)
                if state in wanted:
                    return last
                if state in final:
                    raise final_error(f"{what} reached {state} while waiting for {names}", last)
            remaining = give_up_at - clock()
            if remaining <= reserve:
                seen = f"last seen in state {state_of(last)}" if last is not None else "never read"
                message = f"{what} did not reach {names} within {self.timeout:g} s ({seen})"
                raise timeout_error(message, last) from last_error
            await sleep(min(delay * (0.9 + 0.2 * self._runtime.rand()), remaining - reserve))
            delay = min(delay * 1.5, self._max_interval)
