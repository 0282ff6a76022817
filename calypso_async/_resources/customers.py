"""``client.customers``: customers, their deposit addresses, and the deposits that arrive."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from .._core import checks as check
from .._errors import ConfigurationError
from .._types import (
    Customer,
    CustomerTransaction,
    DepositAddress,
    TransactionPage,
    TransactionState,
)
from .base import Resource, compact

__all__ = ["MAX_PAGE_SIZE", "Customers"]

MAX_PAGE_SIZE = 1000
"""The largest ``page_size`` the SDK sends (Calypso publishes no bound; this one is ours)."""

_CREATE = "/api/v1/customer-purse/customer/create"
_UPDATE = "/api/v1/customer-purse/customer/update"
_ADDRESS = "/api/v1/customer-purse/address/get"
_TRANSACTION = "/api/v1/customer-purse/transaction/get"
_FIND = "/api/v1/customer-purse/transaction/find"
_SORTS = ("ASC", "DESC")


def _email(value: object) -> str | None:
    # A light check only (one @, something on each side, no spaces): the server decides.
    if value is None:
        return None
    email = check.identifier("email", value)
    local, at, domain = email.partition("@")
    if not at or not local or not domain or "@" in domain or len(email) > 254:
        raise ConfigurationError("email must look like name@example.com")
    return email


def _strings(name: str, values: object) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigurationError(f"{name} must be a list of strings, not a single value")
    result = [check.identifier(name, value) for value in values]
    if not result:
        raise ConfigurationError(f"{name} must not be empty (pass None for no filter)")
    return result


def _find_payload(
    customer_id: str | None,
    currencies: Iterable[str] | None,
    states: Iterable[TransactionState | str] | None,
    page_size: int,
    sort: str | None,
    sort_by: str | None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "customerId": check.optional_identifier("customer_id", customer_id),
        "pageSize": check.integer("page_size", page_size, least=1, most=MAX_PAGE_SIZE),
    }
    if currencies is not None:
        payload["currencyFilter"] = {"in": _strings("currencies", currencies)}
    if states is not None:
        wire_states = check.enum_values("states", states, TransactionState)
        if not wire_states:
            raise ConfigurationError("states must not be empty (pass None for no filter)")
        payload["transactionStateFilter"] = {"in": wire_states}
    if sort is not None:
        if not isinstance(sort, str) or sort.upper() not in _SORTS:
            raise ConfigurationError("sort must be 'ASC', 'DESC' or None")
        payload["sort"] = sort.upper()
    if sort_by is not None:
        payload["properties"] = [check.identifier("sort_by", sort_by)]
    return compact(payload)


def _is_last(page: TransactionPage, page_number: int, page_size: int) -> bool:
    if not page.result:
        return True
    if page.last is not None:
        return page.last
    if page.total_pages is not None:
        return page_number + 1 >= page.total_pages
    if page.total_elements is not None:
        return (page_number + 1) * page_size >= page.total_elements
    return len(page.result) < page_size


class Customers(Resource):
    """Customer purse operations, reached as ``client.customers``.

    A customer gets a deposit address per currency; what arrives on it is a
    :class:`CustomerTransaction`. Arguments are checked before anything is sent
    (``ConfigurationError``).
    """

    async def create(self, *, email: str | None = None, description: str | None = None) -> Customer:
        """Create a customer.

        Calypso documents no idempotency key for it, so the call is never sent twice
        once it may have reached the server. After a :class:`CalypsoConnectionError`,
        :class:`CalypsoTimeoutError` or 5xx the customer may exist, and Calypso
        publishes no way to look customers up: creating again may make a second one.
        Put your own reference in ``description`` (your user id), so a duplicate can be
        recognised. When ``error.request_sent`` is ``False`` nothing was sent.

        Args:
            email: The customer's email (lightly checked: ``name@domain``).
            description: Your note on the customer, such as your own user id.

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent).
        """
        payload = {
            "email": _email(email),
            "description": check.optional_text("description", description),
        }
        return await self._write(_CREATE, compact(payload), Customer)

    async def update(
        self, customer_id: str, *, email: str | None = None, description: str | None = None
    ) -> Customer:
        """Change a customer's email and/or description (the ones left ``None`` are not sent).

        Not replayed by the SDK after an ambiguous failure; it sets values, so calling
        it again yourself has the same effect as once.

        Raises:
            ConfigurationError: Neither ``email`` nor ``description`` given, or one is
                malformed.
            NotFoundError: No such customer.
        """
        if email is None and description is None:
            raise ConfigurationError("give email and/or description to change")
        payload = {
            "id": check.identifier("customer_id", customer_id),
            "email": _email(email),
            "description": check.optional_text("description", description),
        }
        return await self._write(_UPDATE, compact(payload), Customer)

    async def deposit_address(self, customer_id: str, currency: str) -> DepositAddress:
        """Return the address ``customer_id`` pays ``currency`` into.

        A read: repeated freely. An address with no deposit for 30 days expires
        (Calypso sends ``CUSTOMER_PURSE_EXPIRED``); ask again for the current one.

        Raises:
            ConfigurationError: An argument is missing or malformed.
            NotFoundError: No such customer.
        """
        payload = {
            "customerId": check.identifier("customer_id", customer_id),
            "currency": check.identifier("currency", currency),
        }
        return await self._read(_ADDRESS, payload, DepositAddress)

    async def transaction(self, transaction_id: str) -> CustomerTransaction:
        """Read one deposit by its id.

        Raises:
            NotFoundError: No such transaction.
        """
        payload = {"transactionId": check.identifier("transaction_id", transaction_id)}
        return await self._read(_TRANSACTION, payload, CustomerTransaction)

    async def transactions_page(
        self,
        customer_id: str | None = None,
        *,
        currencies: Iterable[str] | None = None,
        states: Iterable[TransactionState | str] | None = None,
        page_number: int = 0,
        page_size: int = 100,
        sort: str | None = None,
        sort_by: str | None = None,
    ) -> TransactionPage:
        """Read one page of deposits (``/api/v1/customer-purse/transaction/find``).

        Pages are numbered from 0 (Calypso does not say; its filters follow the Spring
        criteria style, whose pages count from 0).

        Args:
            customer_id: Only this customer's deposits (all customers when ``None``).
            currencies: Only these currencies, sent as ``currencyFilter: {"in": [...]}``.
            states: Only these states (members or strings), sent as
                ``transactionStateFilter: {"in": [...]}``.
            page_number: Which page, from 0.
            page_size: Items per page, 1 to :data:`MAX_PAGE_SIZE` (1000).
            sort: ``"ASC"`` or ``"DESC"``; the server's order when ``None``.
            sort_by: The property to sort by, such as ``"createdDate"``, sent as
                ``properties: [sort_by]``.

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent), such as an
                empty ``currencies`` (pass ``None`` for no filter).
        """
        payload = _find_payload(customer_id, currencies, states, page_size, sort, sort_by)
        payload["pageNumber"] = check.integer("page_number", page_number)
        return await self._read(_FIND, payload, TransactionPage)

    def transactions(
        self,
        customer_id: str | None = None,
        *,
        currencies: Iterable[str] | None = None,
        states: Iterable[TransactionState | str] | None = None,
        page_size: int = 100,
        sort: str | None = None,
        sort_by: str | None = None,
    ) -> AsyncIterator[CustomerTransaction]:
        """Every matching deposit, page after page: ``async for tx in ...``.

        Arguments are checked here, when called; pages are fetched lazily, the next
        one only once the items of the last are used up, starting at page 0. Paging
        stops after a page that is empty or that the server marks the last by the
        first of these it sends: ``last: true``; ``totalPages`` (this was the final
        page); ``totalElements`` (the items so far reach it). A server sending none of
        them ends at a page holding fewer than ``page_size`` items (a full last page
        then costs one more, empty, request).

        Deposits arriving while you iterate may shift the pages (an item seen twice or
        missed): sort ascending by ``createdDate`` (``sort="ASC",
        sort_by="createdDate"``) to keep new ones at the end.

        Takes the arguments of :meth:`transactions_page` but ``page_number``.

        Raises:
            ConfigurationError: An argument is invalid (raised by this call itself).
        """
        payload = _find_payload(customer_id, currencies, states, page_size, sort, sort_by)
        return self._pages(payload, page_size)

    async def _pages(
        self, payload: dict[str, Any], page_size: int
    ) -> AsyncIterator[CustomerTransaction]:
        page_number = 0
        while True:
            page = await self._read(_FIND, {**payload, "pageNumber": page_number}, TransactionPage)
            for item in page.result:
                yield item
            if _is_last(page, page_number, page_size):
                return
            page_number += 1
