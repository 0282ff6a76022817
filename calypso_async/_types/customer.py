"""Customers and their purses: deposit addresses, and the transactions arriving on them.

A customer gets a deposit address per currency. Field names are the snake_case of the
wire names; fields every answer carries are required (an answer without one is a
``DecodeError``), the others may be ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from .base import TolerantEnum, model, raw_field

__all__ = [
    "ComplianceState",
    "Customer",
    "CustomerTransaction",
    "DepositAddress",
    "TransactionPage",
    "TransactionState",
]


class TransactionState(TolerantEnum):
    """Where a customer's deposit is (``transactionState``).

    Calypso has published one value, ``MEM_POOL_FOUND``; every other one arrives as an
    ``UNKNOWN`` member keeping the string (filter on it by passing the string).
    """

    MEM_POOL_FOUND = "MEM_POOL_FOUND"


class ComplianceState(TolerantEnum):
    """The compliance check of a deposit (``complianceState``).

    Calypso has published one value, ``UNCHECKED``; others arrive as ``UNKNOWN``
    members keeping the string.
    """

    UNCHECKED = "UNCHECKED"


@model
@attrs.frozen
class Customer:
    """A customer of the merchant, who gets deposit addresses of their own.

    Attributes:
        id: The customer's id (kept as a string, whatever the wire's type).
        email: The customer's email, if one was given.
        description: The merchant's note on the customer.
        blocked: Whether Calypso has blocked the customer.
        raw: The JSON object it was read from, unknown fields included.
    """

    id: str
    email: str | None = None
    description: str | None = None
    blocked: bool | None = None
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class DepositAddress:
    """The address a customer pays into, for one currency.

    Attributes:
        address: The blockchain address.
        raw: The JSON object it was read from, unknown fields included.
    """

    address: str
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class CustomerTransaction:
    """A deposit that arrived on a customer's address.

    Attributes:
        id: The transaction's id (kept as a string).
        amount: The amount received, exactly as the server wrote it.
        currency: The currency received.
        transaction_state: Where the deposit is; an unknown state is an ``UNKNOWN``
            member keeping the string.
        address_from: The sender's address.
        transaction_hash: The blockchain transaction hash.
        compliance_state: The compliance check's state.
        translation_to_account_completed: Whether the money has reached the account.
        created_date: When Calypso saw it (UTC).
        raw: The JSON object it was read from, unknown fields included.
    """

    id: str
    amount: Decimal
    currency: str
    transaction_state: TransactionState
    address_from: str | None = None
    transaction_hash: str | None = None
    compliance_state: ComplianceState | None = None
    translation_to_account_completed: bool | None = None
    created_date: datetime | None = None
    raw: Mapping[str, Any] = raw_field()


def _count(raw: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


@model
@attrs.frozen
class TransactionPage:
    """One page of ``/api/v1/customer-purse/transaction/find``.

    Calypso publishes ``result`` and says paging fields come with it, without naming
    them. They are read from ``raw`` by the properties below, each ``None`` when the
    server did not send it (or sent something that is not a count): a page never fails
    to read because of them.

    Attributes:
        result: The transactions of this page (a missing ``result`` is a
            ``DecodeError``; ``null`` reads as empty).
        raw: The JSON object of the page, paging fields included.
    """

    result: tuple[CustomerTransaction, ...]
    raw: Mapping[str, Any] = raw_field()

    @property
    def total_pages(self) -> int | None:
        """``totalPages``, when the server sent a count."""
        return _count(self.raw, "totalPages")

    @property
    def total_elements(self) -> int | None:
        """``totalElements`` (or ``total``), when the server sent a count."""
        return _count(self.raw, "totalElements", "total")

    @property
    def page_number(self) -> int | None:
        """``pageNumber`` (or ``number``), when the server sent it."""
        return _count(self.raw, "pageNumber", "number")

    @property
    def last(self) -> bool | None:
        """``last``, when the server sent a boolean."""
        value = self.raw.get("last")
        return value if isinstance(value, bool) else None
