"""client.exchange: payloads on the wire, checks before I/O, a create never replayed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses
from aioresponses.core import RequestCall

from calypso_async import (
    BadRequestError,
    CalypsoClient,
    CalypsoTimeoutError,
    ConfigurationError,
    Currency,
    ErrorCode,
    ExchangeState,
    NotFoundError,
    ServerError,
)
from calypso_async._core.json import loads
from tests.conftest import BASE_URL, load_fixture
from tests.resources.wire import sent

PAIRS = "/api/v1/exchange/pairs"
PRE_CALCULATE = "/api/v1/exchange/pre-calculate"
LIMIT = "/api/v1/exchange/limit"
RATE = "/api/v1/exchange/average-rate"
CREATE = "/api/v1/exchange/create"
GET = "/api/v1/exchange/get"


def body_of(call: RequestCall) -> Any:
    return loads(call.kwargs["data"])


async def test_pairs_sends_no_payload_and_maps_each_currency_to_a_list(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """pairs() is {timestamp, account} only; the answer is code -> list of Currency."""
    mock_api.post(BASE_URL + PAIRS, body=load_fixture("exchange_pairs.json"))
    pairs = await client.exchange.pairs()
    assert sorted(pairs) == ["BTC", "USDT"]
    assert isinstance(pairs["BTC"], list)
    assert all(isinstance(c, Currency) for c in pairs["BTC"])
    assert [c.name for c in pairs["USDT"]] == ["BTC"]
    (call,) = sent(mock_api, PAIRS)
    assert list(body_of(call)) == ["timestamp", "account"]


async def test_pre_calculate_sends_the_pair_and_the_exact_amount(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Wire names, every digit of the amount, no direction unless given."""
    answer = (
        '{"sourceCurrency": "USDT", "destinationCurrency": "BTC", "amount": 0.000016500000000001}'
    )
    mock_api.post(BASE_URL + PRE_CALCULATE, body=answer)
    quote = await client.exchange.pre_calculate(
        source_currency="USDT", destination_currency="BTC", amount=Decimal("1.000000000000000001")
    )
    assert str(quote.amount) == "0.000016500000000001"
    (call,) = sent(mock_api, PRE_CALCULATE)
    assert b'"amount":1.000000000000000001' in call.kwargs["data"]
    assert body_of(call)["payload"] == {
        "sourceCurrency": "USDT",
        "destinationCurrency": "BTC",
        "amount": Decimal("1.000000000000000001"),
    }


