"""The session layer: signed envelopes, typed errors, safe retries, clock skew, lifecycle."""

from __future__ import annotations

import json
import logging
import pickle
import traceback
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from email.utils import formatdate
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from aioresponses import aioresponses
from aioresponses.core import RequestCall
from yarl import URL

from calypso_async import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CalypsoClient,
    CalypsoConnectionError,
    CalypsoSession,
    CalypsoTimeoutError,
    ConfigurationError,
    DecodeError,
    EventType,
    LifecycleError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    sign,
)
from calypso_async._aio import Timeouts
from calypso_async._core.json import dumps, loads
from tests.conftest import ACCOUNT, API_KEY, BASE_URL, SECRET_KEY, FakeTime, load_fixture

INVOICE = "/api/v1/invoice"
RETURN_TO_PAID = "/api/v1/invoice/return-to-paid"
CLOSE_INTERVENTION = "/api/v1/invoice/close-intervention"
CREATE_SINGLE = "/api/v1/invoice/single/create"
INVOICE_ID = "d9732536-acdd-41bd-87c3-ec40aeeb6a37"
INVOICE_BODY = load_fixture("invoice_single_overpay.json")

MakeClient = Callable[..., CalypsoClient]


def api(path: str) -> str:
    return BASE_URL + path


def sent(mock_api: aioresponses, path: str, method: str = "POST") -> list[RequestCall]:
    """The requests that went to ``path``, in order."""
    return list(mock_api.requests.get((method, URL(api(path))), []))


def envelope(call: RequestCall) -> Any:
    return loads(call.kwargs["data"])


def connector_error() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("api.calypso.test", 443, True, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))


# --- what goes on the wire -------------------------------------------------------------


