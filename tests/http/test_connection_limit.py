"""Calls beyond the connection limit wait in line, outside their attempt timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from calypso_async import CalypsoClient, CalypsoTimeoutError, LifecycleError, sign
from calypso_async._core.json import loads
from tests.conftest import ACCOUNT, API_KEY, BASE_URL, SECRET_KEY, FakeTime, load_fixture

INVOICE_URL = BASE_URL + "/api/v1/invoice"
INVOICE_BODY = load_fixture("invoice_single_overpay.json")
INVOICE_ID = "d9732536-acdd-41bd-87c3-ec40aeeb6a37"

MakeClient = Callable[..., CalypsoClient]


class Server:
    """An aioresponses callback that counts requests on the wire and holds them."""

    def __init__(self, hold: float | None = None) -> None:
        self.on_the_wire = 0
        self.most_on_the_wire = 0
        self.received = 0
        self.hold = hold
        self.release = asyncio.Event()

    async def answer(self, url: Any, **kwargs: Any) -> CallbackResult:
        self.received += 1
        self.on_the_wire += 1
        self.most_on_the_wire = max(self.most_on_the_wire, self.on_the_wire)
        try:
            if self.hold is None:
                await self.release.wait()
            else:
                await asyncio.sleep(self.hold)
        finally:
            self.on_the_wire -= 1
        return CallbackResult(status=200, body=INVOICE_BODY)


def serve(mock_api: aioresponses, server: Server) -> None:
    # One repeating match: aioresponses would hand one single-use match to two requests
    # that wait in their callbacks at the same time.
    mock_api.post(INVOICE_URL, callback=server.answer, repeat=True)


async def test_calls_beyond_the_connection_limit_wait_in_line(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """With connection_limit=2, five calls at once never put more than two on the wire."""
    client = make_client(connection_limit=2)
    server = Server()
    serve(mock_api, server)
    calls = [asyncio.create_task(client.invoices.get(INVOICE_ID)) for _ in range(5)]
    for _ in range(10):
        await asyncio.sleep(0)
    assert server.on_the_wire == 2
    server.release.set()
    invoices = await asyncio.gather(*calls)
    assert [invoice.id for invoice in invoices] == [INVOICE_ID] * 5
    assert server.most_on_the_wire == 2
    assert server.received == 5


async def test_waiting_in_line_does_not_count_against_the_attempt_timeout(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """Each attempt's timeout starts once it has a connection, not while it waits for one."""
    # Each answer takes 60 ms and an attempt may take 100 ms: the third call waits 120 ms
    # in line, which must not time it out.
    client = make_client(connection_limit=1, timeout=0.1, max_retries=0)
    server = Server(hold=0.06)
    serve(mock_api, server)
    invoices = await asyncio.gather(*(client.invoices.get(INVOICE_ID) for _ in range(3)))
    assert len(invoices) == 3
    assert server.most_on_the_wire == 1


async def test_a_call_whose_deadline_passes_in_line_is_never_sent(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """The deadline bounds the wait for a connection; the call then fails unsent."""
    client = make_client(connection_limit=1, deadline=0.05)
    server = Server()
    server.release.set()
    serve(mock_api, server)
    await client.invoices.get(INVOICE_ID)
    # Every connection busy for longer than the deadline: hold the only place ourselves,
    # since a call holding it would itself be cut by the same 50 ms deadline.
    gate = client.session._shared.gate
    assert gate is not None
    assert gate.enter_now()
    with pytest.raises(CalypsoTimeoutError, match="waiting for a free connection") as info:
        await client.invoices.get(INVOICE_ID)
    assert info.value.path == "/api/v1/invoice"
    assert server.received == 1
    gate.leave()
    await client.invoices.get(INVOICE_ID)  # the place it never used was not lost


async def test_a_call_left_with_too_little_time_after_the_line_is_not_sent(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """A write sent with a sliver of its deadline left could only end "may have acted"."""
    client = make_client(connection_limit=1, deadline=10)
    server = Server()
    server.release.set()
    serve(mock_api, server)
    await client.invoices.get(INVOICE_ID)
    gate = client.session._shared.gate
    assert gate is not None
    assert gate.enter_now()  # every connection busy
    waiting = asyncio.create_task(client.invoices.return_to_paid(INVOICE_ID))
    await asyncio.sleep(0)
    fake_time.now += 9.5  # half a second left: less than the one an attempt needs
    gate.leave()
    with pytest.raises(CalypsoTimeoutError, match="nothing sent"):
        await waiting
    assert server.received == 1
    assert gate.enter_now(), "the place it did not use was handed back"


async def test_closing_the_client_while_calls_wait_in_line_says_so(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """A call still in line when the client closes raises LifecycleError, not aiohttp's."""
    client = make_client(connection_limit=1)
    server = Server()
    serve(mock_api, server)
    first = asyncio.create_task(client.invoices.get(INVOICE_ID))
    waiting = asyncio.create_task(client.invoices.get(INVOICE_ID))
    for _ in range(5):
        await asyncio.sleep(0)
    await client.aclose()
    server.release.set()
    await asyncio.gather(first, return_exceptions=True)
    with pytest.raises(LifecycleError, match="closed"):
        await waiting
    assert server.received == 1


async def test_a_borrowed_sessions_connector_limit_is_kept(mock_api: aioresponses) -> None:
    """A borrowed session's own connection limit bounds the calls on the wire too."""
    server = Server()
    serve(mock_api, server)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=3)) as http,
        CalypsoClient(
            api_key=API_KEY, secret_key=SECRET_KEY, account=ACCOUNT, base_url=BASE_URL, session=http
        ) as client,
    ):
        calls = [asyncio.create_task(client.invoices.get(INVOICE_ID)) for _ in range(4)]
        for _ in range(10):
            await asyncio.sleep(0)
        assert server.on_the_wire == 3
        server.release.set()
        await asyncio.gather(*calls)
    assert server.most_on_the_wire == 3


async def test_a_call_that_waited_in_line_is_timestamped_when_it_is_sent(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """The envelope is built and signed once a connection is free, not before the wait."""
    client = make_client(connection_limit=1, deadline=300)
    server = Server()
    server.release.set()
    serve(mock_api, server)
    await client.invoices.get(INVOICE_ID)
    gate = client.session._shared.gate
    assert gate is not None
    assert gate.enter_now()  # every connection busy
    waiting = asyncio.create_task(client.invoices.get(INVOICE_ID))
    await asyncio.sleep(0)
    fake_time.now += 120  # two minutes in line
    gate.leave()
    await waiting
    last = mock_api.requests[("POST", URL(INVOICE_URL))][-1]
    envelope = loads(last.kwargs["data"])
    assert envelope["timestamp"] == int(fake_time.now * 1000)
    assert last.kwargs["headers"]["Sign"] == sign(last.kwargs["data"], SECRET_KEY)
