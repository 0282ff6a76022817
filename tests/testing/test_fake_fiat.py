"""FakeCalypso's fiat on-ramp: orders from single-fiat invoices, fixed geos and methods."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calypso_async import BadRequestError, CalypsoClient, ErrorCode, NotFoundError
from calypso_async.testing import (
    FAKE_FIAT_GEOS,
    FAKE_FIAT_METHODS,
    FAKE_FIAT_RATES,
    FakeCalypso,
)
from tests.testing.conftest import envelope, raw_post


async def fiat_invoice(client: CalypsoClient, key: str = "order-1") -> str:
    invoice = await client.invoices.create_fiat(
        fiat_amount=Decimal("100"),
        fiat_currency="EUR",
        currency="USDT",
        description="order 1",
        idempotency_key=key,
    )
    return invoice.id


async def test_an_order_is_the_on_ramp_side_of_a_single_fiat_invoice(
    client: CalypsoClient,
) -> None:
    """Before payment: the invoice's id, state, amounts; payment fields null."""
    invoice_id = await fiat_invoice(client)
    order = await client.fiat.order("order-1")
    assert order.invoice_id == invoice_id
    assert order.state == "PENDING_PAYMENT"
    assert order.currency == "USDT"
    assert order.order_crypto_amount == Decimal(100) * FAKE_FIAT_RATES["EUR", "USDT"]
    assert (order.fiat_currency, order.order_fiat_amount) == ("EUR", Decimal(100))
    assert order.payment_crypto_amount is None
    assert order.payment_fiat_amount is None
    assert order.adjustment is None
    assert order.raw["adjustment"] is None


async def test_a_payment_fills_the_payment_amounts_and_the_adjustment(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """Paid crypto, its fiat value at the invoice's rate (cents, down), paid minus ordered."""
    invoice_id = await fiat_invoice(client)
    await fake.pay(invoice_id, "108")
    order = await client.fiat.order("order-1")
    assert order.state == "PAID"
    assert order.payment_crypto_amount == Decimal("108")
    assert order.payment_fiat_amount == Decimal("100.00")
    assert order.adjustment == Decimal(0)
    await fake.settle(invoice_id)
    assert (await client.fiat.order("order-1")).state == "COMPLETED"


async def test_an_overpaid_order_shows_a_positive_adjustment(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """108.5 paid on 108 ordered: +0.5, 100.46 EUR, the invoice's intervention state."""
    invoice_id = await fiat_invoice(client)
    await fake.pay(invoice_id, "108.5")
    order = await client.fiat.order("order-1")
    assert order.state == "PENDING_INTERVENTION"
    assert order.adjustment == Decimal("0.5")
    assert order.payment_fiat_amount == Decimal("100.46")


async def test_the_generated_key_of_an_invoice_finds_its_order(client: CalypsoClient) -> None:
    """An invoice created without a key has one made for it: that key finds the order."""
    invoice = await client.invoices.create_fiat(
        fiat_amount="20", fiat_currency="USD", currency="BTC", description="no key"
    )
    assert invoice.idempotency_key is not None
    order = await client.fiat.order(invoice.idempotency_key)
    assert order.invoice_id == invoice.id


async def test_an_unknown_key_or_a_crypto_invoice_has_no_order(client: CalypsoClient) -> None:
    """404 004 for a key no invoice has, and for the key of a SINGLE invoice."""
    with pytest.raises(NotFoundError) as missing:
        await client.fiat.order("nobody")
    assert missing.value.code == ErrorCode.NOT_FOUND
    await client.invoices.create_single(
        amount="5", currency="USDT", description="crypto", idempotency_key="crypto-1"
    )
    with pytest.raises(NotFoundError, match="not SINGLE_FIAT"):
        await client.fiat.order("crypto-1")


async def test_geos_are_the_fixed_table(client: CalypsoClient) -> None:
    """Every geo of FAKE_FIAT_GEOS, ids as integers."""
    geos = await client.fiat.geos()
    assert [dict(g.raw) for g in geos] == [dict(g) for g in FAKE_FIAT_GEOS]
    assert [(g.id, g.code) for g in geos] == [(1, "US"), (2, "DE"), (3, "FR")]


async def test_methods_are_those_of_the_geos_fiat_currency(client: CalypsoClient) -> None:
    """Germany pays in EUR: the EUR methods with their limits, exact."""
    methods = await client.fiat.methods(currency="USDT", geo_id=2)
    assert [m.id for m in methods] == [m["id"] for m in FAKE_FIAT_METHODS["EUR"]]
    sepa = methods[1]
    assert (sepa.fiat_currency, sepa.min_amount, sepa.max_amount) == (
        "EUR",
        Decimal("30"),
        Decimal("20000.50"),
    )
    by_text = await client.fiat.methods(currency="USDT", geo_id="1")
    assert [m.fiat_currency for m in by_text] == ["USD", "USD"]


async def test_a_currency_with_no_fiat_rate_has_no_methods(client: CalypsoClient) -> None:
    """TRX from EUR is not in FAKE_FIAT_RATES: an empty list, not an error."""
    assert ("EUR", "TRX") not in FAKE_FIAT_RATES
    assert await client.fiat.methods(currency="TRX", geo_id=3) == []


@pytest.mark.parametrize(
    ("currency", "geo_id", "named"),
    [("USDT", 99, "geoId"), ("usdt", 1, "currency"), ("DOGE", 1, "currency")],
)
async def test_an_unknown_geo_or_currency_is_a_bad_request(
    client: CalypsoClient, currency: str, geo_id: int, named: str
) -> None:
    """400 001 naming the field."""
    with pytest.raises(BadRequestError, match=named) as refused:
        await client.fiat.methods(currency=currency, geo_id=geo_id)
    assert refused.value.code == ErrorCode.BAD_REQUEST


@pytest.mark.parametrize(
    ("path", "payload", "named"),
    [
        ("/api/v1/fiat/method", {"currency": "USDT"}, "geoId"),
        ("/api/v1/fiat/method", {"geoId": 1}, "currency"),
        ("/api/v1/fiat/method", {"currency": "USDT", "geoId": True}, "geoId"),
        ("/api/v1/fiat/order", {}, "idempotencyKey"),
        ("/api/v1/fiat/order", None, "payload"),
    ],
)
async def test_missing_fields_on_the_wire_are_refused_with_001(
    fake: FakeCalypso, path: str, payload: dict[str, object] | None, named: str
) -> None:
    """What the SDK never sends still gets Calypso's published 001, the field named."""
    status, body, _ = await raw_post(fake, path, envelope(fake, payload))
    assert status == 400
    assert body["errorCode"] == "001"
    assert named in body["message"]


async def test_geo_answers_whatever_the_payload(fake: FakeCalypso) -> None:
    """Its payload is unpublished: none, or any object, gets the list."""
    for payload in (None, {"anything": 1}):
        status, body, _ = await raw_post(fake, "/api/v1/fiat/geo", envelope(fake, payload))
        assert status == 200
        assert len(body["result"]) == len(FAKE_FIAT_GEOS)
