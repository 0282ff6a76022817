"""Bad input wherever it enters: webhook bodies, API responses, decoded JSON, arguments.

Property-based (hypothesis) where the input is open-ended: whatever arrives, only the
documented error types may escape. Every resource method refuses invalid arguments with
``ConfigurationError`` before any request, which FakeCalypso would have recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calypso_async import (
    AccountBalances,
    APIError,
    CalypsoClient,
    CalypsoConnectionError,
    CalypsoError,
    ConfigurationError,
    DecodeError,
    EventType,
    InterventionResolver,
    Invoice,
    InvoiceState,
    SignatureVerificationError,
    WebhookEvent,
    WebhookSubscription,
    parse_event,
    sign,
    webhook_handler,
)
from calypso_async._core import json as _json
from calypso_async._types.converter import structure
from calypso_async.testing import FakeCalypso

SECRET = "whsec-0f1e2d3c4b5a69788796a5b4c3d2e1f0"

FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Modest, database-free settings; fixtures are reused across examples on purpose (the
servers they hold are stateless between examples)."""

# -- strategies ----------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["", " ", "2022-08-25T12:47:28.200475", "2025-07-05T22:31:09.255Z", "NaN"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=8,
)
"""Any JSON value as the SDK's decoder yields it (fractions as Decimal)."""
field_values = (
    scalars
    | st.lists(scalars, max_size=3)
    | st.dictionaries(st.text(max_size=8), scalars, max_size=3)
)
"""What one field of an object may hold: cheaper to draw than ``json_values``."""

INVOICE_KEYS = [
    "id", "invoiceAddress", "type", "amount", "fee", "totalDebitAmount", "currency", "state",
    "lastDepositHash", "description", "createdDate", "idempotencyKey", "expiration",
    "fiatAmount", "fiatCurrency", "lastFiatUpdated", "interventionType",
    "isInterventionResolved", "subscriptionEnabled", "returnUrl", "logoUrl", "supportUrl",
    "externalId", "lowerBound", "autoconversion", "fiatAvailable", "invoicePayments",
]  # fmt: skip
EVENT_KEYS = ["requestId", "id", "createdDate", "level", "service", "eventType", "data"]
DATA_KEYS = ["parentExternalId", "message", "type", "idempotencyKey"]
SUBSCRIPTION_KEYS = [
    "requestId", "notificationEventTypes", "notificationServiceTypes", "url", "publicKey",
    "secretKey", "createdDate", "blockedByErrorCount",
]  # fmt: skip
ACCOUNT_KEYS = ["account", "name", "ownerId", "balances"]


def shaped(keys: list[str], values: st.SearchStrategy[Any] = field_values) -> st.SearchStrategy:
    """Objects with some of the documented keys, each holding anything at all."""
    return st.fixed_dictionaries({}, optional={key: values for key in keys})


events = shaped(EVENT_KEYS).flatmap(
    lambda event: st.builds(
        lambda data, event_type: {**event, "data": data, "eventType": event_type},
        shaped(DATA_KEYS) | field_values,
        st.sampled_from(list(EventType)).map(str) | scalars,
    )
)
"""Webhook events close enough to the real shape to reach the converter's every field."""

MODELS: dict[type, list[str]] = {
    Invoice: INVOICE_KEYS,
    WebhookEvent: EVENT_KEYS,
    WebhookSubscription: SUBSCRIPTION_KEYS,
    AccountBalances: ACCOUNT_KEYS,
}


def as_bytes(value: Any) -> bytes:
    return _json.dumps(value)


# -- parse_event ---------------------------------------------------------------------------


@FUZZ
@given(body=st.binary(max_size=512))
def test_parse_event_on_any_signed_bytes_gives_an_event_or_a_decode_error(body: bytes) -> None:
    """Verified but arbitrary bytes: an event, or DecodeError, never anything else."""
    try:
        event = parse_event(body, {"Sign": sign(body, SECRET)}, SECRET)
    except DecodeError:
        return
    assert isinstance(event, WebhookEvent)