async def test_sent_bytes_are_exactly_the_signed_bytes(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """The Sign header is the HMAC of the very bytes sent (nothing re-serialised)."""
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    (call,) = sent(mock_api, INVOICE)
    data = call.kwargs["data"]
    assert isinstance(data, bytes)
    assert call.kwargs["headers"]["Sign"] == sign(data, SECRET_KEY)


async def test_every_request_carries_key_sign_and_json_content_type(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Key is the public API key, Sign is 128 hex digits, the body is declared JSON."""
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    (call,) = sent(mock_api, INVOICE)
    headers = call.kwargs["headers"]
    assert headers["Key"] == API_KEY
    assert headers["Content-Type"] == "application/json"
    assert len(headers["Sign"]) == 128
    assert SECRET_KEY not in json.dumps(dict(headers))


Operation = Callable[[CalypsoClient], Awaitable[object]]

OPERATIONS = [
    pytest.param(
        lambda c: c.invoices.get(INVOICE_ID),
        "POST",
        INVOICE,
        {"id": INVOICE_ID},
        INVOICE_BODY,
        id="invoices.get",
    ),
    pytest.param(
        lambda c: c.invoices.create_single(
            amount=Decimal("10.234"), currency="USDT", description="order 42", idempotency_key="k1"
        ),
        "POST",
        CREATE_SINGLE,
        {
            "amount": Decimal("10.234"),
            "currency": "USDT",
            "description": "order 42",
            "idempotencyKey": "k1",
        },
        INVOICE_BODY,
        id="invoices.create_single",
    ),
    pytest.param(
        lambda c: c.invoices.return_to_paid(INVOICE_ID),
        "POST",
        RETURN_TO_PAID,
        {"id": INVOICE_ID},
        INVOICE_BODY,
        id="invoices.return_to_paid",
    ),
    pytest.param(
        lambda c: c.invoices.close_intervention(INVOICE_ID),
        "POST",
        CLOSE_INTERVENTION,
        {"id": INVOICE_ID},
        INVOICE_BODY,
        id="invoices.close_intervention",
    ),
    pytest.param(
        lambda c: c.webhooks.list(),
        "POST",
        "/api/v1/subscription/webhook",
        None,
        load_fixture("subscriptions_list.json"),
        id="webhooks.list",
    ),
    pytest.param(
        lambda c: c.webhooks.create(
            url="https://shop.example/hook",
            event_types=[EventType.INVOICE_PENDING_INTERVENTION],
            request_id="r1",
        ),
        "POST",
        "/api/v1/subscription/webhook/create",
        {
            "requestId": "r1",
            "url": "https://shop.example/hook",
            "notificationEventTypes": ["INVOICE_PENDING_INTERVENTION"],
        },
        load_fixture("subscription.json"),
        id="webhooks.create",
    ),
    pytest.param(
        lambda c: c.webhooks.delete("r1"),
        "DELETE",
        "/api/v1/subscription/webhook",
        {"requestId": "r1"},
        "",
        id="webhooks.delete",
    ),
    pytest.param(
        lambda c: c.account.balances(),
        "POST",
        "/api/v1/account",
        None,
        load_fixture("account.json"),
        id="account.balances",
    ),
]


@pytest.mark.parametrize(("operation", "method", "path", "payload", "answer"), OPERATIONS)
async def test_envelope_shape_per_operation(
    client: CalypsoClient,
    mock_api: aioresponses,
    operation: Operation,
    method: str,
    path: str,
    payload: dict[str, Any] | None,
    answer: str,
) -> None:
    """{timestamp, account[, payload]} in that order; payload omitted where none is sent."""
    mock_api.add(api(path), method=method, body=answer)
    await operation(client)
    (call,) = sent(mock_api, path, method)
    body = envelope(call)
    if payload is None:
        assert list(body) == ["timestamp", "account"]
    else:
        assert list(body) == ["timestamp", "account", "payload"]
        assert body["payload"] == payload
    assert body["account"] == ACCOUNT
    assert call.kwargs["headers"]["Sign"] == sign(call.kwargs["data"], SECRET_KEY)


async def test_timestamp_is_the_wall_clock_in_milliseconds(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """The envelope's timestamp is Unix time in ms from the injected wall clock."""
    fake_time.now = 1_700_000_123.25
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    (call,) = sent(mock_api, INVOICE)
    assert envelope(call)["timestamp"] == 1_700_000_123_250


@pytest.mark.parametrize(
    "payload",
    [None, {}, {"id": "inv-1"}, {"amount": Decimal("10.50"), "tags": ["a", 1, True, None]}],
    ids=repr,
)
def test_envelope_bytes_are_the_compact_json_of_the_envelope_dict(payload: Any) -> None:
    """The signed body is the compact ASCII JSON of {timestamp, account[, payload]}."""
    account = 'acct-\u00e9"quoted"'
    session = CalypsoSession(
        api_key=API_KEY, secret_key=SECRET_KEY, account=account, wall_clock=lambda: 1_700_000_000.5
    )
    expected: dict[str, Any] = {"timestamp": 1_700_000_000_500, "account": account}
    if payload is not None:
        expected["payload"] = payload
    assert session.envelope(payload) == dumps(expected)


async def test_session_call_returns_json_with_decimal_money(mock_api: aioresponses) -> None:
    """A CalypsoSession works on its own and returns JSON whose fractions are Decimal."""
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    async with CalypsoSession(
        api_key=API_KEY, secret_key=SECRET_KEY, account=ACCOUNT, base_url=BASE_URL
    ) as session:
        data = await session.call(INVOICE, {"id": INVOICE_ID})
    assert data["fee"] == Decimal("0.000042026017236")
    assert str(data["fee"]) == "0.000042026017236"


@pytest.mark.parametrize(
    ("payload", "method", "path"),
    [
        pytest.param({"amount": 10.5}, "POST", INVOICE, id="float-in-payload"),
        pytest.param({"amount": Decimal("NaN")}, "POST", INVOICE, id="nan-in-payload"),
        pytest.param(["id"], "POST", INVOICE, id="payload-not-a-mapping"),
        pytest.param({"id": "x"}, "GET", INVOICE, id="unsupported-method"),
        pytest.param({"id": "x"}, "POST", "api/v1/invoice", id="relative-path"),
    ],
)
async def test_unsendable_call_is_refused_before_any_request(
    client: CalypsoClient, mock_api: aioresponses, payload: Any, method: Any, path: str
) -> None:
    """A payload or call that cannot be sent is a ConfigurationError; nothing goes out."""
    with pytest.raises(ConfigurationError):
        await client.session.call(path, payload, method=method)
    assert mock_api.requests == {}


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, APIError),
    ],
)
async def test_error_status_becomes_its_typed_error_with_calypso_details(
    make_client: MakeClient, mock_api: aioresponses, status: int, error_class: type[APIError]
) -> None:
    """Each status maps to its class, carrying status, errorCode, traceId, message, path."""
    client = make_client(max_retries=0)
    mock_api.post(api(INVOICE), status=status, body=load_fixture("error_400.json"))
    with pytest.raises(APIError) as info:
        await client.session.call(INVOICE, {"id": INVOICE_ID})
    error = info.value
    assert type(error) is error_class
    assert error.status == status
    assert error.error_code == "VALIDATION_ERROR"
    assert error.trace_id == "3f2a9c1e7b5d4a68"
    assert error.message == "currency is not supported"
    assert error.path == INVOICE
    text = str(error)
    for part in (str(status), "VALIDATION_ERROR", "3f2a9c1e7b5d4a68", INVOICE):
        assert part in text


