"""client.invoices: get, the four creates, state changes and wait_for."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from calypso_async import (
    CalypsoClient,
    CalypsoTimeoutError,
    ConfigurationError,
    DecodeError,
    Invoice,
    InvoiceState,
    InvoiceStateError,
    NotFoundError,
    ServerError,
    WaitTimeoutError,
)
from calypso_async._core.json import loads
from tests.conftest import BASE_URL, FakeTime, load_fixture
from tests.resources.wire import api, payload_of, sent

INVOICE = "/api/v1/invoice"
INVOICE_ID = "d9732536-acdd-41bd-87c3-ec40aeeb6a37"
INVOICE_BODY = load_fixture("invoice_single_overpay.json")

MakeClient = Callable[..., CalypsoClient]


def invoice_body(state: str) -> str:
    """The overpaid invoice fixture, in another state."""
    body = INVOICE_BODY.replace('"state": "PENDING_INTERVENTION"', f'"state": "{state}"')
    assert f'"state": "{state}"' in body
    return body


def answer_states(mock_api: aioresponses, *states: str) -> None:
    for state in states:
        mock_api.post(api(INVOICE), body=invoice_body(state))


# --- get ---------------------------------------------------------------------------------


async def test_get_by_id_sends_the_id_and_returns_the_invoice(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """get(id) posts {"id": id} and returns the Invoice read from the answer."""
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    invoice = await client.invoices.get(INVOICE_ID)
    assert isinstance(invoice, Invoice)
    assert invoice.id == INVOICE_ID
    assert invoice.fee == Decimal("0.000042026017236")
    (call,) = sent(mock_api, INVOICE)
    assert payload_of(call) == {"id": INVOICE_ID}


async def test_get_by_idempotency_key_sends_the_key(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """get(idempotency_key=...) posts {"idempotencyKey": key}."""
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    invoice = await client.invoices.get(idempotency_key="5b0ca8da-6af4-4a1c-9efd-5cbfc19ace09")
    assert invoice.idempotency_key == "5b0ca8da-6af4-4a1c-9efd-5cbfc19ace09"
    (call,) = sent(mock_api, INVOICE)
    assert payload_of(call) == {"idempotencyKey": "5b0ca8da-6af4-4a1c-9efd-5cbfc19ace09"}


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((), {}, id="neither"),
        pytest.param((INVOICE_ID,), {"idempotency_key": "k"}, id="both"),
        pytest.param(("",), {}, id="empty-id"),
        pytest.param(("a b",), {}, id="id-with-space"),
        pytest.param((), {"idempotency_key": "  "}, id="blank-key"),
        pytest.param((42,), {}, id="int-id"),
    ],
)
async def test_get_needs_exactly_one_usable_identifier(
    client: CalypsoClient, mock_api: aioresponses, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Neither, both or a malformed one is a ConfigurationError; nothing is sent."""
    with pytest.raises(ConfigurationError):
        await client.invoices.get(*args, **kwargs)
    assert mock_api.requests == {}


