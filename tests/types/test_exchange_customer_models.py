"""Exchange and customer-purse models: published shapes, tolerant enums, required fields."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from calypso_async import (
    ComplianceState,
    Currency,
    Customer,
    CustomerTransaction,
    DecodeError,
    DepositAddress,
    Exchange,
    ExchangeLimit,
    ExchangeQuote,
    ExchangeRate,
    ExchangeState,
    NetworkData,
    TransactionPage,
    TransactionState,
)
from calypso_async._core.json import loads
from calypso_async._types import CurrencyPairs
from calypso_async._types.converter import make_converter, structure
from tests.conftest import load_fixture

FIXTURE_MODELS = [
    ("exchange_pairs.json", CurrencyPairs),
    ("exchange.json", Exchange),
    ("customer.json", Customer),
    ("customer_transaction.json", CustomerTransaction),
]


def read(name: str) -> Any:
    """A fixture decoded as the session decodes answers (fractions as Decimal)."""
    return loads(load_fixture(name))


@pytest.mark.parametrize(("name", "model"), FIXTURE_MODELS)
def test_every_fixture_reads_leniently_and_strictly(name: str, model: type[Any]) -> None:
    """Each fixture reads with the production converter and its strict twin alike."""
    data = read(name)
    obj = structure(data, model)
    assert obj.raw == data
    assert make_converter(strict=True).structure(data, model) == obj


def test_currency_pairs_read_every_published_currency_field() -> None:
    """Currency: every published field, network data nested, garbage amount exact."""
    pairs = structure(read("exchange_pairs.json"), CurrencyPairs).currency_pairs
    assert sorted(pairs) == ["BTC", "USDT"]
    (usdt,) = pairs["BTC"]
    assert usdt == Currency(
        name="USDT",
        fee_currency_name="ETH",
        coin_id="3",
        network_data=NetworkData(front_name="Ethereum", type="ERC20"),
        scale=6,
        blockchain_scale=6,
        garbage_amount=Decimal("0.0001"),
        crypto=True,
        blockchain_name="ETHEREUM",
        contract="0xdac17f958d2ee523a2206206994597c13d831ec7",
        enabled=True,
        active=True,
    )
    assert pairs["USDT"][0].contract is None
    assert pairs["USDT"][0].active is False


def test_exchange_keeps_its_numeric_id_as_an_int_and_amounts_exact() -> None:
    """id is an int (get sends it back as a number); amounts keep every digit."""
    exchange = structure(read("exchange.json"), Exchange)
    assert exchange.id == 4217
    assert type(exchange.id) is int
    assert exchange.state is ExchangeState.IN_PROGRESS
    assert str(exchange.source_amount) == "1520.10"
    assert str(exchange.destination_amount) == "0.025081650000000001"
    assert exchange.created_date == datetime(2025, 7, 5, 22, 31, 9, 255000, tzinfo=UTC)


def test_an_exchange_id_written_as_a_string_is_a_decode_error() -> None:
    """The pinned choice: an id that is not a JSON integer is refused, not guessed at."""
    data = {**read("exchange.json"), "id": "4217"}
    with pytest.raises(DecodeError, match="id"):
        structure(data, Exchange)


@pytest.mark.parametrize("key", ["id", "state", "sourceCurrency", "destinationCurrency"])
def test_an_exchange_missing_a_required_field_is_a_decode_error(key: str) -> None:
    """Every exchange answer carries these: without one the answer is malformed."""
    data = read("exchange.json")
    del data[key]
    with pytest.raises(DecodeError):
        structure(data, Exchange)


def test_unknown_exchange_state_is_kept() -> None:
    """A state Calypso adds later is an UNKNOWN member keeping the string."""
    exchange = structure({**read("exchange.json"), "state": "REFUNDED"}, Exchange)
    assert exchange.state == "REFUNDED"
    assert exchange.state.name == "UNKNOWN"
    assert not exchange.state.is_known


def test_quote_and_rate_read_exact_decimals() -> None:
    """pre-calculate and average-rate answers keep every digit."""
    quote = structure(
        loads(b'{"sourceCurrency": "USDT", "destinationCurrency": "BTC", "amount": 0.00165}'),
        ExchangeQuote,
    )
    assert (quote.source_currency, quote.destination_currency) == ("USDT", "BTC")
    assert str(quote.amount) == "0.00165"
    rate = structure(loads(b'{"rate": 60000.000000000001}'), ExchangeRate)
    assert str(rate.rate) == "60000.000000000001"


@pytest.mark.parametrize(
    ("body", "model"),
    [(b'{"amount": 1, "sourceCurrency": "USDT"}', ExchangeQuote), (b"{}", ExchangeRate)],
)
def test_quote_or_rate_without_their_fields_is_a_decode_error(
    body: bytes, model: type[Any]
) -> None:
    """A quote without its currencies, a rate without its rate: DecodeError."""
    with pytest.raises(DecodeError):
        structure(loads(body), model)


def test_limit_reads_numeric_entries_and_keeps_everything_on_raw() -> None:
    """The unpublished limit shape: numbers (and numeric strings) become limits."""
    data = loads(b'{"BTC": 5, "USDT": "300000.5", "note": "x", "nested": {"ETH": 1}, "flag": true}')
    limit = structure(data, ExchangeLimit)
    assert limit.limits == {"BTC": Decimal(5), "USDT": Decimal("300000.5")}
    assert limit.limit_for("BTC") == Decimal(5)
    assert limit.limit_for("ETH") is None
    assert limit.raw == data


def test_customer_reads_and_a_numeric_id_becomes_a_string() -> None:
    """Customer: published fields; an id sent as a number is kept as a string."""
    customer = structure(read("customer.json"), Customer)
    assert customer.email == "ada@example.com"
    assert customer.blocked is False
    assert structure({"id": 17}, Customer).id == "17"
    with pytest.raises(DecodeError):
        structure({"email": "a@b.c"}, Customer)


def test_deposit_address_requires_its_address() -> None:
    """{address} reads; an answer without it is a DecodeError."""
    assert structure({"address": "0xabc"}, DepositAddress).address == "0xabc"
    with pytest.raises(DecodeError):
        structure({}, DepositAddress)


def test_customer_transaction_reads_every_published_field() -> None:
    """Transaction: exact amount, published states as members, a zone-less UTC date."""
    tx = structure(read("customer_transaction.json"), CustomerTransaction)
    assert str(tx.amount) == "0.000042026017236"
    assert tx.transaction_state is TransactionState.MEM_POOL_FOUND
    assert tx.compliance_state is ComplianceState.UNCHECKED
    assert tx.translation_to_account_completed is False
    assert tx.created_date == datetime(2022, 8, 25, 12, 47, 28, 200475, tzinfo=UTC)


def test_unknown_transaction_and_compliance_states_are_kept() -> None:
    """States Calypso has not published parse as UNKNOWN members keeping the string."""
    data = {
        **read("customer_transaction.json"),
        "transactionState": "COMPLETED",
        "complianceState": "DECLINED",
    }
    tx = structure(data, CustomerTransaction)
    assert (tx.transaction_state, tx.transaction_state.name) == ("COMPLETED", "UNKNOWN")
    assert (tx.compliance_state, tx.compliance_state.name) == ("DECLINED", "UNKNOWN")


@pytest.mark.parametrize("key", ["id", "amount", "currency", "transactionState"])
def test_a_transaction_missing_a_required_field_is_a_decode_error(key: str) -> None:
    """Every transaction carries these: without one it is malformed."""
    data = read("customer_transaction.json")
    del data[key]
    with pytest.raises(DecodeError):
        structure(data, CustomerTransaction)


def test_page_reads_paging_fields_tolerantly() -> None:
    """Paging fields are read when they are counts and are None otherwise."""
    item = read("customer_transaction.json")
    page = structure(
        {"result": [item], "totalPages": 3, "totalElements": 7, "pageNumber": 1, "last": False},
        TransactionPage,
    )
    assert [tx.id for tx in page.result] == [item["id"]]
    assert (page.total_pages, page.total_elements, page.page_number, page.last) == (3, 7, 1, False)
    bare = structure({"result": [], "totalPages": "3", "last": "no", "total": 2}, TransactionPage)
    assert (bare.total_pages, bare.total_elements, bare.page_number, bare.last) == (
        None,
        2,
        None,
        None,
    )


def test_a_page_without_result_is_a_decode_error_and_null_is_empty() -> None:
    """`result` is what every find answer carries; null reads as no items."""
    with pytest.raises(DecodeError):
        structure({"totalPages": 1}, TransactionPage)
    assert structure({"result": None}, TransactionPage).result == ()