@pytest.mark.parametrize(
    ("status", "error_class"), [(400, BadRequestError), (404, NotFoundError), (502, ServerError)]
)
async def test_non_json_error_body_is_still_a_typed_error_with_the_status(
    make_client: MakeClient, mock_api: aioresponses, status: int, error_class: type[APIError]
) -> None:
    """A proxy's HTML error page still gives the right class and status."""
    client = make_client(max_retries=0)
    mock_api.post(
        api(INVOICE),
        status=status,
        body="<html><body><h1>Bad Gateway</h1></body></html>",
        content_type="text/html",
    )
    with pytest.raises(error_class) as info:
        await client.invoices.get(INVOICE_ID)
    assert info.value.status == status
    assert info.value.error_code is None
    assert info.value.trace_id is None
    assert "not a Calypso error object" in info.value.message
    assert str(status) in str(info.value)


@pytest.mark.parametrize(
    ("status", "error_class"), [(401, AuthenticationError), (503, ServerError)]
)
async def test_empty_error_body_is_still_a_typed_error_with_the_status(
    make_client: MakeClient, mock_api: aioresponses, status: int, error_class: type[APIError]
) -> None:
    """No body at all still gives the right class and status, and says it had no details."""
    client = make_client(max_retries=0)
    mock_api.post(api(INVOICE), status=status, body="")
    with pytest.raises(error_class) as info:
        await client.invoices.get(INVOICE_ID)
    assert info.value.status == status
    assert "no error details" in info.value.message


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_says_what_to_check(
    make_client: MakeClient, mock_api: aioresponses, status: int
) -> None:
    """401/403 (not about the timestamp) point at the credentials, by name only."""
    client = make_client(max_retries=0)
    mock_api.post(api(INVOICE), status=status, body='{"errorCode": "INVALID_SIGNATURE"}')
    with pytest.raises(AuthenticationError) as info:
        await client.invoices.get(INVOICE_ID)
    assert "check api_key, secret_key and account" in str(info.value)
    assert SECRET_KEY not in str(info.value)


