"""Fiat on-ramp models: the order's published fields, and the tolerant reading rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from calypso_async import DecodeError, FiatGeo, FiatMethod, FiatOrder
from calypso_async._core.json import loads
from calypso_async._types.converter import _compiled, make_converter, structure
from calypso_async._types.fiat import find_items
from tests.conftest import load_fixture


def order_json() -> Any:
    """The fiat order fixture, decoded as the session decodes answers."""
    return loads(load_fixture("fiat_order.json"))


def test_an_order_reads_every_published_field_with_exact_amounts() -> None:
    """invoiceId, state, currency, four Decimal amounts and the fiat currency."""
    order = structure(order_json(), FiatOrder)
    assert order == FiatOrder(
        invoice_id="4b3c2a1e-9d8f-4e7a-b6c5-d4e3f2a1b0c9",
        state="PAID",
        currency="USDT",
        order_crypto_amount=Decimal("108.000000000000000001"),
        payment_crypto_amount=Decimal("108.5"),
        fiat_currency="EUR",
        order_fiat_amount=Decimal("100.00"),
        payment_fiat_amount=Decimal("100.46"),
    )
    assert order.adjustment == Decimal("-0.5")
    assert order.raw == order_json()


def test_the_order_takes_the_compiled_path() -> None:
    """Real answers never fall back to the slower cattrs path."""
    compiled = _compiled[FiatOrder]
    assert compiled is not None
    assert compiled(order_json()) == structure(order_json(), FiatOrder)


def test_every_order_field_but_adjustment_is_a_model_field() -> None:
    """The strict twin reads the fixture once adjustment (read from raw) is set aside."""
    data = order_json()
    del data["adjustment"]
    assert make_converter(strict=True).structure(data, FiatOrder) == structure(data, FiatOrder)


@pytest.mark.parametrize("key", ["invoiceId", "state", "currency"])
def test_an_order_missing_a_required_field_is_a_decode_error_naming_it(key: str) -> None:
    """invoiceId, state and currency are on every order: without one, DecodeError."""
    data = order_json()
    del data[key]
    with pytest.raises(DecodeError, match=f"{key}: missing, and it is required"):
        structure(data, FiatOrder, path="/api/v1/fiat/order")


def test_an_order_state_is_a_plain_string_kept_as_sent() -> None:
    """No state value is published: any string is kept, exactly, as a str."""
    data = order_json() | {"state": "SOMETHING_NEW"}
    order = structure(data, FiatOrder)
    assert type(order.state) is str
    assert order.state == "SOMETHING_NEW"


def test_optional_amounts_may_be_absent_or_null() -> None:
    """An order before payment: only the required fields, payment amounts null."""
    order = structure(
        {"invoiceId": "i", "state": "PENDING_PAYMENT", "currency": "BTC", "adjustment": None},
        FiatOrder,
    )
    assert order.payment_crypto_amount is None
    assert order.order_fiat_amount is None
    assert order.adjustment is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.25"), Decimal("0.25")),
        (Decimal("-1.5"), Decimal("-1.5")),
        (0, Decimal(0)),
        ("-3.10", Decimal("-3.10")),
        ({"amount": 1, "reason": "rate"}, None),
        (True, None),
        ("a lot", None),
        ("NaN", None),
    ],
)
def test_adjustment_is_a_signed_decimal_when_numeric_and_never_fails_the_order(
    value: Any, expected: Decimal | None
) -> None:
    """Its type is unpublished: a number reads as Decimal, anything else as None, on raw."""
    data = order_json() | {"adjustment": value}
    order = structure(data, FiatOrder)
    assert order.adjustment == expected
    assert order.raw["adjustment"] == value


def test_a_method_reads_its_id_name_currency_and_limits_from_raw() -> None:
    """The fake's shape: id, name, fiatCurrency, minAmount, maxAmount."""
    raw = {
        "id": "SEPA",
        "name": "SEPA transfer",
        "fiatCurrency": "EUR",
        "minAmount": Decimal("30"),
        "maxAmount": "20000.50",
        "extra": [1],
    }
    method = structure(raw, FiatMethod)
    assert (method.id, method.name, method.fiat_currency) == ("SEPA", "SEPA transfer", "EUR")
    assert (method.min_amount, method.max_amount) == (Decimal("30"), Decimal("20000.50"))
    assert method.raw == raw