@FUZZ
@given(value=json_values | events)
def test_parse_event_on_any_signed_json_gives_an_event_or_a_decode_error(value: Any) -> None:
    """Any JSON, event-shaped or not: fields come out typed, or DecodeError says why."""
    body = as_bytes(value)
    try:
        event = parse_event(body, {"sign": sign(body, SECRET)}, SECRET)
    except DecodeError:
        return
    assert isinstance(event.event_type, EventType)
    assert isinstance(event.id, str)
    assert event.invoice_id is None or isinstance(event.invoice_id, str)
    assert event.created_date is None or event.created_date.tzinfo is not None


@FUZZ
@given(
    body=st.binary(max_size=256) | events.map(as_bytes),
    headers=st.dictionaries(st.sampled_from(["Sign", "sign", "SIGN", "Key", "X"]), st.text()),
)
def test_parse_event_with_any_headers_refuses_an_unsigned_body(
    body: bytes, headers: dict[str, str]
) -> None:
    """Whatever the headers say, a body not signed with the secret is refused as such."""
    with pytest.raises(SignatureVerificationError):
        parse_event(body, headers, SECRET)


@pytest.mark.parametrize("body", ["{}", {"eventType": "X"}, None, 42, [b"{}"]])
def test_parse_event_refuses_anything_but_raw_bytes(body: Any) -> None:
    """A str, a parsed dict, None or a number is a ConfigurationError, not a crash."""
    with pytest.raises(ConfigurationError):
        parse_event(body, {"Sign": "00"}, SECRET)


# -- the converter -------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("model", list(MODELS), ids=lambda model: model.__name__)
def test_converter_on_any_json_gives_the_model_or_a_decode_error(
    model: type, data: st.DataObject
) -> None:
    """Arbitrary JSON, or the model's keys holding anything: the model or DecodeError."""
    value = data.draw(json_values | shaped(MODELS[model]))
    try:
        result: object = structure(value, model)
    except DecodeError:
        return
    assert isinstance(result, model)


@FUZZ
@given(value=shaped(INVOICE_KEYS, scalars))
def test_converted_invoice_money_is_decimal_and_dates_are_aware(value: dict[str, Any]) -> None:
    """What converts keeps the documented types: Decimal money, aware UTC dates, str ids."""
    try:
        invoice = structure({"id": "i-1", **value}, Invoice)
    except DecodeError:
        return
    for money in (invoice.amount, invoice.fee, invoice.total_debit_amount, invoice.lower_bound):
        assert money is None or (isinstance(money, Decimal) and money.is_finite())
    for date in (invoice.created_date, invoice.expiration, invoice.last_fiat_updated):
        assert date is None or date.utcoffset() is not None
    assert isinstance(invoice.id, str)


# -- the response parser, over a socket ----------------------------------------------------


class RawServer:
    """A TCP server on loopback answering every request with the bytes in ``response``."""

    def __init__(self) -> None:
        self.response = b""
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            writer.write(self.response)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    async with RawServer() as server:
        yield server


header_text = st.text(
    st.characters(min_codepoint=0x20, exclude_categories=["Cc", "Cs"]), max_size=30
)
"""Header values as a server may send them: any text, sent as UTF-8."""
digit_like = st.text(st.sampled_from("0123456789²³¹٣"), min_size=1, max_size=4)
"""What str.isdigit() calls a number of seconds; float() refuses some of it ("²")."""
dates = st.datetimes(timezones=st.just(UTC)).map(format_datetime)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(as_bytes),
    shaped(INVOICE_KEYS).map(as_bytes),
    shaped(["traceId", "errorCode", "message"]).map(as_bytes),
)