async def test_errors_survive_pickling_with_their_details(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """An error sent to another process (multiprocessing) keeps its class and details."""
    client = make_client(max_retries=0)
    mock_api.post(api(INVOICE), status=429, body=load_fixture("error_400.json"))
    mock_api.post(api(INVOICE), exception=aiohttp.ServerDisconnectedError())
    errors: list[Exception] = []
    for _ in range(2):
        with pytest.raises((RateLimitError, CalypsoConnectionError)) as info:
            await client.invoices.get(INVOICE_ID)
        errors.append(info.value)
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert vars(copy) == vars(error)
    assert pickle.loads(pickle.dumps(errors[0])).trace_id == "3f2a9c1e7b5d4a68"  # noqa: S301


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_not_followed(
    client: CalypsoClient, mock_api: aioresponses, status: int
) -> None:
    """A redirect (possibly to plain http, elsewhere) is an APIError, never followed."""
    elsewhere = "http://evil.example/api/v1/invoice"
    mock_api.post(api(INVOICE), status=status, headers={"Location": elsewhere})
    mock_api.post(elsewhere, body=INVOICE_BODY)
    mock_api.get(elsewhere, body=INVOICE_BODY)
    with pytest.raises(APIError) as info:
        await client.invoices.get(INVOICE_ID)
    assert info.value.status == status
    assert [key for key in mock_api.requests if key[1].host == "evil.example"] == []


async def test_success_with_a_non_json_body_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 200 whose body is not JSON raises DecodeError naming the path and status."""
    mock_api.post(api(INVOICE), body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(DecodeError) as info:
        await client.session.call(INVOICE, {"id": INVOICE_ID})
    assert info.value.path == INVOICE
    assert info.value.status == 200
    assert len(sent(mock_api, INVOICE)) == 1


@pytest.mark.parametrize("body", ["", "  \n"])
async def test_empty_success_body_is_none(
    client: CalypsoClient, mock_api: aioresponses, body: str
) -> None:
    """An empty 2xx body is None from session.call."""
    mock_api.post(api(INVOICE), body=body)
    assert await client.session.call(INVOICE, {"id": INVOICE_ID}) is None


@pytest.mark.parametrize(
    "exception",
    [
        pytest.param(lambda: aiohttp.ClientConnectionError("reset by peer"), id="connection"),
        pytest.param(aiohttp.ServerDisconnectedError, id="server-disconnected"),
        pytest.param(connector_error, id="connector"),
    ],
)
async def test_connection_failure_is_a_calypso_connection_error(
    make_client: MakeClient, mock_api: aioresponses, exception: Callable[[], Exception]
) -> None:
    """aiohttp connection errors surface as CalypsoConnectionError, chained to the cause."""
    client = make_client(max_retries=0)
    original = exception()
    mock_api.post(api(INVOICE), exception=original)
    with pytest.raises(CalypsoConnectionError) as info:
        await client.invoices.get(INVOICE_ID)
    assert info.value.path == INVOICE
    assert info.value.__cause__ is original


async def test_attempt_timeout_is_a_calypso_timeout_error(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """A timed-out attempt is CalypsoTimeoutError, which is also a TimeoutError."""
    client = make_client(max_retries=0)
    mock_api.post(api(INVOICE), exception=TimeoutError())
    with pytest.raises(CalypsoTimeoutError) as info:
        await client.invoices.get(INVOICE_ID)
    assert isinstance(info.value, TimeoutError)
    assert info.value.path == INVOICE


# --- retries -----------------------------------------------------------------------------

RETRYABLE_FAILURES = [
    pytest.param(lambda: {"exception": aiohttp.ServerDisconnectedError()}, id="disconnected"),
    pytest.param(lambda: {"exception": TimeoutError()}, id="timeout"),
    pytest.param(lambda: {"exception": connector_error()}, id="never-connected"),
    pytest.param(lambda: {"status": 429}, id="429"),
    pytest.param(lambda: {"status": 502}, id="502"),
    pytest.param(lambda: {"status": 503}, id="503"),
    pytest.param(lambda: {"status": 504}, id="504"),
]


@pytest.mark.parametrize("failure", RETRYABLE_FAILURES)
async def test_retryable_failure_is_retried_with_fresh_timestamp_and_signature(
    client: CalypsoClient,
    mock_api: aioresponses,
    fake_time: FakeTime,
    failure: Callable[[], dict[str, Any]],
) -> None:
    """Two failures then success: three attempts, each freshly stamped and signed."""
    mock_api.post(api(INVOICE), **failure())
    mock_api.post(api(INVOICE), **failure())
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    invoice = await client.invoices.get(INVOICE_ID)
    assert invoice.id == INVOICE_ID
    calls = sent(mock_api, INVOICE)
    assert len(calls) == 3
    stamps = [envelope(call)["timestamp"] for call in calls]
    assert stamps[0] < stamps[1] < stamps[2]
    signatures = [call.kwargs["headers"]["Sign"] for call in calls]
    assert len(set(signatures)) == 3
    for call in calls:
        assert call.kwargs["headers"]["Sign"] == sign(call.kwargs["data"], SECRET_KEY)
    # Full jitter with rand=0.5: half of 0.25 s, then half of 0.5 s.
    assert fake_time.sleeps == [0.125, 0.25]


@pytest.mark.parametrize(("status", "error_class"), [(500, ServerError), (400, BadRequestError)])
async def test_500_and_400_are_not_retried(
    client: CalypsoClient,
    mock_api: aioresponses,
    fake_time: FakeTime,
    status: int,
    error_class: type[APIError],
) -> None:
    """A plain 500 or a 400 is an answer, not a "try later": one request only."""
    mock_api.post(api(INVOICE), status=status, body=load_fixture("error_400.json"), repeat=True)
    with pytest.raises(error_class):
        await client.invoices.get(INVOICE_ID)
    assert len(sent(mock_api, INVOICE)) == 1
    assert fake_time.sleeps == []


async def test_max_retries_zero_disables_retrying(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """max_retries=0 sends one request and raises at once."""
    client = make_client(max_retries=0)
    mock_api.post(api(INVOICE), status=503, repeat=True)
    with pytest.raises(ServerError):
        await client.invoices.get(INVOICE_ID)
    assert len(sent(mock_api, INVOICE)) == 1
    assert fake_time.sleeps == []


async def test_three_attempts_by_default_then_the_typed_error(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """A server that keeps failing gets three attempts, then its error is raised."""
    mock_api.post(api(INVOICE), status=503, body=load_fixture("error_400.json"), repeat=True)
    with pytest.raises(ServerError) as info:
        await client.invoices.get(INVOICE_ID)
    assert info.value.status == 503
    assert len(sent(mock_api, INVOICE)) == 3
    assert len(fake_time.sleeps) == 2


async def test_more_retries_back_off_up_to_the_cap(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """The session's waits follow its RetryPolicy: doubling windows, capped."""
    policy = RetryPolicy(max_retries=4, backoff_base=1.0, backoff_cap=1.5)
    client = make_client(retry_policy=policy, rand=lambda: 1.0)
    mock_api.post(api(INVOICE), status=502, repeat=True)
    with pytest.raises(ServerError):
        await client.invoices.get(INVOICE_ID)
    assert len(sent(mock_api, INVOICE)) == 5
    assert fake_time.sleeps == [1.0, 1.5, 1.5, 1.5]


async def test_create_retries_reuse_one_generated_uuid4_idempotency_key(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Every attempt of one create carries the same, generated UUID4 idempotencyKey."""
    mock_api.post(api(CREATE_SINGLE), exception=aiohttp.ServerDisconnectedError())
    mock_api.post(api(CREATE_SINGLE), status=503)
    mock_api.post(api(CREATE_SINGLE), body=INVOICE_BODY)
    await client.invoices.create_single(amount="10.234", currency="USDT", description="order 42")
    calls = sent(mock_api, CREATE_SINGLE)
    assert len(calls) == 3
    keys = {envelope(call)["payload"]["idempotencyKey"] for call in calls}
    assert len(keys) == 1
    assert uuid.UUID(keys.pop()).version == 4


async def test_each_create_gets_its_own_idempotency_key(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Two logical creates are two keys: the server must not merge them."""
    mock_api.post(api(CREATE_SINGLE), body=INVOICE_BODY, repeat=True)
    for _ in range(2):
        await client.invoices.create_single(amount="1", currency="USDT", description="x")
    keys = {envelope(call)["payload"]["idempotencyKey"] for call in sent(mock_api, CREATE_SINGLE)}
    assert len(keys) == 2


async def test_caller_idempotency_key_is_sent_as_given_on_every_attempt(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A key the caller chose is used unchanged, retries included."""
    mock_api.post(api(CREATE_SINGLE), status=502)
    mock_api.post(api(CREATE_SINGLE), body=INVOICE_BODY)
    await client.invoices.create_single(
        amount="1", currency="USDT", description="x", idempotency_key="order-42-attempt"
    )
    keys = [envelope(call)["payload"]["idempotencyKey"] for call in sent(mock_api, CREATE_SINGLE)]
    assert keys == ["order-42-attempt", "order-42-attempt"]


async def test_create_without_idempotency_key_is_not_retried_by_the_session(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A raw create with no idempotencyKey is never replayed (it could pay twice)."""
    mock_api.post(api(CREATE_SINGLE), status=503, repeat=True)
    with pytest.raises(ServerError):
        await client.session.call(CREATE_SINGLE, {"amount": Decimal(1), "currency": "USDT"})
    assert len(sent(mock_api, CREATE_SINGLE)) == 1


STATE_CHANGES = [
    pytest.param(RETURN_TO_PAID, lambda c: c.invoices.return_to_paid(INVOICE_ID), id="rtp"),
    pytest.param(
        CLOSE_INTERVENTION, lambda c: c.invoices.close_intervention(INVOICE_ID), id="close"
    ),
]


@pytest.mark.parametrize(("path", "operation"), STATE_CHANGES)
@pytest.mark.parametrize(
    ("failure", "error_class"),
    [
        pytest.param(
            lambda: {"exception": aiohttp.ServerDisconnectedError()},
            CalypsoConnectionError,
            id="disconnected",
        ),
        pytest.param(lambda: {"exception": TimeoutError()}, CalypsoTimeoutError, id="timeout"),
        pytest.param(lambda: {"status": 503}, ServerError, id="503"),
    ],
)
async def test_state_change_is_not_replayed_after_an_ambiguous_failure(
    client: CalypsoClient,
    mock_api: aioresponses,
    fake_time: FakeTime,
    path: str,
    operation: Operation,
    failure: Callable[[], dict[str, Any]],
    error_class: type[Exception],
) -> None:
    """return-to-paid / close-intervention that may have landed are sent exactly once."""
    mock_api.post(api(path), **failure())
    mock_api.post(api(path), body=INVOICE_BODY)
    with pytest.raises(error_class):
        await operation(client)
    assert len(sent(mock_api, path)) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(("path", "operation"), STATE_CHANGES)
async def test_state_change_is_retried_when_the_connection_was_never_made(
    client: CalypsoClient, mock_api: aioresponses, path: str, operation: Operation
) -> None:
    """A refused connection means nothing was sent: retrying is safe even for writes."""
    mock_api.post(api(path), exception=connector_error())
    mock_api.post(api(path), body=INVOICE_BODY)
    await operation(client)
    assert len(sent(mock_api, path)) == 2


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_the_wait(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime, status: int
) -> None:
    """Retry-After: 3 makes the session wait exactly 3 s before the retry."""
    mock_api.post(api(INVOICE), status=status, headers={"Retry-After": "3"})
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    assert fake_time.sleeps == [3.0]


async def test_retry_after_http_date_is_the_wait(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """Retry-After as an HTTP date 7 s ahead of the (injected) clock waits 7 s."""
    retry_at = formatdate(fake_time.now + 7, usegmt=True)
    mock_api.post(api(INVOICE), status=429, headers={"Retry-After": retry_at})
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    assert fake_time.sleeps == [7.0]


async def test_retry_after_is_capped(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """An hour-long Retry-After waits only RetryPolicy.retry_after_cap."""
    client = make_client(retry_policy=RetryPolicy(retry_after_cap=5.0))
    mock_api.post(api(INVOICE), status=429, headers={"Retry-After": "3600"})
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    assert fake_time.sleeps == [5.0]


async def test_default_retry_after_cap_is_twenty_seconds(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """With the default policy an hour-long Retry-After waits 20 s."""
    mock_api.post(api(INVOICE), status=503, headers={"Retry-After": "3600"})
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    assert fake_time.sleeps == [RetryPolicy().retry_after_cap] == [20.0]


async def test_no_wait_reaches_past_the_deadline(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """A Retry-After beyond the call's deadline raises at once instead of sleeping."""
    client = make_client(deadline=5)
    mock_api.post(api(INVOICE), status=429, headers={"Retry-After": "10"}, repeat=True)
    with pytest.raises(RateLimitError) as info:
        await client.invoices.get(INVOICE_ID)
    assert info.value.retry_after == 10.0
    assert fake_time.sleeps == []
    assert len(sent(mock_api, INVOICE)) == 1


async def test_backoff_stops_at_the_deadline(
    make_client: MakeClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """Retries stop when the next backoff would cross the deadline."""
    client = make_client(deadline=0.3)
    mock_api.post(api(INVOICE), status=503, repeat=True)
    with pytest.raises(ServerError):
        await client.invoices.get(INVOICE_ID)
    assert fake_time.sleeps == [0.125]
    assert len(sent(mock_api, INVOICE)) == 2


# --- clock skew ----------------------------------------------------------------------------

TIMESTAMP_REJECTED = json.dumps(
    {
        "traceId": "9d1c0b7a",
        "errorCode": "UNAUTHORIZED",
        "message": "Request timestamp is outside of the allowed window",
    }
)


async def test_rejected_timestamp_is_retried_once_with_the_server_clock(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """A 401 about the timestamp from a server 10 min ahead is retried at once, corrected."""
    server_now = fake_time.now + 600
    mock_api.post(
        api(INVOICE),
        status=401,
        body=TIMESTAMP_REJECTED,
        headers={"Date": formatdate(server_now, usegmt=True)},
    )
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    invoice = await client.invoices.get(INVOICE_ID)
    assert invoice.id == INVOICE_ID
    first, second = (envelope(call)["timestamp"] for call in sent(mock_api, INVOICE))
    assert first == int(fake_time.now * 1000)
    assert 0 <= second - server_now * 1000 < 1000
    assert fake_time.sleeps == []


async def test_persistent_timestamp_rejection_says_check_the_system_clock(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """If the corrected timestamp is refused too, the error tells the user what to do."""
    mock_api.post(
        api(INVOICE),
        status=401,
        body=TIMESTAMP_REJECTED,
        headers={"Date": formatdate(fake_time.now + 600, usegmt=True)},
        repeat=True,
    )
    with pytest.raises(AuthenticationError) as info:
        await client.invoices.get(INVOICE_ID)
    assert "check the system clock" in str(info.value)
    assert len(sent(mock_api, INVOICE)) == 2


async def test_timestamp_rejection_without_a_date_is_not_retried(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """With nothing learned about the server's clock, a retry would fail the same way."""
    mock_api.post(api(INVOICE), status=401, body=TIMESTAMP_REJECTED, repeat=True)
    with pytest.raises(AuthenticationError) as info:
        await client.invoices.get(INVOICE_ID)
    assert "check the system clock" in str(info.value)
    assert len(sent(mock_api, INVOICE)) == 1


async def test_other_authentication_errors_are_not_retried_for_skew(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """A bad key is not a clock problem: no retry, no clock hint."""
    mock_api.post(
        api(INVOICE),
        status=401,
        body=json.dumps({"traceId": "t", "errorCode": "UNAUTHORIZED", "message": "bad key"}),
        headers={"Date": formatdate(fake_time.now + 600, usegmt=True)},
        repeat=True,
    )
    with pytest.raises(AuthenticationError) as info:
        await client.invoices.get(INVOICE_ID)
    assert "system clock" not in str(info.value)
    assert len(sent(mock_api, INVOICE)) == 1


# --- lifecycle -----------------------------------------------------------------------------


async def test_calls_after_aclose_raise_lifecycle_error(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A closed client refuses to send, with a LifecycleError, and sends nothing."""
    mock_api.post(api(INVOICE), body=INVOICE_BODY, repeat=True)
    await client.aclose()
    with pytest.raises(LifecycleError, match="closed"):
        await client.invoices.get(INVOICE_ID)
    with pytest.raises(LifecycleError):
        await client.session.call(INVOICE, {"id": INVOICE_ID})
    assert mock_api.requests == {}


async def test_borrowed_aiohttp_session_is_not_closed_by_aclose(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """A session the caller passed in stays open after the client closes."""
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    async with aiohttp.ClientSession() as http:
        client = make_client(session=http)
        await client.invoices.get(INVOICE_ID)
        await client.aclose()
        assert not http.closed


async def test_closed_borrowed_aiohttp_session_is_a_lifecycle_error(
    make_client: MakeClient, mock_api: aioresponses
) -> None:
    """Borrowing a session the caller already closed fails clearly."""
    http = aiohttp.ClientSession()
    await http.close()
    client = make_client(session=http)
    with pytest.raises(LifecycleError, match="borrows is closed"):
        await client.invoices.get(INVOICE_ID)


async def test_owned_aiohttp_session_is_closed_by_aclose(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """The session the client created for itself is closed by aclose()."""
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    http = client.session._shared.transport._http  # type: ignore[attr-defined]  # the owned session
    assert http is not None
    assert not http.closed
    await client.aclose()
    assert http.closed


# --- nothing secret escapes ----------------------------------------------------------------


async def test_logs_of_a_retried_call_hold_no_secret_and_no_signature(
    client: CalypsoClient, mock_api: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG a retried call is logged, but no record holds the secret or a Sign."""
    caplog.set_level(logging.DEBUG)
    mock_api.post(api(INVOICE), status=503)
    mock_api.post(api(INVOICE), body=INVOICE_BODY)
    await client.invoices.get(INVOICE_ID)
    ours = [record for record in caplog.records if record.name == "calypso_async.http"]
    assert any(record.levelno == logging.INFO for record in ours), "the retry is logged"
    assert any(record.levelno == logging.DEBUG for record in ours), "each answer is logged"
    secrets = [SECRET_KEY, API_KEY] + [
        call.kwargs["headers"]["Sign"] for call in sent(mock_api, INVOICE)
    ]
    for record in caplog.records:
        texts = (record.getMessage(), repr(record.args), repr(vars(record)))
        for secret in secrets:
            assert not any(secret in text for text in texts), record


async def test_errors_and_reprs_hold_no_secret(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """An authentication failure's message, and the session's repr, show no credential."""
    mock_api.post(api(INVOICE), status=401, body=load_fixture("error_400.json"))
    with pytest.raises(AuthenticationError) as info:
        await client.invoices.get(INVOICE_ID)
    (call,) = sent(mock_api, INVOICE)
    for text in (str(info.value), repr(info.value), repr(client.session), repr(client)):
        assert SECRET_KEY not in text
        assert API_KEY not in text
        assert call.kwargs["headers"]["Sign"] not in text


# --- hostile bodies, borrowed sessions, traceback locals ---------------------------------


async def test_deeply_nested_answer_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Hostile nesting ends as DecodeError, never a RecursionError, on every Python.

    5,000 levels pass Python 3.13's decoder but not 3.11's; the SDK's own limit refuses
    them on both.
    """
    mock_api.post(api(INVOICE), body="[" * 5_000 + "]" * 5_000)
    with pytest.raises(DecodeError):
        await client.session.call(INVOICE, {"id": INVOICE_ID})


async def test_borrowed_session_that_raises_for_status_still_maps_errors(
    mock_api: aioresponses,
) -> None:
    """A borrowed ClientSession(raise_for_status=True) cannot turn a 404 into retries."""
    mock_api.post(api(INVOICE), status=404, body='{"errorCode": "INVOICE_NOT_FOUND"}')
    async with (
        aiohttp.ClientSession(raise_for_status=True) as http,
        CalypsoClient(
            api_key=API_KEY, secret_key=SECRET_KEY, account=ACCOUNT, base_url=BASE_URL, session=http
        ) as borrowing,
    ):
        with pytest.raises(NotFoundError) as caught:
            await borrowing.invoices.get(INVOICE_ID)
    assert caught.value.error_code == "INVOICE_NOT_FOUND"
    assert len(sent(mock_api, INVOICE)) == 1


async def test_traceback_locals_hold_no_sign_and_no_secret(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Error reporters that capture frame locals see '***' for Key and Sign."""
    mock_api.post(api(INVOICE), status=500)
    with pytest.raises(ServerError) as caught:
        await client.invoices.get(INVOICE_ID)
    report = traceback.TracebackException.from_exception(caught.value, capture_locals=True)
    signature = sent(mock_api, INVOICE)[0].kwargs["headers"]["Sign"]
    text = "".join(report.format())
    assert "'Sign': '***'" in text
    assert signature not in text
    assert SECRET_KEY not in text


async def test_a_call_past_its_send_by_time_is_never_sent(
    client: CalypsoClient, mock_api: aioresponses, fake_time: FakeTime
) -> None:
    """A write whose right to be sent has run out (the resolver's return-to-paid after a
    stall) is refused before any byte leaves, and says it was never sent."""
    mock_api.post(api(RETURN_TO_PAID), body=INVOICE_BODY)
    with pytest.raises(CalypsoTimeoutError) as info:
        await client.invoices.return_to_paid(INVOICE_ID, send_by=fake_time.now - 1)
    assert info.value.request_sent is False
    assert "not sent" in str(info.value)
    assert mock_api.requests == {}
    await client.invoices.return_to_paid(INVOICE_ID, send_by=fake_time.now + 1)
    assert len(sent(mock_api, RETURN_TO_PAID)) == 1


async def test_an_answer_is_not_awaited_past_the_send_by_time(
    client: CalypsoClient,
    mock_api: aioresponses,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attempt's timeout ends at send_by when that comes before the client's own
    timeout (30 s): the write is settled before its right to be sent runs out."""
    scopes: list[float] = []
    real_scope = Timeouts.scope

    def scope(self: Timeouts, seconds: float) -> Any:
        scopes.append(seconds)
        return real_scope(self, seconds)

    monkeypatch.setattr(Timeouts, "scope", scope)
    mock_api.post(api(RETURN_TO_PAID), body=INVOICE_BODY)
    mock_api.post(api(RETURN_TO_PAID), body=INVOICE_BODY)
    await client.invoices.return_to_paid(INVOICE_ID, send_by=fake_time.now + 5)
    await client.invoices.return_to_paid(INVOICE_ID)
    assert scopes == [5.0, 30.0]
