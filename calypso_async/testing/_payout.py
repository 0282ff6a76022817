"""The fake's payout book: single and mass payouts, their states and the balance, no I/O.

Every operation changes the book and returns the events it caused (the fake delivers
them with ``service: "PAYOUT"``). Where the Calypso docs are silent the fake chooses:

* A payout created through the API starts ``CONFIRMED`` (as published) and is debited
  from the balance at once; each step then moves it ``IN_PROGRESS`` (a transaction hash
  appears: ``PAYOUT_HASH_RECEIVED``) and ``COMPLETED``. A failed payout is refunded.
* A payout above the balance, or to an address that starts with ``bad``, fails
  validation: a 400 with ``errorCode`` ``"016"``, nothing created.
* A repeated ``idempotencyKey`` answers with the payout it made (as invoices do).
* A mass payout validates each recipient: one whose address starts with ``bad`` is a
  ``FAILED`` payout at once (``PAYOUT_VALIDATION_ERROR``), and the mass payout, once
  the others completed, ends ``PARTIAL`` instead of ``COMPLETED``.
* Each payout has one withdrawal, with the payout's id as ``requestId``; it is
  ``DRAFT`` while the payout is ``CONFIRMED``, then takes the payout's state.
* Unknown ids are a 404 ``"004"``; a step a payout's state does not allow, a 400 ``"012"``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from .._types import EventLevel, EventType, PayoutState
from ._invoice import InvoiceEvent, wire_date
from ._records import FakeCalypsoError

__all__ = ["FakeMassPayout", "FakePayout", "PayoutBook", "PayoutDraft"]

_ZERO = Decimal(0)
_OPEN = frozenset({PayoutState.CONFIRMED, PayoutState.IN_PROGRESS})
_COMPANY = "FakeCalypso merchant"


def _not_found(what: str) -> FakeCalypsoError:
    return FakeCalypsoError(404, "004", f"{what} not found")


def _invalid_payout(message: str) -> FakeCalypsoError:
    return FakeCalypsoError(400, "016", message)


@attrs.frozen
class PayoutDraft:
    """One payout to make, read from a payload (wire names translated)."""

    deposit_address: str
    amount: Decimal
    currency: str
    comment: str | None = None
    idempotency_key: str | None = None
    external_id: str | None = None


@attrs.define
class FakePayout:
    """One payout as the fake keeps it; :meth:`to_wire` is its JSON."""

    id: str
    account: str
    deposit_address: str
    amount: Decimal
    currency: str
    idempotency_key: str
    created_date: datetime
    state: PayoutState = PayoutState.CONFIRMED
    comment: str | None = None
    external_id: str | None = None
    transaction_hash: str | None = None
    execution_date: datetime | None = None
    errors: list[str] = attrs.Factory(list)
    mass_id: str | None = None

    def to_wire(self, *, settlement: bool = False) -> dict[str, Any]:
        """Return the payout as Calypso writes it (a settlement payout adds its fees)."""
        wire: dict[str, Any] = {
            "id": self.id,
            "account": self.account,
            "depositAddress": self.deposit_address,
            "amount": self.amount,
            "currency": self.currency,
            "calypsoFee": _ZERO,
            "calypsoFeePercentage": _ZERO,
            "state": str(self.state),
            "createdDate": wire_date(self.created_date),
            "transactionHash": self.transaction_hash,
            "comment": self.comment,
            "executionDate": wire_date(self.execution_date) if self.execution_date else None,
            "idempotencyKey": self.idempotency_key,
            "errors": {"withdrawalErrors": self._withdrawal_errors()},
            "cancellation": None,
            "externalId": self.external_id,
        }
        if settlement:
            wire.update(
                calypsoFeeCurrency=self.currency,
                blockchainFee=_ZERO,
                blockchainFeeCurrency=self.currency,
            )
        return wire

    def _withdrawal_errors(self) -> list[dict[str, Any]]:
        if not self.errors:
            return []
        errors = [
            {"id": str(n), "status": "ERROR", "errorResolved": False, "errorMessage": text}
            for n, text in enumerate(self.errors, 1)
        ]
        return [{"withdrawalId": self.id, "errors": errors}]

    def withdrawal_wire(self) -> dict[str, Any]:
        """The payout's one withdrawal, as ``/api/v1/payout/withdrawal`` answers it."""
        state = self.state
        return {
            "id": self.id,
            "account": self.account,
            "companyName": _COMPANY,
            "amount": self.amount,
            "currency": self.currency,
            "state": "DRAFT" if state is PayoutState.CONFIRMED else str(state),
            "calypsoFee": _ZERO,
            "transactionHash": self.transaction_hash,
            "depositAddress": self.deposit_address,
            "comment": self.comment,
            "createdDate": wire_date(self.created_date),
            "withdrawalErrors": self._withdrawal_errors(),
        }


