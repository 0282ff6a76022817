"""What the reliability tests share: the fault catalogue, a clock that never waits, and
ways of reading FakeCalypso's records as "what did the server actually do".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

import attrs
from aiohttp import web

from calypso_async import (
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    DecodeError,
    RateLimitError,
    ServerError,
)
from calypso_async.testing import FakeCalypso, RecordedCall

GET = "/api/v1/invoice"
CREATE = "/api/v1/invoice/single/create"
RTP = "/api/v1/invoice/return-to-paid"
CLOSE = "/api/v1/invoice/close-intervention"

AMOUNT = Decimal("10.234")
OVERPAID = Decimal("10.50")
UNDERPAID = Decimal("10.00")

ATTEMPT_TIMEOUT = 0.2
"""Seconds one attempt may take in the timing faults (real seconds: it is a socket)."""
SLOW = 0.6
"""Seconds the fake sits on an answer in the timing faults: beyond every timeout."""
SHORT_DEADLINE = 0.15
"""Seconds a whole call may take in the "slow beyond the deadline" fault."""

HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


class Clock:
    """Monotonic time in which sleeping costs nothing: real elapsed seconds plus slept ones.

    Pass ``clock=`` and ``sleep=`` of a client: backoffs, ``Retry-After`` and the
    resolver's polling move the clock on at once, while timeouts stay real.

    Args:
        on_sleep: Awaited on every sleep, such as settling PAID invoices (Calypso's part).
        real_pause: Real seconds each sleep still yields, to let the fake's timers run.
    """

    def __init__(
        self,
        on_sleep: Callable[[], Awaitable[None]] | None = None,
        *,
        real_pause: float = 0.0,
    ) -> None:
        self.slept = 0.0
        self.sleeps: list[float] = []
        self._on_sleep = on_sleep
        self._real_pause = real_pause

    def __call__(self) -> float:
        return time.monotonic() + self.slept

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.slept += seconds
        if self._on_sleep is not None:
            await self._on_sleep()
        await asyncio.sleep(min(seconds, self._real_pause))


def settler(fake: FakeCalypso) -> Callable[[], Awaitable[None]]:
    """Return a coroutine function settling every PAID invoice (Calypso does it by itself)."""

    async def settle() -> None:
        for invoice in fake.invoices:
            if invoice["state"] == "PAID":
                await fake.settle(invoice["id"])

    return settle


# -- the fault catalogue -------------------------------------------------------------------


@attrs.frozen
class Fault:
    """One way a call can go wrong, with what it means for the call it strikes once.

    Attributes:
        name: The test id.
        inject: Queues the fault for the next call to a path.
        acts: The server carries the call out before the fault strikes.
        recovers: A call the SDK may repeat (read, keyed create) gets through in time.
        error: The typed error the caller sees when it does not.
        options: Client settings the fault needs (timeouts).
    """

    name: str
    inject: Callable[[FakeCalypso, str], None]
    acts: bool
    recovers: bool
    error: type[CalypsoError]
    options: Mapping[str, Any] = attrs.field(factory=dict)


def _status(status: int, *, after: bool, retry_after: str | None = None) -> Fault:
    error: type[CalypsoError] = RateLimitError if status == 429 else ServerError
    name = f"{status}" + ("+Retry-After" if retry_after else "") + ("-after" if after else "")

    def inject(fake: FakeCalypso, path: str) -> None:
        fake.fail(path, status, retry_after=retry_after, after_action=after)

    return Fault(name, inject, acts=after, recovers=status != 500, error=error)


def _drop(*, after: bool) -> Fault:
    def inject(fake: FakeCalypso, path: str) -> None:
        fake.drop(path, after_action=after)

    name = "dropped-after-acting" if after else "dropped-before-acting"
    return Fault(name, inject, acts=after, recovers=True, error=CalypsoConnectionError)


def _empty_200(*, after: bool) -> Fault:
    def inject(fake: FakeCalypso, path: str) -> None:
        fake.fail(path, 200, body=b"", after_action=after)

    name = "empty-200-after" if after else "empty-200"
    return Fault(name, inject, acts=after, recovers=False, error=DecodeError)


def _html_error(status: int) -> Fault:
    def inject(fake: FakeCalypso, path: str) -> None:
        fake.fail(path, status, body=HTML)

    return Fault(
        f"{status}-html-body", inject, acts=False, recovers=status != 500, error=ServerError
    )


def _slow(fake: FakeCalypso, path: str) -> None:
    fake.delay(path, SLOW)  # acts first, then sits on the answer


def _garbage(fake: FakeCalypso, path: str) -> None:
    fake.garbage(path)


FAULTS: tuple[Fault, ...] = (
    *(_status(status, after=after) for status in (500, 502, 503, 504) for after in (False, True)),
    _status(429, after=False),
    _status(429, after=False, retry_after="2"),
    _drop(after=False),
    _drop(after=True),
    Fault(
        "read-timeout",
        _slow,
        acts=True,
        recovers=True,
        error=CalypsoTimeoutError,
        options={"timeout": ATTEMPT_TIMEOUT},
    ),
    Fault(
        "slow-beyond-deadline",
        _slow,
        acts=True,
        recovers=False,
        error=CalypsoTimeoutError,
        options={"timeout": 5.0, "deadline": SHORT_DEADLINE},
    ),
    Fault("body-not-json", _garbage, acts=True, recovers=False, error=DecodeError),
    _html_error(503),
    _html_error(500),
    _empty_200(after=False),
    _empty_200(after=True),
)
"""Every fault of the matrix: statuses (before and after the server acted), 429 with and
without Retry-After, dropped connections, a read timeout, an answer slower than the
deadline, bodies that are not JSON (success and error), and empty 200s."""

FAULTS_BY_NAME = {fault.name: fault for fault in FAULTS}


# -- reading the server's records ----------------------------------------------------------


def calls_for(fake: FakeCalypso, path: str, invoice_id: str) -> list[RecordedCall]:
    """The calls to ``path`` naming ``invoice_id`` in their payload."""
    return [c for c in fake.calls_to(path) if (c.payload or {}).get("id") == invoice_id]


class Writes(NamedTuple):
    """What one write path saw for one invoice.

    Attributes:
        received: Requests that reached the fake.
        carried_out: Requests the fake processed successfully (whatever the client heard).
        refused: Requests the fake processed and refused: for return-to-paid or
            close-intervention, a write sent when the invoice was no longer in the state
            for it, that is, a blind second write.
    """

    received: int
    carried_out: int
    refused: int


def writes(fake: FakeCalypso, path: str, invoice_id: str) -> Writes:
    """Count what the fake did with the writes to ``path`` for ``invoice_id``."""
    calls = calls_for(fake, path, invoice_id)
    return Writes(
        received=len(calls),
        carried_out=sum(1 for c in calls if c.processed_status == 200),
        refused=sum(1 for c in calls if c.processed_status not in (None, 200)),
    )


def refused_before_processing(fake: FakeCalypso, path: str, invoice_id: str) -> int:
    """Calls to ``path`` for ``invoice_id`` that an injected fault answered (or dropped)
    before the fake processed them: they never reached the server proper."""
    return sum(
        1
        for c in calls_for(fake, path, invoice_id)
        if c.processed_status is None and (c.status is not None or c.dropped)
    )


# -- a webhook receiver whose handler can be replaced (a process restart) ------------------


class Receiver:
    """An aiohttp.web server on loopback that hands every POST to ``handler``."""

    def __init__(self) -> None:
        self.handler: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.handler is None:
            return web.Response(status=503)
        return await self.handler(request)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/calypso", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/calypso"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