async def test_pre_calculate_passes_direction_through(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """direction's values are unpublished: it goes out exactly as written."""
    answer = '{"sourceCurrency": "USDT", "destinationCurrency": "BTC", "amount": 1}'
    mock_api.post(BASE_URL + PRE_CALCULATE, body=answer)
    await client.exchange.pre_calculate(
        source_currency="USDT", destination_currency="BTC", amount="10", direction="SELL"
    )
    (call,) = sent(mock_api, PRE_CALCULATE)
    assert body_of(call)["payload"]["direction"] == "SELL"


async def test_limit_and_rate_send_the_pair(client: CalypsoClient, mock_api: aioresponses) -> None:
    """limit() and average_rate() post {sourceCurrency, destinationCurrency}."""
    mock_api.post(BASE_URL + LIMIT, body='{"BTC": 5, "USDT": 300000}')
    mock_api.post(BASE_URL + RATE, body='{"rate": 60000.5}')
    limit = await client.exchange.limit(source_currency="BTC", destination_currency="USDT")
    rate = await client.exchange.average_rate(source_currency="BTC", destination_currency="USDT")
    assert limit.limits == {"BTC": Decimal(5), "USDT": Decimal(300000)}
    assert rate.rate == Decimal("60000.5")
    pair = {"sourceCurrency": "BTC", "destinationCurrency": "USDT"}
    assert body_of(sent(mock_api, LIMIT)[0])["payload"] == pair
    assert body_of(sent(mock_api, RATE)[0])["payload"] == pair


async def test_create_sends_the_exchange_and_returns_it(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """create() posts sourceCurrency, destinationCurrency, amount; no idempotency key."""
    mock_api.post(BASE_URL + CREATE, body=load_fixture("exchange.json"))
    exchange = await client.exchange.create(
        source_currency="USDT", destination_currency="BTC", amount="1520.10"
    )
    assert (exchange.id, exchange.state) == (4217, ExchangeState.IN_PROGRESS)
    (call,) = sent(mock_api, CREATE)
    assert body_of(call)["payload"] == {
        "sourceCurrency": "USDT",
        "destinationCurrency": "BTC",
        "amount": Decimal("1520.10"),
    }


@pytest.mark.parametrize("failure", [{"status": 503}, {"exception": TimeoutError()}])
async def test_create_is_never_replayed_after_an_ambiguous_failure(
    client: CalypsoClient, mock_api: aioresponses, failure: dict[str, Any]
) -> None:
    """A 503 or a timeout may hide a made exchange: one request only, the error raised."""
    for _ in range(3):
        mock_api.post(BASE_URL + CREATE, **failure)
    with pytest.raises((ServerError, CalypsoTimeoutError)):
        await client.exchange.create(
            source_currency="USDT", destination_currency="BTC", amount="10"
        )
    assert len(sent(mock_api, CREATE)) == 1


async def test_reads_are_retried_after_a_503(client: CalypsoClient, mock_api: aioresponses) -> None:
    """A rate is a read: a 503 is retried and the next answer used."""
    mock_api.post(BASE_URL + RATE, status=503)
    mock_api.post(BASE_URL + RATE, body='{"rate": 2}')
    rate = await client.exchange.average_rate(source_currency="ETH", destination_currency="USDT")
    assert rate.rate == 2
    assert len(sent(mock_api, RATE)) == 2


@pytest.mark.parametrize("exchange_id", [42, "42"])
async def test_get_sends_the_id_as_a_number(
    client: CalypsoClient, mock_api: aioresponses, exchange_id: int | str
) -> None:
    """The id is a JSON number on the wire, even when given as a string of digits."""
    mock_api.post(BASE_URL + GET, body=load_fixture("exchange.json"))
    await client.exchange.get(exchange_id)
    (call,) = sent(mock_api, GET)
    assert b'"payload":{"id":42}' in call.kwargs["data"]


async def test_refusals_are_typed_errors_with_the_published_code(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 400 001 is a BadRequestError, a 404 004 a NotFoundError."""
    bad = '{"traceId": "t", "errorCode": "001", "message": "insufficient USDT balance"}'
    mock_api.post(BASE_URL + CREATE, status=400, body=bad)
    missing = '{"traceId": "t", "errorCode": "004", "message": "exchange 9 not found"}'
    mock_api.post(BASE_URL + GET, status=404, body=missing)
    with pytest.raises(BadRequestError) as refused:
        await client.exchange.create(source_currency="USDT", destination_currency="BTC", amount=1)
    assert refused.value.code is ErrorCode.BAD_REQUEST
    with pytest.raises(NotFoundError) as unknown:
        await client.exchange.get(9)
    assert unknown.value.code is ErrorCode.NOT_FOUND


def pair(source: str = "USDT", destination: str = "BTC", **more: Any) -> dict[str, Any]:
    return {"source_currency": source, "destination_currency": destination, **more}


@pytest.mark.parametrize(
    ("method", "arguments", "words"),
    [
        ("create", pair(amount=0.5), "float"),
        ("create", pair(amount=0), "greater"),
        ("create", pair(amount="-1"), "greater"),
        ("create", pair("USDT", "USDT", amount=1), "differ"),
        ("create", pair("", amount=1), "source_currency"),
        ("pre_calculate", pair(amount=1.5), "float"),
        ("pre_calculate", pair(amount=1, direction=" "), "direction"),
        ("limit", pair("BTC", "B C"), "whitespace"),
        ("average_rate", pair("BTC", "BTC"), "differ"),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    client: CalypsoClient,
    mock_api: aioresponses,
    method: str,
    arguments: dict[str, Any],
    words: str,
) -> None:
    """Floats, non-positive amounts, empty or equal currencies: nothing is sent."""
    with pytest.raises(ConfigurationError, match=words):
        await getattr(client.exchange, method)(**arguments)
    assert mock_api.requests == {}


@pytest.mark.parametrize("exchange_id", [-1, "4x", 1.0, True, None, "٤"])
async def test_get_refuses_an_id_that_is_not_a_non_negative_integer(
    client: CalypsoClient, mock_api: aioresponses, exchange_id: Any
) -> None:
    """Anything but an int (or a string of ASCII digits) fails before any request."""
    with pytest.raises(ConfigurationError, match="exchange_id"):
        await client.exchange.get(exchange_id)
    assert mock_api.requests == {}
