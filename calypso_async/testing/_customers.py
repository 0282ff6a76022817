"""The fake's customer purses: customers, deposit addresses and deposits, with no I/O.

Where the Calypso docs are silent the fake chooses, and the tests pin:

* Customer and transaction ids are UUID strings.
* A deposit address is stable per (customer, currency): derived from both, so asking
  again gives the same one. Currencies are those of ``FAKE_CURRENCIES``: an unknown
  one, or a deposit with more decimals than its ``scale``, is a 400 ``001``.
* A deposit (the ``FakeCalypso.deposit`` lever) credits the account at once, and is
  ``MEM_POOL_FOUND`` / ``UNCHECKED`` with ``translationToAccountCompleted`` true unless
  told otherwise.
* find answers ``{result, pageNumber, pageSize, totalElements, totalPages}``; pages
  count from 0, ``pageSize`` defaults to 20 and may be 1 to 1000; the order is
  ``createdDate`` ascending unless ``sort``/``properties`` say otherwise. An unknown
  customer finds nothing.
* Refusals are 400 ``001``; an unknown customer or transaction is 404 ``004``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ._currencies import FAKE_CURRENCIES, check_money
from ._invoice import wire_date_naive
from ._records import bad_request, not_found

__all__ = ["CustomerBook", "FakeTransaction", "apply_filter"]

_ZERO = Decimal(0)
_SORTABLE = ("createdDate", "amount", "currency", "id", "transactionState")


@attrs.define
class FakeTransaction:
    """One deposit into a customer's address."""

    id: str
    customer_id: str
    amount: Decimal
    currency: str
    address_from: str
    transaction_hash: str
    transaction_state: str
    compliance_state: str
    created: datetime
    translation_to_account_completed: bool = True

    def to_wire(self) -> dict[str, Any]:
        """The transaction as Calypso's JSON."""
        return {
            "id": self.id,
            "amount": self.amount,
            "addressFrom": self.address_from,
            "currency": self.currency,
            "transactionHash": self.transaction_hash,
            "transactionState": self.transaction_state,
            "complianceState": self.compliance_state,
            "translationToAccountCompleted": self.translation_to_account_completed,
            "createdDate": wire_date_naive(self.created),
        }


def _matches(value: str, condition: Mapping[str, Any]) -> bool:
    for key, arg in condition.items():
        if arg is None:
            continue
        if key == "equals":
            ok = value == arg
        elif key == "notEquals":
            ok = value != arg
        elif key == "in":
            ok = value in arg
        elif key == "notIn":
            ok = value not in arg
        elif key == "contains":
            ok = arg in value
        elif key == "doesNotContain":
            ok = arg not in value
        else:  # "specified": every transaction has both fields
            ok = bool(arg)
        if not ok:
            return False
    return True


def apply_filter(name: str, condition: object, *, text_ops: bool) -> Mapping[str, Any] | None:
    """Check a ``{equals, in, ...}`` filter object, or refuse it with a 400 ``001``."""
    if condition is None:
        return None
    if not isinstance(condition, Mapping):
        raise bad_request(f"{name} must be an object")
    allowed = {"equals", "notEquals", "specified", "in", "notIn"}
    if text_ops:
        allowed |= {"contains", "doesNotContain"}
    for key, arg in condition.items():
        if key not in allowed:
            raise bad_request(f"{name}.{key} is not a filter this field takes")
        if arg is None:
            continue
        if key in ("in", "notIn"):
            if not isinstance(arg, list) or not all(isinstance(v, str) for v in arg):
                raise bad_request(f"{name}.{key} must be a list of strings")
        elif key == "specified":
            if not isinstance(arg, bool):
                raise bad_request(f"{name}.specified must be true or false")
        elif not isinstance(arg, str):
            raise bad_request(f"{name}.{key} must be a string")
    return condition


class CustomerBook:
    """The customers of the fake account, crediting ``balances`` (shared) on deposits."""

    def __init__(self, *, balances: dict[str, Decimal]) -> None:
        self.balances = balances
        self.customers: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, FakeTransaction] = {}

    def create(self, email: str | None, description: str | None) -> dict[str, Any]:
        """Add a customer and return its wire JSON."""
        customer_id = str(uuid.uuid4())
        self.customers[customer_id] = {
            "id": customer_id,
            "email": email,
            "description": description,
            "blocked": False,
        }
        return dict(self.customers[customer_id])

    def find(self, customer_id: str) -> dict[str, Any]:
        """Return a customer's wire JSON, or raise a 404 ``004``."""
        try:
            return self.customers[customer_id]
        except KeyError:
            raise not_found(f"customer {customer_id} not found") from None

    def update(self, customer_id: str, changes: Mapping[str, str | None]) -> dict[str, Any]:
        """Set the given (non-null) fields of a customer."""
        customer = self.find(customer_id)
        customer.update({key: value for key, value in changes.items() if value is not None})
        return dict(customer)

    def address(self, customer_id: str, currency: str) -> str:
        """The customer's address for ``currency``: the same one every time."""
        self.find(customer_id)
        check_money(currency)
        digest = hashlib.sha256(f"{customer_id}:{currency}".encode()).hexdigest()
        network = FAKE_CURRENCIES[currency]["networkData"]["frontName"]
        if network == "Bitcoin":
            return "bc1q" + digest[:38]
        if network == "Tron":
            return "T" + digest[:33]
        if network == "Dogecoin":
            return "D" + digest[:33]
        if network == "Lightning":
            return "lnbc1" + digest
        return "0x" + digest[:40]

    def deposit(
        self,
        customer_id: str,
        currency: str,
        amount: Decimal,
        now: datetime,
        *,
        state: str,
        compliance_state: str,
    ) -> FakeTransaction:
        """Record a deposit to the customer's address, crediting the account."""
        self.address(customer_id, currency)
        check_money(currency, amount)
        transaction = FakeTransaction(
            id=str(uuid.uuid4()),
            customer_id=customer_id,
            amount=amount,
            currency=currency,
            address_from="0x" + secrets.token_hex(20),
            transaction_hash="0x" + secrets.token_hex(32),
            transaction_state=state,
            compliance_state=compliance_state,
            created=now,
        )
        self.transactions[transaction.id] = transaction
        self.balances[currency] = self.balances.get(currency, _ZERO) + amount
        return transaction

    def transaction(self, transaction_id: str) -> FakeTransaction:
        """Return a deposit, or raise a 404 ``004``."""
        try:
            return self.transactions[transaction_id]
        except KeyError:
            raise not_found(f"transaction {transaction_id} not found") from None

    def search(
        self,
        *,
        customer_id: str | None,
        currency: Mapping[str, Any] | None,
        state: Mapping[str, Any] | None,
        page_number: int,
        page_size: int,
        descending: bool,
        sort_by: str,
    ) -> dict[str, Any]:
        """One page of the deposits matching every filter given."""
        if sort_by not in _SORTABLE:
            raise bad_request(f"cannot sort by {sort_by}; one of {', '.join(_SORTABLE)}")
        found = [
            tx
            for tx in self.transactions.values()
            if (customer_id is None or tx.customer_id == customer_id)
            and (currency is None or _matches(tx.currency, currency))
            and (state is None or _matches(tx.transaction_state, state))
        ]
        found.sort(key=lambda tx: tx.to_wire()[sort_by], reverse=descending)
        start = page_number * page_size
        return {
            "result": [tx.to_wire() for tx in found[start : start + page_size]],
            "pageNumber": page_number,
            "pageSize": page_size,
            "totalElements": len(found),
            "totalPages": -(-len(found) // page_size),
        }
