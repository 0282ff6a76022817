"""FakeCalypso customer purses end to end: customers, addresses, deposits, paged finds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calypso_async import (
    BadRequestError,
    CalypsoClient,
    ComplianceState,
    ErrorCode,
    NotFoundError,
    TransactionState,
)
from calypso_async.testing import FakeCalypso, FakeCalypsoError
from tests.testing.conftest import envelope, raw_post

FIND = "/api/v1/customer-purse/transaction/find"


async def test_customers_are_created_and_updated(fake: FakeCalypso, client: CalypsoClient) -> None:
    """create answers {id, email, description, blocked}; update changes what it is given."""
    customer = await client.customers.create(email="ada@example.com", description="user 42")
    assert (customer.email, customer.description, customer.blocked) == (
        "ada@example.com",
        "user 42",
        False,
    )
    changed = await client.customers.update(customer.id, description="user 43")
    assert (changed.email, changed.description) == ("ada@example.com", "user 43")
    assert fake.customers == [dict(changed.raw)]


async def test_deposit_addresses_are_stable_per_customer_and_currency(
    client: CalypsoClient,
) -> None:
    """The same customer and currency give the same address; another gives another."""
    ada = await client.customers.create(description="ada")
    bob = await client.customers.create(description="bob")
    first = await client.customers.deposit_address(ada.id, "USDT")
    assert (await client.customers.deposit_address(ada.id, "USDT")) == first
    assert (await client.customers.deposit_address(ada.id, "BTC")) != first
    assert (await client.customers.deposit_address(bob.id, "USDT")) != first


async def test_a_deposit_is_a_transaction_and_credits_the_account(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """deposit(): a MEM_POOL_FOUND / UNCHECKED transaction, readable by id, money credited."""
    customer = await client.customers.create()
    wire = await fake.deposit(customer.id, "ETH", "0.000042026017236")
    tx = await client.customers.transaction(wire["id"])
    assert str(tx.amount) == "0.000042026017236"
    assert tx.currency == "ETH"
    assert tx.transaction_state is TransactionState.MEM_POOL_FOUND
    assert tx.compliance_state is ComplianceState.UNCHECKED
    assert tx.translation_to_account_completed is True
    assert fake.balances == {"ETH": Decimal("0.000042026017236")}


async def test_unknown_customers_and_transactions_are_a_004(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """Published not-found code for a customer or transaction the fake never made."""
    with pytest.raises(NotFoundError) as missing:
        await client.customers.deposit_address("nobody", "USDT")
    assert missing.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(NotFoundError):
        await client.customers.update("nobody", email="a@b.c")
    with pytest.raises(NotFoundError):
        await client.customers.transaction("no-such-tx")
    with pytest.raises(FakeCalypsoError) as lever:
        await fake.deposit("nobody", "USDT", 1)
    assert lever.value.error_code == "004"


async def test_an_unknown_currency_is_a_001(client: CalypsoClient) -> None:
    """An address in a currency the fake does not know is a bad request."""
    customer = await client.customers.create()
    with pytest.raises(BadRequestError) as refused:
        await client.customers.deposit_address(customer.id, "DOGE")
    assert refused.value.code is ErrorCode.BAD_REQUEST


async def test_iterating_reads_every_page_and_honours_the_filters(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """Seven deposits in pages of 3: three requests; customer, currency, state filters."""
    ada = await client.customers.create(description="ada")
    bob = await client.customers.create(description="bob")
    for number in range(1, 8):
        await fake.deposit(ada.id, "USDT" if number % 2 else "ETH", number)
    await fake.deposit(bob.id, "USDT", 100)
    await fake.deposit(ada.id, "USDT", 200, state="COMPLETED")
    adas = [tx.amount async for tx in client.customers.transactions(ada.id, page_size=3)]
    assert adas == [1, 2, 3, 4, 5, 6, 7, 200]
    assert len(fake.calls_to(FIND)) == 3
    usdt = client.customers.transactions(
        ada.id, currencies=["USDT"], states=[TransactionState.MEM_POOL_FOUND], page_size=2
    )
    assert [tx.amount async for tx in usdt] == [1, 3, 5, 7]
    completed = client.customers.transactions(states=["COMPLETED"])
    assert [(tx.amount, tx.transaction_state) async for tx in completed] == [(200, "COMPLETED")]
    everyone = [tx.amount async for tx in client.customers.transactions(sort="DESC")]
    assert everyone == [200, 100, 7, 6, 5, 4, 3, 2, 1]


async def test_a_page_reports_its_totals(fake: FakeCalypso, client: CalypsoClient) -> None:
    """The fake's pages carry pageNumber, totalElements and totalPages (0-based pages)."""
    customer = await client.customers.create()
    for amount in range(1, 6):
        await fake.deposit(customer.id, "USDT", amount)
    second = await client.customers.transactions_page(page_number=1, page_size=2)
    assert [tx.amount for tx in second.result] == [3, 4]
    assert (second.page_number, second.total_elements, second.total_pages) == (1, 5, 3)
    sorted_by_amount = await client.customers.transactions_page(sort="DESC", sort_by="amount")
    assert [tx.amount for tx in sorted_by_amount.result] == [5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    "payload",
    [
        {"currencyFilter": {"in": "USDT"}},
        {"currencyFilter": {"startsWith": "US"}},
        {"transactionStateFilter": {"contains": "MEM"}},
        {"pageSize": 0},
        {"pageNumber": -1},
        {"sort": "UP"},
        {"properties": ["nothing"]},
    ],
)
async def test_malformed_find_payloads_are_a_001(
    fake: FakeCalypso, payload: dict[str, object]
) -> None:
    """Filters of the wrong shape, bad paging or sorting: 400 with the published 001."""
    status, body, _ = await raw_post(fake, FIND, envelope(fake, payload))
    assert (status, body["errorCode"]) == (400, "001")


async def test_equals_and_not_in_filters_are_honoured(
    fake: FakeCalypso, client: CalypsoClient
) -> None:
    """The published filter operators beyond `in` work on the fake too."""
    customer = await client.customers.create()
    await fake.deposit(customer.id, "USDT", 1)
    await fake.deposit(customer.id, "ETH", 2)
    await fake.deposit(customer.id, "BTC", 3)
    payload = {
        "currencyFilter": {"notIn": ["BTC"]},
        "transactionStateFilter": {"equals": "MEM_POOL_FOUND"},
    }
    status, body, _ = await raw_post(fake, FIND, envelope(fake, payload))
    assert status == 200
    assert [item["currency"] for item in body["result"]] == ["USDT", "ETH"]
    status, body, _ = await raw_post(
        fake, FIND, envelope(fake, {"currencyFilter": {"equals": "BTC"}})
    )
    assert [item["amount"] for item in body["result"]] == [3]