def http_response(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode() + body


Call = Callable[[Any], Awaitable[object]]
CALLS: dict[str, Call] = {
    "invoices.get": lambda client: client.invoices.get("inv-1"),
    "webhooks.list": lambda client: client.webhooks.list(),
    "account.balances": lambda client: client.account.balances(),
}


@FUZZ
@given(
    status=st.sampled_from([200, 201, 204, 301, 307, 400, 401, 404, 409, 429, 500, 502, 503])
    | st.integers(200, 599),
    retry_after=st.none() | header_text | st.integers(0, 10**6).map(str) | dates,
    date=st.none() | header_text | dates,
    body=bodies,
)
@pytest.mark.parametrize("call", list(CALLS))
async def test_any_answer_becomes_a_result_or_a_documented_error(
    raw_server: RawServer,
    call: str,
    status: int,
    retry_after: str | None,
    date: str | None,
    body: bytes,
) -> None:
    """Any status, Retry-After, Date and body: a model, or a typed error saying what."""
    headers = [("Content-Type", "application/json")]
    headers += [("Retry-After", retry_after)] if retry_after is not None else []
    headers += [("Date", date)] if date is not None else []
    raw_server.response = http_response(status, headers, body)
    error: CalypsoError | None = None
    async with client_for(raw_server) as client:
        try:
            await CALLS[call](client)
        except (APIError, DecodeError, CalypsoConnectionError) as exc:
            error = exc  # a body a 1xx/204/304 must not carry breaks HTTP: connection error
    if isinstance(error, APIError):
        assert error.status == status
        assert error.retry_after is None or error.retry_after >= 0
    assert error is None or str(error)


@FUZZ
@given(
    status=st.sampled_from([400, 401, 429, 500, 502, 503, 504]),
    retry_after=digit_like | header_text | dates,
)
async def test_any_retry_after_on_an_error_gives_the_typed_error(
    raw_server: RawServer, status: int, retry_after: str
) -> None:
    """A Retry-After that is not ASCII delay-seconds nor an HTTP date is ignored, not a crash."""
    raw_server.response = http_response(status, [("Retry-After", retry_after)], b"")
    async with client_for(raw_server) as client:
        with pytest.raises(APIError) as caught:
            await client.invoices.get("inv-1")
    assert caught.value.status == status
    if retry_after.isascii() and retry_after.strip().isdigit():
        assert caught.value.retry_after == float(retry_after)


@FUZZ
@given(response=st.binary(max_size=300))
async def test_a_broken_http_answer_is_a_connection_or_decode_error(
    raw_server: RawServer, response: bytes
) -> None:
    """Bytes that are not HTTP at all: CalypsoConnectionError (or a typed error if they are)."""
    raw_server.response = response
    async with client_for(raw_server) as client:
        with contextlib.suppress(CalypsoConnectionError, APIError, DecodeError):
            await client.invoices.get("inv-1")


def client_for(server: RawServer) -> CalypsoClient:
    return CalypsoClient(
        api_key="k",
        secret_key="s",
        account="a",
        base_url=f"http://127.0.0.1:{server.port}",
        max_retries=0,
        timeout=5,
    )


# -- arguments: ConfigurationError before any request --------------------------------------

NAIVE = datetime(2030, 1, 1)
Method = Callable[[Any], Awaitable[object]]


def _case(text: str, method: Method) -> Any:
    return pytest.param(method, id=text)


def _single(**override: Any) -> Method:
    args = {"amount": Decimal("1"), "currency": "USDT", "description": "d", **override}
    return lambda client: client.invoices.create_single(**args)


def _fiat(**override: Any) -> Method:
    args = {
        "fiat_amount": Decimal("1"),
        "fiat_currency": "USD",
        "currency": "USDT",
        "description": "d",
        **override,
    }
    return lambda client: client.invoices.create_fiat(**args)


def _unlimited(**override: Any) -> Method:
    args = {"currency": "ETH", "description": "d", **override}
    return lambda client: client.invoices.create_unlimited(**args)


def _bound(**override: Any) -> Method:
    args = {"lower_bound": Decimal("1"), "currency": "USDT", "description": "d", **override}
    return lambda client: client.invoices.create_bound(**args)


def _wait(*states: Any, **override: Any) -> Method:
    return lambda client: client.invoices.wait_for("inv-1", *states, **override)


def _subscribe(**override: Any) -> Method:
    args = {"url": "https://merchant.test/hook", "event_types": ["INVOICE_PAID"], **override}
    return lambda client: client.webhooks.create(**args)


INVALID_CALLS = [
    _case("get-neither", lambda c: c.invoices.get()),
    _case("get-both", lambda c: c.invoices.get("i", idempotency_key="k")),
    _case("get-empty-id", lambda c: c.invoices.get("")),
    _case("get-spaced-id", lambda c: c.invoices.get("a b")),
    _case("get-int-id", lambda c: c.invoices.get(42)),
    _case("get-empty-key", lambda c: c.invoices.get(idempotency_key=" ")),
    *(
        _case(f"single-amount-{name}", _single(amount=value))
        for name, value in [
            ("zero", 0),
            ("negative", Decimal("-1")),
            ("nan", float("nan")),
            ("inf", Decimal("Infinity")),
            ("bool", True),
            ("none", None),
            ("word", "ten"),
            ("list", [1]),
        ]
    ),
    _case("single-currency-empty", _single(currency="")),
    _case("single-currency-spaced", _single(currency="US DT")),
    _case("single-description-blank", _single(description="   ")),
    _case("single-description-huge", _single(description="x" * 5000)),
    _case("single-description-bytes", _single(description=b"order")),
    _case("single-key-spaced", _single(idempotency_key="a key")),
    _case("single-external-id-empty", _single(external_id="")),
    _case("single-expiration-naive", _single(expiration=NAIVE)),
    _case("single-expiration-str", _single(expiration="2030-01-01")),
    _case("single-return-url-ftp", _single(return_url="ftp://merchant.test")),
    _case("single-logo-url-relative", _single(logo_url="/logo.png")),
    _case("single-support-url-int", _single(support_url=5)),
    _case("single-fiat-available-str", _single(fiat_available="yes")),
    _case("fiat-amount-negative", _fiat(fiat_amount=-5)),
    _case("fiat-currency-none", _fiat(fiat_currency=None)),
    _case("fiat-external-id-int", _fiat(external_id=7)),
    _case("unlimited-currency-int", _unlimited(currency=1)),
    _case("unlimited-description-none", _unlimited(description=None)),
    _case("unlimited-return-url-bad", _unlimited(return_url="not a url")),
    _case("bound-lower-bound-zero", _bound(lower_bound="0")),
    _case("bound-fiat-available-int", _bound(fiat_available=1)),
    _case("return-to-paid-empty", lambda c: c.invoices.return_to_paid("")),
    _case("return-to-paid-none", lambda c: c.invoices.return_to_paid(None)),
    _case("close-intervention-spaced", lambda c: c.invoices.close_intervention(" i")),
    _case("wait-no-states", _wait([])),
    _case("wait-str-state", _wait(["PAID"])),
    _case("wait-zero-timeout", _wait(InvoiceState.PAID, timeout=0)),
    _case("wait-bool-interval", _wait(InvoiceState.PAID, interval=True)),
    _case("wait-zero-max-interval", _wait(InvoiceState.PAID, max_interval=0)),
    _case("wait-bad-id", lambda c: c.invoices.wait_for("", InvoiceState.PAID)),
    _case("subscribe-bad-url", _subscribe(url="merchant.test/hook")),
    _case("subscribe-str-event-types", _subscribe(event_types="INVOICE_PAID")),
    _case("subscribe-blank-event-type", _subscribe(event_types=[""])),
    _case("subscribe-int-service-type", _subscribe(service_types=[1])),
    _case("subscribe-nothing", _subscribe(event_types=[])),
    _case("subscribe-spaced-request-id", _subscribe(request_id="a b")),
    _case("unsubscribe-empty", lambda c: c.webhooks.delete("")),
    _case("call-payload-list", lambda c: c.session.call("/api/v1/invoice", ["id"])),
    _case("call-method-get", lambda c: c.session.call("/api/v1/account", method="GET")),
    _case("call-path-relative", lambda c: c.session.call("api/v1/account")),
    _case("call-float-in-payload", lambda c: c.session.call("/api/v1/invoice", {"x": 0.1})),
    _case("resolve-int", lambda c: InterventionResolver(c).resolve(42)),  # type: ignore[arg-type]
    _case("resolve-blank-id", lambda c: InterventionResolver(c).resolve("  ")),
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeCalypso]:
    async with FakeCalypso(settle_delay=None) as server:
        yield server


@pytest.mark.parametrize("method", INVALID_CALLS)
async def test_invalid_arguments_are_refused_before_any_request(
    fake: FakeCalypso, method: Method
) -> None:
    """Every resource method refuses bad arguments with ConfigurationError, sending nothing."""
    async with fake.client() as client:
        with pytest.raises(ConfigurationError):
            await method(client)
    assert fake.calls == []


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.text(max_size=40),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
)

