"""client.fiat: payloads on the wire, checks before I/O, tolerant lists, reads replayed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses
from aioresponses.core import RequestCall

from calypso_async import (
    CalypsoClient,
    ConfigurationError,
    DecodeError,
    FiatGeo,
    FiatMethod,
    NotFoundError,
)
from calypso_async._core.json import loads
from tests.conftest import BASE_URL, load_fixture
from tests.resources.wire import sent

ORDER = "/api/v1/fiat/order"
METHOD = "/api/v1/fiat/method"
GEO = "/api/v1/fiat/geo"


def body_of(call: RequestCall) -> Any:
    return loads(call.kwargs["data"])


async def test_order_sends_the_idempotency_key_and_reads_the_order(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """payload {idempotencyKey}; the answer is a FiatOrder with exact amounts."""
    mock_api.post(BASE_URL + ORDER, body=load_fixture("fiat_order.json"))
    order = await client.fiat.order("order-42")
    assert order.state == "PAID"
    assert order.order_crypto_amount == Decimal("108.000000000000000001")
    assert order.adjustment == Decimal("-0.5")
    (call,) = sent(mock_api, ORDER)
    assert body_of(call)["payload"] == {"idempotencyKey": "order-42"}


async def test_order_is_a_read_repeated_after_a_server_error(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A 503 then the order: the same payload sent twice, the order returned."""
    mock_api.post(BASE_URL + ORDER, status=503, body="{}")
    mock_api.post(BASE_URL + ORDER, body=load_fixture("fiat_order.json"))
    order = await client.fiat.order("order-42")
    assert order.currency == "USDT"
    calls = sent(mock_api, ORDER)
    assert len(calls) == 2
    assert body_of(calls[0])["payload"] == body_of(calls[1])["payload"]


async def test_an_unknown_order_is_not_found(client: CalypsoClient, mock_api: aioresponses) -> None:
    """A 404 with Calypso's 004 is a NotFoundError."""
    body = '{"errorCode": "004", "message": "not found"}'
    mock_api.post(BASE_URL + ORDER, status=404, body=body)
    with pytest.raises(NotFoundError):
        await client.fiat.order("nope")


@pytest.mark.parametrize("key", ["", "  ", "two words", None, 42])
async def test_a_bad_idempotency_key_is_refused_before_any_io(
    client: CalypsoClient, mock_api: aioresponses, key: Any
) -> None:
    """ConfigurationError, and nothing on the wire."""
    with pytest.raises(ConfigurationError, match="idempotency_key"):
        await client.fiat.order(key)
    assert not mock_api.requests


@pytest.mark.parametrize(("geo_id", "wire"), [(2, 2), ("eu-west", "eu-west"), (0, 0)])
async def test_methods_send_currency_and_the_geo_id_with_its_type(
    client: CalypsoClient, mock_api: aioresponses, geo_id: Any, wire: Any
) -> None:
    """An int geo id is a JSON number, a string one a string."""
    answer = '{"result": [{"id": "SEPA", "fiatCurrency": "EUR", "minAmount": 30}]}'
    mock_api.post(BASE_URL + METHOD, body=answer)
    methods = await client.fiat.methods(currency="USDT", geo_id=geo_id)
    assert [m.id for m in methods] == ["SEPA"]
    assert methods[0].min_amount == Decimal(30)
    (call,) = sent(mock_api, METHOD)
    payload = body_of(call)["payload"]
    assert payload == {"currency": "USDT", "geoId": wire}
    assert type(payload["geoId"]) is type(wire)


@pytest.mark.parametrize(
    "answer",
    [
        '[{"id": "CARD"}, {"id": "SEPA"}]',
        '{"methods": [{"id": "CARD"}, {"id": "SEPA"}], "result": []}',
        '{"paymentMethods": [{"id": "CARD"}, {"id": "SEPA"}]}',
        '{"data": [{"id": "CARD"}, {"id": "SEPA"}], "total": 2}',
        '{"whatever": [{"id": "CARD"}, {"id": "SEPA"}]}',
    ],
)
async def test_methods_are_found_in_an_array_or_an_object_holding_one(
    client: CalypsoClient, mock_api: aioresponses, answer: str
) -> None:
    """The answer's shape is unpublished: both forms of the documented rule read."""
    mock_api.post(BASE_URL + METHOD, body=answer)
    methods = await client.fiat.methods(currency="USDT", geo_id=1)
    assert all(isinstance(m, FiatMethod) for m in methods)
    assert [m.id for m in methods] == ["CARD", "SEPA"]


@pytest.mark.parametrize("answer", ['{"a": [1], "b": [2]}', '{"count": 0}', '"none"', ""])
async def test_an_answer_without_a_list_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses, answer: str
) -> None:
    """No array (or two unnamed ones) found: DecodeError naming the path."""
    mock_api.post(BASE_URL + METHOD, body=answer)
    with pytest.raises(DecodeError, match="no list of FiatMethod") as info:
        await client.fiat.methods(currency="USDT", geo_id=1)
    assert info.value.path == METHOD


async def test_a_list_item_that_is_not_an_object_is_a_decode_error(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Tolerant of fields, not of items: a string item fails the read."""
    mock_api.post(BASE_URL + GEO, body='["US"]')
    with pytest.raises(DecodeError):
        await client.fiat.geos()


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"currency": "", "geo_id": 1}, "currency"),
        ({"currency": "US DT", "geo_id": 1}, "currency"),
        ({"currency": None, "geo_id": 1}, "currency"),
        ({"currency": "USDT", "geo_id": None}, "geo_id"),
        ({"currency": "USDT", "geo_id": True}, "geo_id"),
        ({"currency": "USDT", "geo_id": -1}, "geo_id"),
        ({"currency": "USDT", "geo_id": 1.0}, "geo_id"),
        ({"currency": "USDT", "geo_id": " "}, "geo_id"),
    ],
)
async def test_bad_method_arguments_are_refused_before_any_io(
    client: CalypsoClient, mock_api: aioresponses, arguments: dict[str, Any], named: str
) -> None:
    """ConfigurationError naming the argument, and nothing on the wire."""
    with pytest.raises(ConfigurationError, match=named):
        await client.fiat.methods(**arguments)
    assert not mock_api.requests


async def test_geos_send_no_payload_and_read_each_geo(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """geos() is {timestamp, account} only; each item is a FiatGeo keeping raw."""
    answer = '{"geos": [{"id": 1, "code": "US", "name": "United States", "x": true}]}'
    mock_api.post(BASE_URL + GEO, body=answer)
    (geo,) = await client.fiat.geos()
    assert isinstance(geo, FiatGeo)
    assert (geo.id, geo.code, geo.name) == (1, "US", "United States")
    assert geo.raw["x"] is True
    (call,) = sent(mock_api, GEO)
    assert list(body_of(call)) == ["timestamp", "account"]


async def test_geos_are_repeated_after_a_lost_answer(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A read: a 502 then the list, sent twice."""
    mock_api.post(BASE_URL + GEO, status=502, body="")
    mock_api.post(BASE_URL + GEO, body="[]")
    assert await client.fiat.geos() == []
    assert len(sent(mock_api, GEO)) == 2