async def test_get_unknown_invoice_is_not_found(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 404 answer is a NotFoundError."""
    mock_api.post(api(INVOICE), status=404, body=load_fixture("error_400.json"))
    with pytest.raises(NotFoundError):
        await client.invoices.get(INVOICE_ID)


@pytest.mark.parametrize("body", ["[]", '"ok"', "", '{"state": "PAID"}'])
async def test_answer_that_is_not_an_invoice_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses, body: str
) -> None:
    """A 200 with no invoice object (or one without an id) is a DecodeError on the path."""
    mock_api.post(api(INVOICE), body=body)
    with pytest.raises(DecodeError) as info:
        await client.invoices.get(INVOICE_ID)
    assert info.value.path == INVOICE


# --- creates -----------------------------------------------------------------------------

EXPIRES = datetime(2025, 7, 5, 22, 31, 9, 255000, tzinfo=UTC)

CREATES = [
    pytest.param(
        "create_single",
        {
            "amount": Decimal("10.234"),
            "currency": "USDT",
            "description": "order 42",
            "idempotency_key": "key-42",
            "external_id": "order-42",
            "expiration": EXPIRES,
            "return_url": "https://shop.example/orders/42",
            "logo_url": "https://shop.example/logo.png",
            "support_url": "https://shop.example/support",
            "fiat_available": True,
        },
        "/api/v1/invoice/single/create",
        {
            "amount": Decimal("10.234"),
            "currency": "USDT",
            "description": "order 42",
            "idempotencyKey": "key-42",
            "externalId": "order-42",
            "expiration": "2025-07-05T22:31:09.255",
            "returnUrl": "https://shop.example/orders/42",
            "logoUrl": "https://shop.example/logo.png",
            "supportUrl": "https://shop.example/support",
            "fiatAvailable": True,
        },
        b'"amount":10.234,',
        id="single",
    ),
    pytest.param(
        "create_fiat",
        {
            "fiat_amount": Decimal("10.23"),
            "fiat_currency": "USD",
            "currency": "USDT",
            "description": "order 43",
            "idempotency_key": "key-43",
            "external_id": "order-43",
        },
        "/api/v1/invoice/single-fiat/create",
        {
            "fiatAmount": Decimal("10.23"),
            "fiatCurrency": "USD",
            "currency": "USDT",
            "description": "order 43",
            "idempotencyKey": "key-43",
            "externalId": "order-43",
        },
        b'"fiatAmount":10.23,',
        id="fiat",
    ),
    pytest.param(
        "create_unlimited",
        {
            "currency": "ETH",
            "description": "invoice for client 1",
            "idempotency_key": "key-44",
            "external_id": "client-1",
            "return_url": "https://shop.example/r",
            "logo_url": "https://shop.example/l.png",
            "support_url": "https://shop.example/s",
            "fiat_available": False,
        },
        "/api/v1/invoice/unlimited/create",
        {
            "currency": "ETH",
            "description": "invoice for client 1",
            "idempotencyKey": "key-44",
            "externalId": "client-1",
            "returnUrl": "https://shop.example/r",
            "logoUrl": "https://shop.example/l.png",
            "supportUrl": "https://shop.example/s",
            "fiatAvailable": False,
        },
        b'"currency":"ETH"',
        id="unlimited",
    ),
    pytest.param(
        "create_bound",
        {
            "lower_bound": Decimal("0.000042026017236"),
            "currency": "BTC",
            "description": "top-up",
            "idempotency_key": "key-45",
            "external_id": "bound-1",
            "fiat_available": True,
            "return_url": "https://shop.example/r",
        },
        "/api/v1/invoice/bound/create",
        {
            "lowerBound": Decimal("0.000042026017236"),
            "currency": "BTC",
            "description": "top-up",
            "idempotencyKey": "key-45",
            "externalId": "bound-1",
            "fiatAvailable": True,
            "returnUrl": "https://shop.example/r",
        },
        b'"lowerBound":0.000042026017236,',
        id="bound",
    ),
]


@pytest.mark.parametrize(("method", "kwargs", "path", "payload", "amount_bytes"), CREATES)
async def test_create_sends_its_path_and_camel_case_payload(
    client: CalypsoClient,
    mock_api: aioresponses,
    method: str,
    kwargs: dict[str, Any],
    path: str,
    payload: dict[str, Any],
    amount_bytes: bytes,
) -> None:
    """Every keyword maps to its wire name; amounts go out as exact JSON numbers."""
    mock_api.post(api(path), body=INVOICE_BODY)
    invoice = await getattr(client.invoices, method)(**kwargs)
    assert invoice.id == INVOICE_ID
    (call,) = sent(mock_api, path)
    assert payload_of(call) == payload
    assert amount_bytes in call.kwargs["data"]


REQUIRED = {
    "create_single": {"amount": "10.234", "currency": "USDT", "description": "order"},
    "create_fiat": {
        "fiat_amount": "10",
        "fiat_currency": "USD",
        "currency": "USDT",
        "description": "order",
    },
    "create_unlimited": {"currency": "ETH", "description": "client 1"},
    "create_bound": {"lower_bound": "1", "currency": "BTC", "description": "top-up"},
}
CREATE_PATHS = {
    "create_single": "/api/v1/invoice/single/create",
    "create_fiat": "/api/v1/invoice/single-fiat/create",
    "create_unlimited": "/api/v1/invoice/unlimited/create",
    "create_bound": "/api/v1/invoice/bound/create",
}


@pytest.mark.parametrize("method", sorted(REQUIRED))
async def test_create_sends_no_optional_field_left_out(
    client: CalypsoClient, mock_api: aioresponses, method: str
) -> None:
    """Options not given are not sent (not even as null); only the key is added."""
    mock_api.post(api(CREATE_PATHS[method]), body=INVOICE_BODY)
    await getattr(client.invoices, method)(**REQUIRED[method])
    (call,) = sent(mock_api, CREATE_PATHS[method])
    sent_keys = set(payload_of(call))
    required_wire = {
        "amount": "amount",
        "fiat_amount": "fiatAmount",
        "fiat_currency": "fiatCurrency",
        "lower_bound": "lowerBound",
        "currency": "currency",
        "description": "description",
    }
    assert sent_keys == {required_wire[k] for k in REQUIRED[method]} | {"idempotencyKey"}
    assert b"null" not in call.kwargs["data"]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        pytest.param(Decimal("10.234"), b'"amount":10.234,', id="decimal"),
        pytest.param("10.2340", b'"amount":10.2340,', id="str-keeps-zero"),
        pytest.param(5, b'"amount":5,', id="int"),
        pytest.param(Decimal("1E-7"), b'"amount":0.0000001,', id="exponent"),
        pytest.param("0.000042026017236", b'"amount":0.000042026017236,', id="tiny"),
    ],
)
async def test_amount_goes_out_digit_for_digit(
    client: CalypsoClient, mock_api: aioresponses, amount: Any, text: bytes
) -> None:
    """Amounts are written exactly, digit for digit."""
    path = CREATE_PATHS["create_single"]
    mock_api.post(api(path), body=INVOICE_BODY)
    await client.invoices.create_single(amount=amount, currency="USDT", description="x")
    (call,) = sent(mock_api, path)
    assert text in call.kwargs["data"]


async def test_expiration_is_sent_in_utc_without_a_zone(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """An aware expiration in any zone is written as the API writes dates: UTC, no zone."""
    path = CREATE_PATHS["create_single"]
    mock_api.post(api(path), body=INVOICE_BODY)
    in_paris_summer = datetime(2025, 7, 6, 0, 31, 9, tzinfo=timezone(timedelta(hours=2)))
    await client.invoices.create_single(
        amount="1", currency="USDT", description="x", expiration=in_paris_summer
    )
    (call,) = sent(mock_api, path)
    assert payload_of(call)["expiration"] == "2025-07-05T22:31:09.000"


BAD_ARGUMENTS = [
    ("create_single", {"amount": True}),
    ("create_single", {"amount": -1}),
    ("create_single", {"amount": 0}),
    ("create_single", {"amount": "0.000"}),
    ("create_single", {"amount": Decimal("NaN")}),
    ("create_single", {"amount": float("nan")}),
    ("create_single", {"amount": float("inf")}),
    ("create_single", {"amount": "ten"}),
    ("create_single", {"amount": None}),
    ("create_single", {"amount": [1]}),
    ("create_single", {"description": ""}),
    ("create_single", {"description": "   "}),
    ("create_single", {"description": "x" * 5000}),
    ("create_single", {"currency": ""}),
    ("create_single", {"currency": "US DT"}),
    ("create_single", {"currency": 5}),
    ("create_single", {"return_url": "ftp://shop.example/r"}),
    ("create_single", {"logo_url": "not a url"}),
    ("create_single", {"support_url": "/support"}),
    ("create_single", {"expiration": datetime(2025, 7, 5, 22, 31)}),
    ("create_single", {"expiration": "2025-07-05T22:31:09Z"}),
    ("create_single", {"fiat_available": "yes"}),
    ("create_single", {"idempotency_key": "has space"}),
    ("create_single", {"external_id": ""}),
    ("create_fiat", {"fiat_amount": 0}),
    ("create_fiat", {"fiat_currency": ""}),
    ("create_unlimited", {"description": ""}),
    ("create_unlimited", {"return_url": "javascript:alert(1)"}),
    ("create_bound", {"lower_bound": Decimal("-5")}),
    ("create_bound", {"lower_bound": False}),
]


@pytest.mark.parametrize(("method", "bad"), BAD_ARGUMENTS, ids=repr)
async def test_bad_create_arguments_fail_before_any_request(
    client: CalypsoClient, mock_api: aioresponses, method: str, bad: dict[str, Any]
) -> None:
    """Bool/non-positive/NaN amounts, empty text, bad currency, URLs or dates: no request."""
    with pytest.raises(ConfigurationError):
        await getattr(client.invoices, method)(**{**REQUIRED[method], **bad})
    assert mock_api.requests == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("return_to_paid", "/api/v1/invoice/return-to-paid"),
        ("close_intervention", "/api/v1/invoice/close-intervention"),
    ],
)
async def test_state_changes_post_the_id_and_return_the_new_invoice(
    client: CalypsoClient, mock_api: aioresponses, method: str, path: str
) -> None:
    """return_to_paid / close_intervention send {"id"} and return the server's invoice."""
    mock_api.post(api(path), body=invoice_body("PAID"))
    invoice = await getattr(client.invoices, method)(INVOICE_ID)
    assert invoice.state is InvoiceState.PAID
    (call,) = sent(mock_api, path)
    assert payload_of(call) == {"id": INVOICE_ID}


@pytest.mark.parametrize("method", ["return_to_paid", "close_intervention"])
async def test_state_changes_need_an_id(
    client: CalypsoClient, mock_api: aioresponses, method: str
) -> None:
    """An empty id fails before anything is sent."""
    with pytest.raises(ConfigurationError):
        await getattr(client.invoices, method)("")
    assert mock_api.requests == {}


# --- wait_for ----------------------------------------------------------------------------


async def test_wait_for_returns_once_the_state_is_reached(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """Polls until COMPLETED and returns that invoice, backing off between polls."""
    answer_states(mock_api, "PENDING_PAYMENT", "MEM_POOL_FOUND", "PAID", "COMPLETED")
    invoice = await client.invoices.wait_for(INVOICE_ID, InvoiceState.COMPLETED)
    assert invoice.state is InvoiceState.COMPLETED
    assert len(sent(mock_api, INVOICE)) == 4
    assert fake_time.sleeps == [1.0, 1.5, 2.25]


async def test_wait_for_returns_at_the_first_of_several_states(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """With several wanted states the first one reached ends the wait."""
    answer_states(mock_api, "PENDING_PAYMENT", "PAID", "COMPLETED")
    invoice = await client.invoices.wait_for(
        INVOICE_ID, [InvoiceState.PAID, InvoiceState.COMPLETED]
    )
    assert invoice.state is InvoiceState.PAID
    assert len(sent(mock_api, INVOICE)) == 2


async def test_wait_for_does_not_sleep_when_already_there(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """An invoice already in the state is returned after one read."""
    answer_states(mock_api, "COMPLETED")
    await client.invoices.wait_for(INVOICE_ID, InvoiceState.COMPLETED)
    assert fake_time.sleeps == []


async def test_wait_for_backs_off_up_to_max_interval(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """Pauses grow by half each time and stop growing at max_interval."""
    answer_states(mock_api, *["PENDING_PAYMENT"] * 6, "COMPLETED")
    await client.invoices.wait_for(
        INVOICE_ID, InvoiceState.COMPLETED, interval=1, max_interval=2, timeout=60
    )
    assert fake_time.sleeps == [1.0, 1.5, 2.0, 2.0, 2.0, 2.0]


async def test_wait_for_jitter_stays_within_ten_percent(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """Jitter spreads waiters by at most ±10 % of the interval."""
    client = make_client(rand=lambda: 0.0)
    answer_states(mock_api, "PENDING_PAYMENT", "COMPLETED")
    await client.invoices.wait_for(INVOICE_ID, InvoiceState.COMPLETED, interval=2)
    assert fake_time.sleeps == [pytest.approx(1.8)]


async def test_wait_for_times_out_with_the_last_invoice(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """Out of time: WaitTimeoutError (a CalypsoTimeoutError) carrying the last invoice."""
    mock_api.post(api(INVOICE), body=invoice_body("PENDING_PAYMENT"), repeat=True)
    with pytest.raises(WaitTimeoutError) as info:
        await client.invoices.wait_for(INVOICE_ID, InvoiceState.COMPLETED, timeout=3)
    error = info.value
    assert isinstance(error, CalypsoTimeoutError)
    assert error.last_invoice is not None
    assert error.last_invoice.state is InvoiceState.PENDING_PAYMENT
    assert "PENDING_PAYMENT" in str(error)
    # The last pause ends a quarter of the timeout early (0.75 s), so the last poll
    # has time to be answered; a pause to the very end would leave it none.
    assert fake_time.sleeps == [1.0, 1.25]
    assert len(sent(mock_api, INVOICE)) == 3


async def test_wait_for_that_never_read_the_invoice_says_so(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """If every poll failed, last_invoice is None and the cause is the last failure."""
    client = make_client(max_retries=0)
    mock_api.post(api(INVOICE), status=503, repeat=True)
    with pytest.raises(WaitTimeoutError) as info:
        await client.invoices.wait_for(INVOICE_ID, InvoiceState.COMPLETED, timeout=2)
    assert info.value.last_invoice is None
    assert isinstance(info.value.__cause__, ServerError)
    assert "never read" in str(info.value)


async def test_wait_for_cuts_short_a_poll_that_outlasts_its_timeout(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """A server that never answers cannot hold wait_for past its timeout.

    Each poll may otherwise take the session's whole deadline (60 s by default).
    """
    client = make_client(clock=time.monotonic, sleep=asyncio.sleep)
    never = asyncio.Event()

    async def hang(url: Any, **kwargs: Any) -> None:
        await never.wait()

    mock_api.post(api(INVOICE), callback=hang, repeat=True)
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as info:
        await client.invoices.wait_for(INVOICE_ID, InvoiceState.COMPLETED, timeout=0.2)
    assert time.monotonic() - started < 2.0
    assert info.value.last_invoice is None
    assert isinstance(info.value.__cause__, TimeoutError)


@pytest.mark.parametrize("final", ["ARCHIVED", "DECLINED", "COMPLETED"])
async def test_wait_for_raises_on_an_unwanted_final_state(
    client: CalypsoClient, mock_api: aioresponses, final: str
) -> None:
    """A final state that is not wanted ends the wait with InvoiceStateError at once."""
    answer_states(mock_api, "PENDING_PAYMENT", final)
    with pytest.raises(InvoiceStateError) as info:
        await client.invoices.wait_for(INVOICE_ID, InvoiceState.PAID)
    assert info.value.invoice.state == final
    assert final in str(info.value)
    assert len(sent(mock_api, INVOICE)) == 2


async def test_wait_for_a_final_state_returns_it(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Waiting for ARCHIVED (expiry) returns when it comes."""
    answer_states(mock_api, "PENDING_PAYMENT", "ARCHIVED")
    invoice = await client.invoices.wait_for(INVOICE_ID, InvoiceState.ARCHIVED)
    assert invoice.state is InvoiceState.ARCHIVED


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param({"status": 503}, id="503"),
        pytest.param({"status": 500}, id="500"),
        pytest.param({"status": 429}, id="429"),
        pytest.param({"exception": aiohttp.ServerDisconnectedError()}, id="disconnected"),
    ],
)
async def test_wait_for_polls_through_a_transient_failure(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime, failure: dict[str, Any]
) -> None:
    """A poll that fails transiently is logged and followed by the next poll."""
    client = make_client(max_retries=0)
    mock_api.post(api(INVOICE), **failure)
    answer_states(mock_api, "COMPLETED")
    invoice = await client.invoices.wait_for(INVOICE_ID, InvoiceState.COMPLETED)
    assert invoice.state is InvoiceState.COMPLETED
    assert len(sent(mock_api, INVOICE)) == 2
    assert fake_time.sleeps == [1.0]


async def test_wait_for_does_not_poll_through_a_permanent_error(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """A 404 is not transient: it is raised from the first poll."""
    mock_api.post(api(INVOICE), status=404, repeat=True)
    with pytest.raises(NotFoundError):
        await client.invoices.wait_for(INVOICE_ID, InvoiceState.COMPLETED)
    assert len(sent(mock_api, INVOICE)) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    ("states", "options"),
    [
        pytest.param([], {}, id="no-states"),
        pytest.param("COMPLETED", {}, id="str-not-member"),
        pytest.param(InvoiceState.COMPLETED, {"timeout": 0}, id="zero-timeout"),
        pytest.param(InvoiceState.COMPLETED, {"interval": -1}, id="negative-interval"),
        pytest.param(InvoiceState.COMPLETED, {"timeout": True}, id="bool-timeout"),
        pytest.param(InvoiceState.COMPLETED, {"max_interval": 0}, id="zero-max-interval"),
    ],
)
async def test_wait_for_refuses_bad_arguments_before_polling(
    client: CalypsoClient, mock_api: aioresponses, states: Any, options: dict[str, Any]
) -> None:
    """No states, a plain string, or a non-positive time or interval is refused."""
    with pytest.raises(ConfigurationError):
        await client.invoices.wait_for(INVOICE_ID, states, **options)
    assert mock_api.requests == {}


async def test_wait_errors_survive_pickling_with_their_invoice(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """WaitTimeoutError and InvoiceStateError keep the invoice across a process boundary."""
    mock_api.post(api(INVOICE), body=invoice_body("PENDING_PAYMENT"))
    mock_api.post(api(INVOICE), body=invoice_body("ARCHIVED"))
    mock_api.post(api(INVOICE), body=invoice_body("PENDING_PAYMENT"), repeat=True)
    with pytest.raises(InvoiceStateError) as state_info:
        await client.invoices.wait_for(INVOICE_ID, InvoiceState.PAID)
    with pytest.raises(WaitTimeoutError) as timeout_info:
        await client.invoices.wait_for(INVOICE_ID, InvoiceState.PAID, timeout=1)
    state_copy = pickle.loads(pickle.dumps(state_info.value))  # noqa: S301 - our own bytes
    assert state_copy.invoice == state_info.value.invoice
    assert str(state_copy) == str(state_info.value)
    timeout_copy = pickle.loads(pickle.dumps(timeout_info.value))  # noqa: S301
    assert timeout_copy.last_invoice == timeout_info.value.last_invoice
    assert timeout_copy.path == INVOICE


@pytest.mark.parametrize("name", ["timeout", "interval", "max_interval"])
async def test_wait_for_refuses_nan_seconds(client: CalypsoClient, name: str) -> None:
    """A NaN wait would never end: it is refused before any request."""
    with pytest.raises(ConfigurationError, match=name):
        await client.invoices.wait_for("x", InvoiceState.COMPLETED, **{name: float("nan")})


async def test_a_failed_create_carries_the_idempotency_key_it_sent(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """After an ambiguous failure the generated key is on the error, to find or retry."""
    for _ in range(3):
        mock_api.post(f"{BASE_URL}/api/v1/invoice/single/create", status=503)
    with pytest.raises(ServerError) as caught:
        await client.invoices.create_single(amount="1", currency="USDT", description="d")
    sent = mock_api.requests[("POST", URL(f"{BASE_URL}/api/v1/invoice/single/create"))]
    keys = {loads(call.kwargs["data"])["payload"]["idempotencyKey"] for call in sent}
    assert keys == {caught.value.idempotency_key}
