"""client.customers: payloads, checks before I/O, a create never replayed, lazy paging."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aioresponses import aioresponses

from calypso_async import (
    CalypsoClient,
    ConfigurationError,
    Customer,
    NotFoundError,
    ServerError,
    TransactionState,
)
from tests.conftest import BASE_URL, load_fixture, load_fixture_json
from tests.resources.wire import payload_of, sent

CREATE = "/api/v1/customer-purse/customer/create"
UPDATE = "/api/v1/customer-purse/customer/update"
ADDRESS = "/api/v1/customer-purse/address/get"
TRANSACTION = "/api/v1/customer-purse/transaction/get"
FIND = "/api/v1/customer-purse/transaction/find"
CUSTOMER_ID = "5f0c2b9e-8d1a-4c3e-9b7f-2a6d4e8c1f30"


def transaction(number: int) -> dict[str, Any]:
    return {**load_fixture_json("customer_transaction.json"), "id": f"tx-{number}"}


def page(numbers: range, **paging: Any) -> str:
    return json.dumps({"result": [transaction(n) for n in numbers], **paging})


async def test_create_sends_only_what_was_given(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """email and description go out by their wire names; None ones are left out."""
    mock_api.post(BASE_URL + CREATE, body=load_fixture("customer.json"))
    mock_api.post(BASE_URL + CREATE, body=load_fixture("customer.json"))
    customer = await client.customers.create(email="ada@example.com", description="user 42")
    assert isinstance(customer, Customer)
    assert customer.id == CUSTOMER_ID
    await client.customers.create()
    first, second = sent(mock_api, CREATE)
    assert payload_of(first) == {"email": "ada@example.com", "description": "user 42"}
    assert payload_of(second) == {}


async def test_create_is_never_replayed_after_an_ambiguous_failure(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """No key is documented: after a 503 the customer may exist, so nothing is resent."""
    for _ in range(3):
        mock_api.post(BASE_URL + CREATE, status=503)
    with pytest.raises(ServerError):
        await client.customers.create(description="user 42")
    assert len(sent(mock_api, CREATE)) == 1


async def test_update_sends_the_id_and_the_changes(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """update(id, email=...) posts {id, email}; a description left None is not sent."""
    mock_api.post(BASE_URL + UPDATE, body=load_fixture("customer.json"))
    await client.customers.update(CUSTOMER_ID, email="ada@example.com")
    (call,) = sent(mock_api, UPDATE)
    assert payload_of(call) == {"id": CUSTOMER_ID, "email": "ada@example.com"}


async def test_deposit_address_and_transaction_send_their_ids(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """address/get posts {customerId, currency}; transaction/get posts {transactionId}."""
    mock_api.post(BASE_URL + ADDRESS, body='{"address": "0xabc"}')
    mock_api.post(BASE_URL + TRANSACTION, body=load_fixture("customer_transaction.json"))
    address = await client.customers.deposit_address(CUSTOMER_ID, "USDT")
    tx = await client.customers.transaction("tx-1")
    assert address.address == "0xabc"
    assert tx.transaction_state is TransactionState.MEM_POOL_FOUND
    assert payload_of(sent(mock_api, ADDRESS)[0]) == {"customerId": CUSTOMER_ID, "currency": "USDT"}
    assert payload_of(sent(mock_api, TRANSACTION)[0]) == {"transactionId": "tx-1"}


async def test_a_page_request_maps_filters_to_the_published_objects(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """currencies and states become {in: [...]}; paging and sort go by their wire names."""
    mock_api.post(BASE_URL + FIND, body=page(range(2)))
    result = await client.customers.transactions_page(
        CUSTOMER_ID,
        currencies=["USDT", "ETH"],
        states=[TransactionState.MEM_POOL_FOUND, "COMPLETED"],
        page_number=2,
        page_size=50,
        sort="desc",
        sort_by="createdDate",
    )
    assert [tx.id for tx in result.result] == ["tx-0", "tx-1"]
    (call,) = sent(mock_api, FIND)
    assert payload_of(call) == {
        "customerId": CUSTOMER_ID,
        "currencyFilter": {"in": ["USDT", "ETH"]},
        "transactionStateFilter": {"in": ["MEM_POOL_FOUND", "COMPLETED"]},
        "pageNumber": 2,
        "pageSize": 50,
        "sort": "DESC",
        "properties": ["createdDate"],
    }


async def test_a_bare_page_request_sends_paging_only(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """No customer, no filters, no sort: only pageNumber (from 0) and pageSize (100)."""
    mock_api.post(BASE_URL + FIND, body=page(range(0)))
    await client.customers.transactions_page()
    (call,) = sent(mock_api, FIND)
    assert payload_of(call) == {"pageNumber": 0, "pageSize": 100}


async def test_iterating_fetches_three_pages_lazily(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """Page n+1 is asked for only once page n is used up; numbering starts at 0."""
    mock_api.post(BASE_URL + FIND, body=page(range(0, 2)))
    mock_api.post(BASE_URL + FIND, body=page(range(2, 4)))
    mock_api.post(BASE_URL + FIND, body=page(range(4, 5)))
    iterator = client.customers.transactions(CUSTOMER_ID, page_size=2)
    assert sent(mock_api, FIND) == []  # nothing until the first item is asked for
    seen = []
    async for tx in iterator:
        seen.append(tx.id)
        assert len(sent(mock_api, FIND)) == len(seen) // 2 + (len(seen) % 2)
    assert seen == ["tx-0", "tx-1", "tx-2", "tx-3", "tx-4"]
    numbers = [payload_of(call)["pageNumber"] for call in sent(mock_api, FIND)]
    assert numbers == [0, 1, 2]
    assert {payload_of(call)["customerId"] for call in sent(mock_api, FIND)} == {CUSTOMER_ID}


async def test_without_totals_a_full_last_page_costs_one_empty_request(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """No paging fields: a full page means "maybe more"; an empty page ends it."""
    mock_api.post(BASE_URL + FIND, body=page(range(0, 2)))
    mock_api.post(BASE_URL + FIND, body=page(range(2, 4)))
    mock_api.post(BASE_URL + FIND, body=page(range(0)))
    ids = [tx.id async for tx in client.customers.transactions(page_size=2)]
    assert ids == ["tx-0", "tx-1", "tx-2", "tx-3"]
    assert len(sent(mock_api, FIND)) == 3


async def test_total_pages_ends_paging_without_an_extra_request(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """totalPages: the final page is known, however full it is."""
    mock_api.post(BASE_URL + FIND, body=page(range(0, 2), totalPages=2, totalElements=4))
    mock_api.post(BASE_URL + FIND, body=page(range(2, 4), totalPages=2, totalElements=4))
    ids = [tx.id async for tx in client.customers.transactions(page_size=2)]
    assert ids == ["tx-0", "tx-1", "tx-2", "tx-3"]
    assert len(sent(mock_api, FIND)) == 2


async def test_total_elements_alone_ends_paging(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """totalElements without totalPages: the items so far reaching it end the paging."""
    mock_api.post(BASE_URL + FIND, body=page(range(0, 2), totalElements=4))
    mock_api.post(BASE_URL + FIND, body=page(range(2, 4), totalElements=4))
    ids = [tx.id async for tx in client.customers.transactions(page_size=2)]
    assert len(ids) == 4
    assert len(sent(mock_api, FIND)) == 2


async def test_last_true_wins_over_a_full_page(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """last: true ends the paging; last: false goes on even past a short page."""
    mock_api.post(BASE_URL + FIND, body=page(range(0, 1), last=False, totalPages=1))
    mock_api.post(BASE_URL + FIND, body=page(range(1, 3), last=True))
    ids = [tx.id async for tx in client.customers.transactions(page_size=2)]
    assert ids == ["tx-0", "tx-1", "tx-2"]
    assert len(sent(mock_api, FIND)) == 2


async def test_an_empty_page_ends_paging_whatever_it_claims(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """A server claiming more pages but sending none cannot make iteration endless."""
    mock_api.post(BASE_URL + FIND, body=page(range(0), last=False, totalPages=99))
    assert [tx async for tx in client.customers.transactions()] == []
    assert len(sent(mock_api, FIND)) == 1


async def test_a_failing_page_raises_from_the_iteration(
    client: CalypsoClient, mock_api: aioresponses
) -> None:
    """The items already yielded stay yielded; the failure is the typed error."""
    mock_api.post(BASE_URL + FIND, body=page(range(0, 2)))
    gone = '{"traceId": "t", "errorCode": "004", "message": "customer not found"}'
    mock_api.post(BASE_URL + FIND, status=404, body=gone)
    seen: list[str] = []

    async def read_all() -> None:
        async for tx in client.customers.transactions(page_size=2):
            seen.append(tx.id)

    with pytest.raises(NotFoundError):
        await read_all()
    assert seen == ["tx-0", "tx-1"]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"currencies": "USDT"}, "currencies"),
        ({"currencies": []}, "currencies"),
        ({"currencies": ["US DT"]}, "whitespace"),
        ({"states": []}, "states"),
        ({"states": [3]}, "states"),
        ({"sort": "UP"}, "sort"),
        ({"sort_by": ""}, "sort_by"),
        ({"customer_id": " "}, "customer_id"),
    ],
)
async def test_bad_find_arguments_are_refused_when_called(
    client: CalypsoClient, mock_api: aioresponses, arguments: dict[str, Any], words: str
) -> None:
    """transactions() refuses at the call (not at the first item); nothing is sent."""
    with pytest.raises(ConfigurationError, match=words):
        client.customers.transactions(**arguments)
    with pytest.raises(ConfigurationError, match=words):
        await client.customers.transactions_page(**arguments)
    with pytest.raises(ConfigurationError, match="page_number"):
        await client.customers.transactions_page(page_number=-1)
    assert mock_api.requests == {}


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda c: c.create(email="not-an-email"), "email"),
        (lambda c: c.create(email="a@b@c"), "email"),
        (lambda c: c.create(email="@example.com"), "email"),
        (lambda c: c.create(description=""), "description"),
        (lambda c: c.update(CUSTOMER_ID), "email and/or description"),
        (lambda c: c.update("", email="a@b.c"), "customer_id"),
        (lambda c: c.deposit_address(CUSTOMER_ID, ""), "currency"),
        (lambda c: c.deposit_address("", "USDT"), "customer_id"),
        (lambda c: c.transaction(" "), "transaction_id"),
    ],
)
async def test_bad_customer_arguments_are_refused_before_any_request(
    client: CalypsoClient, mock_api: aioresponses, call: Any, words: str
) -> None:
    """Malformed emails, empty ids, an update changing nothing: nothing is sent."""
    with pytest.raises(ConfigurationError, match=words):
        await call(client.customers)
    assert mock_api.requests == {}