def test_a_method_falls_back_to_other_names_and_nested_limits() -> None:
    """methodId, title, currency, and min/max of a nested limits (or limit) object."""
    method = structure(
        {"methodId": 7, "title": "Card", "currency": "USD", "limits": {"min": 10, "max": "500"}},
        FiatMethod,
    )
    assert (method.id, method.name, method.fiat_currency) == (7, "Card", "USD")
    assert (method.min_amount, method.max_amount) == (Decimal(10), Decimal(500))
    flat = structure({"min": "1", "limit": {"maxAmount": 9}}, FiatMethod)
    assert (flat.min_amount, flat.max_amount) == (Decimal(1), Decimal(9))


def test_a_method_of_another_shape_reads_as_nones_without_failing() -> None:
    """Unexpected kinds (a bool id, a list name, a text limit) are None; raw keeps them."""
    raw = {"id": True, "name": ["Card"], "minAmount": "low", "limits": "none"}
    method = structure(raw, FiatMethod)
    assert (method.id, method.name, method.fiat_currency) == (None, None, None)
    assert (method.min_amount, method.max_amount) == (None, None)
    assert method.raw == raw
    assert structure({}, FiatMethod).id is None


def test_a_geo_keeps_its_id_type_and_reads_code_and_name() -> None:
    """id stays an int (sent back as a number); geoId, countryCode, iso, title also read."""
    geo = structure({"id": 2, "code": "DE", "name": "Germany"}, FiatGeo)
    assert (geo.id, geo.code, geo.name) == (2, "DE", "Germany")
    other = structure({"geoId": "eu-1", "countryCode": "FR", "title": "France"}, FiatGeo)
    assert (other.id, other.code, other.name) == ("eu-1", "FR", "France")
    assert structure({"iso": "US"}, FiatGeo).code == "US"
    odd = structure({"id": 1.5, "code": 7}, FiatGeo)
    assert (odd.id, odd.code, odd.name) == (None, None, None)


def test_a_method_or_geo_that_is_not_an_object_is_a_decode_error() -> None:
    """Tolerant of fields, not of the item itself: a string item is refused."""
    with pytest.raises(DecodeError):
        structure("CARD", FiatMethod)


@pytest.mark.parametrize(
    ("answer", "names", "expected"),
    [
        ([{"a": 1}], (), [{"a": 1}]),
        ({"methods": [1], "result": [2]}, ("methods",), [1]),
        ({"result": [2], "items": [3]}, ("methods",), [2]),
        ({"content": [4], "total": 1}, (), [4]),
        ({"whatever": [5], "count": 1}, (), [5]),
        ({"a": [1], "b": [2]}, (), None),
        ({"a": 1}, (), None),
        ("text", (), None),
        (None, (), None),
    ],
)
def test_find_items_follows_the_documented_rule(
    answer: Any, names: tuple[str, ...], expected: list[Any] | None
) -> None:
    """Array as is; named keys, then result/items/data/content; else the only array."""
    assert find_items(answer, *names) == expected


def test_a_printed_method_or_geo_shows_what_it_read() -> None:
    """Their fields live in raw; the repr still shows the ids, names and limits."""
    from calypso_async import FiatGeo, FiatMethod
    from calypso_async._types import structure

    geo = structure({"id": 1, "code": "US", "name": "United States"}, FiatGeo)
    assert repr(geo) == "FiatGeo(id=1, code='US', name='United States')"
    method = structure({"id": "m", "minAmount": 10}, FiatMethod)
    assert "min_amount=Decimal('10')" in repr(method)