@attrs.define
class FakeMassPayout:
    """One mass payout: its own state and one :class:`FakePayout` per recipient."""

    id: str
    account: str
    currency: str
    idempotency_key: str
    created_date: datetime
    payouts: list[FakePayout]
    state: PayoutState = PayoutState.CONFIRMED
    name: str | None = None
    comment: str | None = None
    execution_date: datetime | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the mass payout as JSON, each recipient's payout under ``payouts``."""
        return {
            "id": self.id,
            "account": self.account,
            "currency": self.currency,
            "state": str(self.state),
            "name": self.name,
            "comment": self.comment,
            "idempotencyKey": self.idempotency_key,
            "createdDate": wire_date(self.created_date),
            "executionDate": wire_date(self.execution_date) if self.execution_date else None,
            "payouts": [payout.to_wire() for payout in self.payouts],
        }


class PayoutBook:
    """Every payout of the fake account, and the balances they are paid from.

    Args:
        account: The merchant account id written on each payout.
        balances: The account's balances per currency, shared with the invoice book
            (settled invoices credit it, payouts debit it).
    """

    def __init__(self, account: str, balances: dict[str, Decimal]) -> None:
        self.account = account
        self.balances = balances
        self.payouts: dict[str, FakePayout] = {}
        self.masses: dict[str, FakeMassPayout] = {}
        self._by_key: dict[str, str] = {}
        self._mass_by_key: dict[str, str] = {}

    def find(self, payout_id: str) -> FakePayout:
        """Return a payout (a mass payout's recipients included), or a 404 ``"004"``."""
        try:
            return self.payouts[payout_id]
        except KeyError:
            raise _not_found(f"payout {payout_id}") from None

    def find_by_key(self, idempotency_key: str) -> FakePayout:
        """Return the payout created with ``idempotency_key``, or a 404 ``"004"``."""
        if idempotency_key not in self._by_key:
            raise _not_found(f"payout with idempotencyKey {idempotency_key}")
        return self.payouts[self._by_key[idempotency_key]]

    def find_mass(self, mass_id: str) -> FakeMassPayout:
        """Return a mass payout, or a 404 ``"004"``."""
        try:
            return self.masses[mass_id]
        except KeyError:
            raise _not_found(f"mass payout {mass_id}") from None

    def find_mass_by_key(self, idempotency_key: str) -> FakeMassPayout:
        """Return the mass payout created with ``idempotency_key``, or a 404 ``"004"``."""
        if idempotency_key not in self._mass_by_key:
            raise _not_found(f"mass payout with idempotencyKey {idempotency_key}")
        return self.masses[self._mass_by_key[idempotency_key]]

    def create(self, draft: PayoutDraft, now: datetime) -> tuple[FakePayout, list[InvoiceEvent]]:
        """Make a ``CONFIRMED`` payout and debit it, or return the one its key made."""
        if draft.idempotency_key is not None and draft.idempotency_key in self._by_key:
            return self.payouts[self._by_key[draft.idempotency_key]], []
        if _refused(draft.deposit_address):
            raise _invalid_payout(f"deposit address {draft.deposit_address} failed validation")
        self._debit(draft.currency, draft.amount)
        payout = self._new(draft, now)
        self._by_key[payout.idempotency_key] = payout.id
        return payout, _confirmed(payout.id, payout.idempotency_key, now)

    def create_mass(
        self,
        *,
        currency: str,
        recipients: Sequence[tuple[str, Decimal]],
        name: str | None,
        comment: str | None,
        idempotency_key: str | None,
        now: datetime,
    ) -> tuple[FakeMassPayout, list[InvoiceEvent]]:
        """Make a mass payout (a payout per recipient), or return the one its key made."""
        if idempotency_key is not None and idempotency_key in self._mass_by_key:
            return self.masses[self._mass_by_key[idempotency_key]], []
        total = sum((amount for address, amount in recipients if not _refused(address)), _ZERO)
        if total > 0:
            self._debit(currency, total)
        mass_id, key = str(uuid.uuid4()), idempotency_key or str(uuid.uuid4())
        events: list[InvoiceEvent] = []
        payouts = []
        for address, amount in recipients:
            draft = PayoutDraft(address, amount, currency, comment)
            payout = self._new(draft, now, mass_id=mass_id)
            if _refused(address):
                payout.state = PayoutState.FAILED
                payout.errors.append(f"deposit address {address} failed validation")
                text = f"recipient {address} failed validation"
                events.append(_event(mass_id, key, EventType.PAYOUT_VALIDATION_ERROR, text, now))
            payouts.append(payout)
        mass = FakeMassPayout(
            mass_id, self.account, currency, key, now, payouts, name=name, comment=comment
        )
        self.masses[mass_id] = mass
        self._mass_by_key[key] = mass_id
        if total == 0:
            mass.state = PayoutState.FAILED
            return mass, [*events, _status(mass_id, key, mass.state, now)]
        return mass, [*events, *_confirmed(mass_id, key, now)]

    def advance(self, payout_id: str, now: datetime) -> list[InvoiceEvent]:
        """Move a payout or mass payout one step: ``CONFIRMED`` -> ``IN_PROGRESS`` -> done.

        Raises:
            FakeCalypsoError: Unknown id (404 ``"004"``), or not ``CONFIRMED`` or
                ``IN_PROGRESS`` (400 ``"012"``).
        """
        if payout_id in self.masses:
            return self._advance_mass(self.masses[payout_id], now)
        payout = self.find(payout_id)
        _require_open(payout.id, payout.state)
        return self._step(payout, now, payout.idempotency_key)

    def _step(self, payout: FakePayout, now: datetime, key: str) -> list[InvoiceEvent]:
        if payout.state is PayoutState.CONFIRMED:
            payout.state = PayoutState.IN_PROGRESS
            payout.transaction_hash = tx_hash = "0x" + secrets.token_hex(32)
            return [
                _status(payout.id, key, payout.state, now),
                _event(payout.id, key, EventType.PAYOUT_HASH_RECEIVED, f"hash {tx_hash}", now),
            ]
        payout.state = PayoutState.COMPLETED
        payout.execution_date = now
        return [_status(payout.id, key, payout.state, now, EventLevel.SUCCESS)]

    def _advance_mass(self, mass: FakeMassPayout, now: datetime) -> list[InvoiceEvent]:
        _require_open(mass.id, mass.state)
        for payout in mass.payouts:
            if payout.state in _OPEN:
                self._step(payout, now, mass.idempotency_key)  # the mass speaks for them
        if mass.state is PayoutState.CONFIRMED:
            mass.state = PayoutState.IN_PROGRESS
        else:
            failed = any(payout.state is PayoutState.FAILED for payout in mass.payouts)
            mass.state = PayoutState.PARTIAL if failed else PayoutState.COMPLETED
            mass.execution_date = now
        level = EventLevel.SUCCESS if mass.state is PayoutState.COMPLETED else EventLevel.INFO
        return [_status(mass.id, mass.idempotency_key, mass.state, now, level)]

    def fail(self, payout_id: str, message: str, now: datetime) -> list[InvoiceEvent]:
        """Fail an open payout (every open recipient of a mass payout) and refund it."""
        if payout_id in self.masses:
            mass = self.masses[payout_id]
            _require_open(mass.id, mass.state)
            for payout in mass.payouts:
                if payout.state in _OPEN:
                    self._fail(payout, message)
            mass.state = PayoutState.FAILED
            return [_status(mass.id, mass.idempotency_key, mass.state, now, EventLevel.WARNING)]
        payout = self.find(payout_id)
        _require_open(payout.id, payout.state)
        self._fail(payout, message)
        return [_status(payout.id, payout.idempotency_key, payout.state, now, EventLevel.WARNING)]

    def _fail(self, payout: FakePayout, message: str) -> None:
        payout.state = PayoutState.FAILED
        payout.errors.append(message)
        self.balances[payout.currency] = self.balances.get(payout.currency, _ZERO) + payout.amount

    def _debit(self, currency: str, amount: Decimal) -> None:
        balance = self.balances.get(currency, _ZERO)
        if amount > balance:
            raise _invalid_payout(f"{amount} {currency} is more than the balance ({balance})")
        self.balances[currency] = balance - amount

    def _new(self, draft: PayoutDraft, now: datetime, *, mass_id: str | None = None) -> FakePayout:
        payout = FakePayout(
            id=str(uuid.uuid4()),
            account=self.account,
            deposit_address=draft.deposit_address,
            amount=draft.amount,
            currency=draft.currency,
            idempotency_key=draft.idempotency_key or str(uuid.uuid4()),
            created_date=now,
            comment=draft.comment,
            external_id=draft.external_id,
            mass_id=mass_id,
        )
        self.payouts[payout.id] = payout
        return payout


def _refused(address: str) -> bool:
    return address.lower().startswith("bad")


def _require_open(payout_id: str, state: PayoutState) -> None:
    if state not in _OPEN:
        raise FakeCalypsoError(
            400, "012", f"payout {payout_id} is {state}: only CONFIRMED or IN_PROGRESS moves on"
        )


def _event(
    parent_id: str,
    key: str,
    event_type: EventType,
    message: str,
    now: datetime,
    level: EventLevel = EventLevel.INFO,
) -> InvoiceEvent:
    # The delivery's event record: its invoice_id is what goes out as parentExternalId.
    return InvoiceEvent(event_type, level, parent_id, key, message, now)


def _status(
    parent_id: str,
    key: str,
    state: PayoutState,
    now: datetime,
    level: EventLevel = EventLevel.INFO,
) -> InvoiceEvent:
    message = f"Payout state changed to {state}"
    return _event(parent_id, key, EventType.PAYOUT_CHANGE_STATUS, message, now, level)


def _confirmed(parent_id: str, key: str, now: datetime) -> list[InvoiceEvent]:
    return [
        _status(parent_id, key, PayoutState.CONFIRMED, now),
        _event(parent_id, key, EventType.PAYOUT_CONFIRMED, "Payout confirmed", now),
    ]