SINGLE_ARGS = [
    "amount", "currency", "description", "idempotency_key", "external_id", "expiration",
    "return_url", "logo_url", "support_url", "fiat_available",
]  # fmt: skip


@FUZZ
@given(name=st.sampled_from(SINGLE_ARGS), value=anything)
async def test_any_argument_value_is_refused_before_sending_or_sent_once(
    fake: FakeCalypso, name: str, value: Any
) -> None:
    """create_single with one argument replaced by anything: ConfigurationError and no
    request, or exactly one request (which the fake may still refuse, as a typed error)."""
    before = len(fake.calls)
    async with fake.client(max_retries=0) as client:
        try:
            await _single(**{name: value})(client)
        except ConfigurationError:
            assert len(fake.calls) == before, f"{name}={value!r} was sent, then refused"
            return
        except CalypsoError:
            pass
    assert len(fake.calls) == before + 1


# -- the webhook adapter ---------------------------------------------------------------------

LIMIT = 1024


class Adapter:
    """The aiohttp adapter on loopback, with what it accepted and the ids it has seen."""

    def __init__(self, post: Callable[..., Awaitable[int]], accepted: list[WebhookEvent]):
        self.post = post
        self.accepted = accepted
        self.seen: set[tuple[str | None, str]] = set()


@pytest.fixture
async def adapter() -> AsyncIterator[Adapter]:
    accepted: list[WebhookEvent] = []
    app = web.Application()
    handler = webhook_handler(SECRET, on_event=accepted.append, max_body_size=LIMIT)
    app.router.add_post("/hook", handler)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:

        async def post(body: Any, headers: dict[str, str]) -> int:
            async with http.post(server.make_url("/hook"), data=body, headers=headers) as r:
                await r.read()
                return r.status

        yield Adapter(post, accepted)


