"""FakeCalypso exchanges end to end: pairs, rates, limits, balances moved, levers, codes."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from calypso_async import (
    BadRequestError,
    CalypsoClient,
    ConfigurationError,
    ErrorCode,
    ExchangeState,
    NotFoundError,
)
from calypso_async.testing import (
    FAKE_CURRENCIES,
    FAKE_EXCHANGE_LIMITS,
    FAKE_EXCHANGE_RATES,
    FakeCalypso,
    FakeCalypsoError,
)
from tests.testing.conftest import envelope, raw_post


async def test_pairs_list_each_pair_of_the_rate_table(client: CalypsoClient) -> None:
    """Every (source, destination) of FAKE_EXCHANGE_RATES is a pair, with its Currency."""
    pairs = await client.exchange.pairs()
    served = {(source, c.name) for source, currencies in pairs.items() for c in currencies}
    assert served == set(FAKE_EXCHANGE_RATES)
    btc = next(c for c in pairs["USDT"] if c.name == "BTC")
    assert btc.scale == FAKE_CURRENCIES["BTC"]["scale"] == 8
    assert btc.network_data is not None
    assert btc.network_data.front_name == "Bitcoin"
    assert btc.active is True


async def test_rate_quote_and_limit_come_from_the_fixed_tables(client: CalypsoClient) -> None:
    """The rate is the table's; a quote rounds down to the destination's scale."""
    rate = await client.exchange.average_rate(source_currency="USDT", destination_currency="BTC")
    assert rate.rate == FAKE_EXCHANGE_RATES["USDT", "BTC"] == Decimal("0.0000165")
    quote = await client.exchange.pre_calculate(
        source_currency="USDT", destination_currency="BTC", amount="123.45", direction="ANY"
    )
    # 123.45 * 0.0000165 = 0.002036925, rounded down to BTC's 8 places.
    assert str(quote.amount) == "0.00203692"
    limit = await client.exchange.limit(source_currency="BTC", destination_currency="USDT")
    assert limit.limits == {
        "BTC": FAKE_EXCHANGE_LIMITS["BTC"],
        "USDT": FAKE_EXCHANGE_LIMITS["USDT"],
    }


async def test_create_debits_then_complete_credits(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """The source leaves at create; the destination arrives when the exchange completes."""
    fake.set_balance("USDT", "1000.50")
    exchange = await client.exchange.create(
        source_currency="USDT", destination_currency="ETH", amount=Decimal("100.25")
    )
    assert exchange.state is ExchangeState.IN_PROGRESS
    assert exchange.account == fake.account
    assert exchange.destination_amount == Decimal("0.03969900")
    assert fake.balances == {"USDT": Decimal("900.25")}
    done = await fake.complete_exchange(exchange.id)
    assert done["state"] == "COMPLETED"
    again = await client.exchange.get(exchange.id)
    assert again.state is ExchangeState.COMPLETED
    assert fake.balances == {"USDT": Decimal("900.25"), "ETH": Decimal("0.03969900")}
    balances = await client.account.balances()
    assert {b.currency: b.amount for b in balances.balances}["ETH"] == Decimal("0.03969900")


async def test_a_failed_exchange_gives_the_source_back(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """fail_exchange: FAILED, the source amount refunded, nothing bought."""
    fake.set_balance("BTC", 1)
    exchange = await client.exchange.create(
        source_currency="BTC", destination_currency="USDT", amount="0.5"
    )
    await fake.fail_exchange(exchange.id)
    assert (await client.exchange.get(exchange.id)).state is ExchangeState.FAILED
    assert fake.balances == {"BTC": Decimal("1.0")}
    with pytest.raises(FakeCalypsoError, match="not IN_PROGRESS"):
        await fake.complete_exchange(exchange.id)
    assert [e["id"] for e in fake.exchanges] == [exchange.id]


async def test_an_exchange_above_the_balance_is_a_001_and_moves_nothing(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """Refused with the published bad-request code; the balance is untouched."""
    fake.set_balance("USDT", "10")
    with pytest.raises(BadRequestError) as refused:
        await client.exchange.create(source_currency="USDT", destination_currency="BTC", amount=11)
    assert refused.value.code is ErrorCode.BAD_REQUEST
    assert "insufficient USDT balance" in str(refused.value)
    assert fake.balances == {"USDT": Decimal("10")}
    assert fake.exchanges == []


@pytest.mark.parametrize(
    ("source", "destination", "amount", "words"),
    [
        ("TRX", "BTC", "1", "no exchange from TRX to BTC"),
        ("BTC", "USDT", "6", "above the limit"),
    ],
)
async def test_unknown_pairs_and_amounts_above_the_limit_are_a_001(
    fake: FakeCalypso, client: CalypsoClient, source: str, destination: str, amount: str, words: str
) -> None:
    """A pair the fake does not serve and an amount over the limit: 400 001."""
    fake.set_balance(source, 100)
    with pytest.raises(BadRequestError, match=words) as refused:
        await client.exchange.create(
            source_currency=source, destination_currency=destination, amount=amount
        )
    assert refused.value.error_code == "001"


async def test_an_unknown_exchange_is_a_004(client: CalypsoClient) -> None:
    """get() of an id the fake never made: NotFoundError with the published code."""
    with pytest.raises(NotFoundError) as missing:
        await client.exchange.get(999)
    assert missing.value.code is ErrorCode.NOT_FOUND


async def test_payload_errors_are_a_001_naming_the_field(fake: FakeCalypso) -> None:
    """A raw request with a missing currency or a string id is refused with 001."""
    status, body, _ = await raw_post(
        fake, "/api/v1/exchange/limit", envelope(fake, {"sourceCurrency": "BTC"})
    )
    assert (status, body["errorCode"]) == (400, "001")
    assert "destinationCurrency" in body["message"]
    status, body, _ = await raw_post(fake, "/api/v1/exchange/get", envelope(fake, {"id": "1"}))
    assert (status, body["errorCode"]) == (400, "001")


async def test_exchange_delay_completes_exchanges_by_itself(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """With exchange_delay set, an exchange completes without a lever (0: at once)."""
    assert fake.exchange_delay is None
    fake.exchange_delay = 0
    fake.set_balance("USDT", 5)
    exchange = await client.exchange.create(
        source_currency="USDT", destination_currency="USDC", amount=5
    )
    for _ in range(10):  # the completion is a task of its own: let it run, no waiting
        if fake.exchange(exchange.id)["state"] == "COMPLETED":
            break
        await asyncio.sleep(0)
    assert (await client.exchange.get(exchange.id)).state is ExchangeState.COMPLETED
    assert fake.balances["USDC"] == Decimal("4.995000")


async def test_levers_check_their_arguments(fake: FakeCalypso) -> None:
    """Float money and a negative delay are refused; an unknown exchange is a 404."""
    with pytest.raises(TypeError):
        fake.set_balance("USDT", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        fake.set_balance("USDT", "-1")
    with pytest.raises(ConfigurationError):
        fake.exchange_delay = -1
    with pytest.raises(FakeCalypsoError) as missing:
        await fake.fail_exchange(5)
    assert (missing.value.status, missing.value.error_code) == (404, "004")
