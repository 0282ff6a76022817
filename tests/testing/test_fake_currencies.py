"""FakeCalypso knows Calypso's currencies: unknown codes and over-precise amounts are a 400."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from calypso_async import BadRequestError, CalypsoClient, ErrorCode
from calypso_async.testing import FAKE_CURRENCIES, FakeCalypso, FakeCalypsoError

from .conftest import envelope, raw_post

SEEN = {"BTC", "ETH", "USDT", "USDC", "DAI", "FRAX", "BUSD_ETH", "TRX", "USDT_TRX"}
SEEN |= {"USDC_TRX", "BNB", "BUSD", "USDT_BSC", "MATIC", "USDT_MATIC", "XDG", "BTC_LNG"}
"""calypso-api.md, "Currencies seen"."""

ADDRESS = "0x8f1b2c3d4e5f60718293a4b5c6d7e8f901234567"
TOO_FINE = "1.0000000000000000000001"  # 22 decimals: more than any currency's scale

Call = Callable[[CalypsoClient, str, str], Awaitable[Any]]


async def _single(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.invoices.create_single(amount=amount, currency=currency, description="x")


async def _bound(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.invoices.create_bound(
        lower_bound=amount, currency=currency, description="x"
    )


async def _unlimited(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.invoices.create_unlimited(currency=currency, description="x")


async def _fiat(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.invoices.create_fiat(
        fiat_amount="10", fiat_currency="USD", currency=currency, description="x"
    )


async def _payout(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.payouts.create(deposit_address=ADDRESS, amount=amount, currency=currency)


async def _mass(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.payouts.create_mass(currency=currency, recipients=[(ADDRESS, amount)])


async def _quote(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.exchange.pre_calculate(
        source_currency=currency, destination_currency="BTC", amount=amount
    )


async def _exchange(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.exchange.create(
        source_currency=currency, destination_currency="BTC", amount=amount
    )


async def _buy(client: CalypsoClient, currency: str, amount: str) -> Any:
    return await client.exchange.pre_calculate(
        source_currency="USDT", destination_currency=currency, amount="1"
    )


async def _address(client: CalypsoClient, currency: str, amount: str) -> Any:
    customer = await client.customers.create(description="x")
    return await client.customers.deposit_address(customer.id, currency)


WITH_CURRENCY = [
    _single,
    _bound,
    _unlimited,
    _fiat,
    _payout,
    _mass,
    _quote,
    _exchange,
    _buy,
    _address,
]
WITH_AMOUNT = [_single, _bound, _payout, _mass, _quote, _exchange]


def test_every_currency_calypso_lists_is_in_the_one_table_with_a_scale() -> None:
    """FAKE_CURRENCIES holds every code of "Currencies seen", each with a scale."""
    assert set(FAKE_CURRENCIES) == SEEN
    scales = {code: FAKE_CURRENCIES[code]["scale"] for code in ("BTC", "ETH", "USDT", "TRX")}
    assert scales == {"BTC": 8, "ETH": 18, "USDT": 6, "TRX": 6}
    assert FAKE_CURRENCIES["XDG"]["scale"] == FAKE_CURRENCIES["BTC_LNG"]["scale"] == 8


@pytest.mark.parametrize("call", WITH_CURRENCY, ids=lambda call: call.__name__.strip("_"))
@pytest.mark.parametrize("currency", ["usdt", "DOGECOINZ"])
async def test_an_unknown_or_lowercase_currency_is_a_001(
    client: CalypsoClient, fake: FakeCalypso, call: Call, currency: str
) -> None:
    """Codes are case-sensitive: usdt and DOGECOINZ are refused with 400 001 everywhere."""
    await fake.fund("USDT", "100")
    with pytest.raises(BadRequestError, match="not a currency Calypso knows") as refused:
        await call(client, currency, "1")
    assert refused.value.code is ErrorCode.BAD_REQUEST
    assert refused.value.status == 400


@pytest.mark.parametrize("call", WITH_AMOUNT, ids=lambda call: call.__name__.strip("_"))
async def test_an_amount_finer_than_the_currency_scale_is_a_001(
    client: CalypsoClient, fake: FakeCalypso, call: Call
) -> None:
    """22 decimals of USDT (scale 6) are refused, naming the field and the scale."""
    await fake.fund("USDT", "100")
    with pytest.raises(BadRequestError, match="decimals: USDT takes at most 6") as refused:
        await call(client, "USDT", TOO_FINE)
    assert refused.value.code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("call", WITH_AMOUNT, ids=lambda call: call.__name__.strip("_"))
async def test_an_amount_at_the_currency_scale_is_taken(
    client: CalypsoClient, fake: FakeCalypso, call: Call
) -> None:
    """Exactly six decimals of USDT, or trailing zeros past them, are accepted."""
    await fake.fund("USDT", "100")
    await call(client, "USDT", "1.123456")
    await call(client, "USDT", "1.1000000000")


async def test_every_listed_currency_takes_an_invoice_at_its_scale(client: CalypsoClient) -> None:
    """Each code of the table takes an invoice whose amount has exactly its scale."""
    for code, currency in FAKE_CURRENCIES.items():
        amount = Decimal(1).scaleb(-int(currency["scale"]))
        invoice = await client.invoices.create_single(amount=amount, currency=code, description="x")
        assert (invoice.currency, invoice.amount) == (code, amount)


async def test_the_error_body_is_calypsos_with_the_field_named(fake: FakeCalypso) -> None:
    """On the wire: 400 with errorCode "001" and a message naming the field."""
    payload = {"amount": "1", "currency": "BTC", "description": "x", "lowerBound": "1"}
    status, body, _ = await raw_post(
        fake, "/api/v1/invoice/bound/create", envelope(fake, {**payload, "currency": "btc"})
    )
    assert (status, body["errorCode"]) == (400, "001")
    assert "currency 'btc'" in body["message"]
    status, body, _ = await raw_post(
        fake, "/api/v1/invoice/bound/create", envelope(fake, {**payload, "lowerBound": TOO_FINE})
    )
    assert (status, body["errorCode"]) == (400, "001")
    assert body["message"].startswith("lowerBound ")
    mass = {"currency": "USDT", "payouts": [{"depositAddress": ADDRESS, "amount": TOO_FINE}]}
    status, body, _ = await raw_post(fake, "/api/v1/payout/mass/create", envelope(fake, mass))
    assert (status, body["errorCode"]) == (400, "001")
    assert body["message"].startswith("payouts[0].amount ")


async def test_levers_refuse_unknown_currencies_and_over_precise_amounts(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """fund, set_balance, deposit and pay hold to the same table as the API."""
    invoice = await client.invoices.create_single(amount="1", currency="USDT", description="x")
    customer = await client.customers.create(description="x")
    levers: list[Callable[[], Awaitable[object]]] = [
        lambda: fake.fund("usdt", "1"),
        lambda: fake.fund("USDT", TOO_FINE),
        lambda: _sync(fake.set_balance, "DOGECOINZ", "1"),
        lambda: _sync(fake.set_balance, "BTC", "0.000000001"),
        lambda: fake.deposit(customer.id, "eth", "1"),
        lambda: fake.deposit(customer.id, "USDT", TOO_FINE),
        lambda: fake.pay(invoice.id, TOO_FINE),
    ]
    for lever in levers:
        with pytest.raises(FakeCalypsoError) as refused:
            await lever()
        assert (refused.value.status, refused.value.error_code) == (400, "001")
    assert fake.balances == {}
    assert fake.invoice(invoice.id)["state"] == "PENDING_PAYMENT"


async def _sync(function: Callable[..., object], *args: object) -> object:
    return function(*args)


async def test_every_listed_currency_has_a_deposit_address_of_its_network(
    client: CalypsoClient,
) -> None:
    """A customer gets an address for each currency, shaped like its network's."""
    customer = await client.customers.create(description="x")
    addresses = {
        code: (await client.customers.deposit_address(customer.id, code)).address
        for code in FAKE_CURRENCIES
    }
    assert len(set(addresses.values())) == len(addresses)
    assert addresses["BTC"].startswith("bc1q")
    assert addresses["USDT_TRX"].startswith("T")
    assert addresses["XDG"].startswith("D")
    assert addresses["BTC_LNG"].startswith("lnbc1")
    assert addresses["USDT_BSC"].startswith("0x")