@FUZZ
@given(body=st.binary(max_size=2 * LIMIT) | events.map(as_bytes), signed=st.booleans())
async def test_adapter_answers_any_delivery_with_a_plain_status(
    adapter: Adapter, body: bytes, signed: bool
) -> None:
    """413 beyond the limit, 401 unsigned, 400 not an event, 200 accepted once: never 500."""
    before = len(adapter.accepted)
    headers = {"Sign": sign(body, SECRET if signed else "another secret")}
    status = await adapter.post(body, headers)
    if len(body) > LIMIT:
        assert status == 413
    elif not signed:
        assert status == 401
    else:
        assert status in (200, 400)
    if status != 200:
        assert len(adapter.accepted) == before
        return
    event = parse_event(body, headers, SECRET)
    replay = (event.request_id, event.id) in adapter.seen
    assert len(adapter.accepted) == before + (0 if replay else 1)
    adapter.seen.add((event.request_id, event.id))


async def test_oversized_chunked_body_is_refused_without_a_content_length(
    adapter: Adapter,
) -> None:
    """A streamed body gives no Content-Length to check: it is cut off at the limit."""
    body = b'{"eventType": "INVOICE_PAID", "pad": "' + b"x" * LIMIT + b'"}'

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 256):
            yield body[start : start + 256]

    assert await adapter.post(stream(), {"Sign": sign(body, SECRET)}) == 413
    assert adapter.accepted == []


async def test_body_exactly_at_the_limit_is_accepted(
    adapter: Adapter,
) -> None:
    """The limit is inclusive: a body of exactly max_body_size bytes is read and verified."""
    head = b'{"requestId": "sub-1", "id": 1, "eventType": "INVOICE_PAID", "pad": "'
    body = head + b"x" * (LIMIT - len(head) - 2) + b'"}'
    assert len(body) == LIMIT
    assert await adapter.post(body, {"Sign": sign(body, SECRET)}) == 200
    assert [event.id for event in adapter.accepted] == ["1"]
