"""The fake's invoice book: Calypso's invoice states and payment rules, with no I/O.

Every operation changes the book and returns the events it caused; the caller (the
fake) decides when they are delivered and when a ``PAID`` invoice settles. Where the
Calypso docs are silent the fake makes a documented choice:

* An unknown invoice is a 404 ``INVOICE_NOT_FOUND``.
* ``isInterventionResolved`` is ``true`` while an invoice has no intervention (as in
  the published example of a fresh unlimited invoice), ``false`` from the moment one is
  opened until ``close-intervention``; ``interventionType`` is ``null`` until then.
* ``totalDebitAmount`` is the sum of the payments received so far; ``fee`` is ``0``.
* A ``SINGLE_FIAT`` invoice's crypto amount is ``fiatAmount`` times a fixed rate from
  :data:`FAKE_FIAT_RATES` (never recomputed).
* An ``UNLIMITED`` invoice takes any number of payments: each one moves it to ``PAID``
  and then ``COMPLETED``, which still accepts the next payment (a simplification: the
  real server's states for unlimited invoices are not published).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from .._enums import EventLevel, EventType, InterventionType, InvoiceState, InvoiceType
from ._records import FakeCalypsoError

__all__ = [
    "FAKE_FIAT_RATES",
    "UNDERPAY_THRESHOLD",
    "FakeInvoice",
    "InvoiceBook",
    "InvoiceDraft",
    "InvoiceEvent",
    "payment_outcome",
    "wire_date",
    "wire_date_naive",
]

UNDERPAY_THRESHOLD = Decimal("0.995")
"""Below this fraction of the amount a payment is an underpay (Calypso's fixed rule)."""

FAKE_FIAT_RATES: Mapping[tuple[str, str], Decimal] = MappingProxyType(
    {
        ("USD", "USDT"): Decimal("1"),
        ("USD", "USDC"): Decimal("1"),
        ("USD", "DAI"): Decimal("1"),
        ("USD", "ETH"): Decimal("0.0004"),
        ("USD", "BTC"): Decimal("0.000016"),
        ("USD", "TRX"): Decimal("8"),
        ("EUR", "USDT"): Decimal("1.08"),
        ("EUR", "USDC"): Decimal("1.08"),
        ("EUR", "ETH"): Decimal("0.000432"),
        ("EUR", "BTC"): Decimal("0.00001728"),
    }
)
"""Crypto units per one fiat unit, keyed ``(fiatCurrency, currency)``: made-up, fixed
rates for ``single-fiat`` invoices, so that amounts in tests are predictable."""

INVOICE_LIFETIME = timedelta(days=30)
"""Default ``expiration`` after creation, as in the published example."""

_PAYABLE = frozenset({InvoiceState.PENDING_PAYMENT, InvoiceState.MEM_POOL_FOUND})
_UNLIMITED_PAYABLE = _PAYABLE | {InvoiceState.PAID, InvoiceState.COMPLETED}
_FINAL = frozenset({InvoiceState.COMPLETED, InvoiceState.ARCHIVED, InvoiceState.DECLINED})
_ZERO = Decimal(0)


def wire_date(moment: datetime) -> str:
    """Write a UTC date the way newer Calypso answers do: ``2025-07-05T22:31:09.255Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def wire_date_naive(moment: datetime) -> str:
    """Write a UTC date the way older Calypso answers do: ``2022-08-25T12:47:28.200475``."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


def payment_outcome(
    invoice_type: InvoiceType,
    *,
    paid: Decimal,
    amount: Decimal | None,
    lower_bound: Decimal | None,
    overpay_tolerance: Decimal,
) -> tuple[InvoiceState, InterventionType | None]:
    """Apply Calypso's payment rules to the total paid into an invoice.

    SINGLE and SINGLE_FIAT: below ``0.995`` of the amount is an underpay, above
    ``amount * (1 + overpay_tolerance)`` an overpay (both ``PENDING_INTERVENTION``);
    anything between is ``PAID``. BOUND: ``PAID`` once ``lower_bound`` is reached, else
    still ``PENDING_PAYMENT``. UNLIMITED (and anything else): every payment is ``PAID``.

    Returns:
        The new state, and the intervention type when one is opened.
    """
    if invoice_type in (InvoiceType.SINGLE, InvoiceType.SINGLE_FIAT) and amount is not None:
        # Multiplying keeps the comparison exact; paid / amount could round.
        if paid < amount * UNDERPAY_THRESHOLD:
            return InvoiceState.PENDING_INTERVENTION, InterventionType.UNDERPAY
        if paid > amount * (1 + overpay_tolerance):
            return InvoiceState.PENDING_INTERVENTION, InterventionType.OVERPAY
        return InvoiceState.PAID, None
    if invoice_type is InvoiceType.BOUND and lower_bound is not None and paid < lower_bound:
        return InvoiceState.PENDING_PAYMENT, None
    return InvoiceState.PAID, None


@attrs.frozen
class InvoiceEvent:
    """Something that happened to an invoice, to be sent to webhook subscribers."""

    event_type: EventType
    level: EventLevel
    invoice_id: str
    idempotency_key: str
    message: str
    created: datetime


@attrs.frozen
class InvoiceDraft:
    """A create request, read from its payload (wire names already translated)."""

    type: InvoiceType
    currency: str
    description: str
    idempotency_key: str | None = None
    amount: Decimal | None = None
    lower_bound: Decimal | None = None
    fiat_amount: Decimal | None = None
    fiat_currency: str | None = None
    external_id: str | None = None
    expiration: datetime | None = None
    return_url: str | None = None
    logo_url: str | None = None
    support_url: str | None = None
    fiat_available: bool | None = None


@attrs.define
class FakeInvoice:
    """One invoice as the fake keeps it; :meth:`to_wire` is its InvoiceDTO JSON."""

    id: str
    type: InvoiceType
    currency: str
    description: str
    idempotency_key: str
    invoice_address: str
    created_date: datetime
    expiration: datetime
    amount: Decimal | None = None
    lower_bound: Decimal | None = None
    fiat_amount: Decimal | None = None
    fiat_currency: str | None = None
    last_fiat_updated: datetime | None = None
    external_id: str | None = None
    return_url: str | None = None
    logo_url: str | None = None
    support_url: str | None = None
    fiat_available: bool | None = None
    state: InvoiceState = InvoiceState.PENDING_PAYMENT
    paid: Decimal = _ZERO
    credited: Decimal = _ZERO
    intervention_type: InterventionType | None = None
    intervention_resolved: bool = True
    last_deposit_hash: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the invoice as Calypso writes it (camelCase keys, ``Decimal`` money)."""
        return {
            "id": self.id,
            "invoiceAddress": self.invoice_address,
            "type": str(self.type),
            "amount": self.amount,
            "fee": _ZERO,
            "totalDebitAmount": self.paid,
            "currency": self.currency,
            "state": str(self.state),
            "lastDepositHash": self.last_deposit_hash,
            "description": self.description,
            "createdDate": wire_date(self.created_date),
            "idempotencyKey": self.idempotency_key,
            "expiration": wire_date_naive(self.expiration),
            "fiatAmount": self.fiat_amount,
            "fiatCurrency": self.fiat_currency,
            "lastFiatUpdated": (
                wire_date(self.last_fiat_updated) if self.last_fiat_updated else None
            ),
            "interventionType": str(self.intervention_type) if self.intervention_type else None,
            "isInterventionResolved": self.intervention_resolved,
            "subscriptionEnabled": False,
            "returnUrl": self.return_url,
            "logoUrl": self.logo_url,
            "supportUrl": self.support_url,
            "externalId": self.external_id,
            "lowerBound": self.lower_bound,
            "fiatAvailable": self.fiat_available,
        }


def _invalid_state(message: str) -> FakeCalypsoError:
    return FakeCalypsoError(400, "INVALID_INVOICE_STATE", message)


class InvoiceBook:
    """Every invoice of the fake account, with the rules that move them.

    Args:
        overpay_tolerance: The fraction of the amount a payment may exceed it by and
            still count as exact.
        fiat_rates: Crypto per fiat unit for single-fiat invoices.
    """

    def __init__(
        self,
        *,
        overpay_tolerance: Decimal = _ZERO,
        fiat_rates: Mapping[tuple[str, str], Decimal] = FAKE_FIAT_RATES,
    ) -> None:
        self.overpay_tolerance = overpay_tolerance
        self.fiat_rates = fiat_rates
        self.invoices: dict[str, FakeInvoice] = {}
        self.balances: dict[str, Decimal] = {}
        self._by_key: dict[str, str] = {}

    def find(self, invoice_id: str) -> FakeInvoice:
        """Return an invoice by id, or raise a 404 ``INVOICE_NOT_FOUND``."""
        try:
            return self.invoices[invoice_id]
        except KeyError:
            raise FakeCalypsoError(
                404, "INVOICE_NOT_FOUND", f"invoice {invoice_id} not found"
            ) from None

    def find_by_key(self, idempotency_key: str) -> FakeInvoice:
        """Return the invoice created with ``idempotency_key``, or raise a 404."""
        invoice_id = self._by_key.get(idempotency_key)
        if invoice_id is None:
            raise FakeCalypsoError(
                404, "INVOICE_NOT_FOUND", f"no invoice with idempotencyKey {idempotency_key}"
            )
        return self.invoices[invoice_id]

    def create(self, draft: InvoiceDraft, now: datetime) -> tuple[FakeInvoice, list[InvoiceEvent]]:
        """Create an invoice, or return the one its idempotency key already made.

        Returns:
            The invoice, and the events caused (none when it already existed).
        """
        if draft.idempotency_key is not None and draft.idempotency_key in self._by_key:
            return self.invoices[self._by_key[draft.idempotency_key]], []
        amount = draft.amount
        if draft.type is InvoiceType.SINGLE_FIAT:
            amount = self._fiat_to_crypto(draft)
        invoice = FakeInvoice(
            id=str(uuid.uuid4()),
            type=draft.type,
            currency=draft.currency,
            description=draft.description,
            idempotency_key=draft.idempotency_key or str(uuid.uuid4()),
            invoice_address="0x" + secrets.token_hex(20),
            created_date=now,
            expiration=draft.expiration or now + INVOICE_LIFETIME,
            amount=amount,
            lower_bound=draft.lower_bound,
            fiat_amount=draft.fiat_amount,
            fiat_currency=draft.fiat_currency,
            last_fiat_updated=now if draft.type is InvoiceType.SINGLE_FIAT else None,
            external_id=draft.external_id,
            return_url=draft.return_url,
            logo_url=draft.logo_url,
            support_url=draft.support_url,
            fiat_available=draft.fiat_available,
        )
        self.invoices[invoice.id] = invoice
        self._by_key[invoice.idempotency_key] = invoice.id
        event_type = (
            EventType.INVOICE_CREATE_UNLIMITED_INVOICE
            if draft.type is InvoiceType.UNLIMITED
            else EventType.INVOICE_CREATE_INVOICE
        )
        return invoice, [_event(invoice, event_type, EventLevel.INFO, "Invoice created", now)]

    def _fiat_to_crypto(self, draft: InvoiceDraft) -> Decimal:
        assert draft.fiat_amount is not None
        assert draft.fiat_currency is not None
        rate = self.fiat_rates.get((draft.fiat_currency, draft.currency))
        if rate is None:
            pairs = ", ".join(f"{fiat}->{crypto}" for fiat, crypto in self.fiat_rates)
            raise FakeCalypsoError(
                400,
                "VALIDATION_ERROR",
                f"the fake has no rate for {draft.fiat_currency}->{draft.currency} "
                f"(it knows {pairs})",
            )
        return draft.fiat_amount * rate

    def pay(self, invoice_id: str, amount: Decimal, now: datetime) -> list[InvoiceEvent]:
        """Record a payment into an invoice and apply the payment rules.

        Raises:
            FakeCalypsoError: The invoice is unknown, or not in a state that takes
                payments (``PENDING_PAYMENT`` or ``MEM_POOL_FOUND``; unlimited invoices
                also ``PAID`` and ``COMPLETED``), or ``amount`` is not positive.
        """
        invoice = self.find(invoice_id)
        if not amount.is_finite() or amount <= 0:
            raise FakeCalypsoError(400, "VALIDATION_ERROR", f"cannot pay {amount}: not > 0")
        payable = _UNLIMITED_PAYABLE if invoice.type is InvoiceType.UNLIMITED else _PAYABLE
        if invoice.state not in payable:
            raise _invalid_state(
                f"invoice {invoice_id} is {invoice.state}: it takes payments only in "
                + " or ".join(sorted(payable))
            )
        invoice.paid += amount
        invoice.last_deposit_hash = "0x" + secrets.token_hex(32)
        events = [
            _event(
                invoice,
                EventType.INVOICE_FUNDS_RECEIVED_FOR_INVOICE,
                EventLevel.INFO,
                f"Received {amount} {invoice.currency}",
                now,
            )
        ]
        state, intervention = payment_outcome(
            invoice.type,
            paid=invoice.paid,
            amount=invoice.amount,
            lower_bound=invoice.lower_bound,
            overpay_tolerance=self.overpay_tolerance,
        )
        invoice.state = state
        if intervention is not None:
            invoice.intervention_type = intervention
            invoice.intervention_resolved = False
            events.append(
                _event(
                    invoice,
                    EventType.INVOICE_PENDING_INTERVENTION,
                    EventLevel.WARNING,
                    f"Invoice needs an intervention: {intervention} "
                    f"({invoice.paid} paid of {invoice.amount} {invoice.currency})",
                    now,
                )
            )
        elif state is InvoiceState.PAID:
            events.append(_event(invoice, EventType.INVOICE_PAID, EventLevel.SUCCESS, "Paid", now))
        return events

    def mempool(self, invoice_id: str, now: datetime) -> list[InvoiceEvent]:
        """Mark a ``PENDING_PAYMENT`` invoice's payment as seen in the mempool."""
        invoice = self.find(invoice_id)
        if invoice.state is not InvoiceState.PENDING_PAYMENT:
            raise _invalid_state(f"invoice {invoice_id} is {invoice.state}, not PENDING_PAYMENT")
        invoice.state = InvoiceState.MEM_POOL_FOUND
        message = "Payment seen in the mempool"
        return [_event(invoice, EventType.INVOICE_MEMPOOL_FOUND, EventLevel.INFO, message, now)]

    def return_to_paid(self, invoice_id: str, now: datetime) -> list[InvoiceEvent]:
        """Accept an intervention's money: ``PENDING_INTERVENTION`` -> ``PAID``.

        The intervention stays open (``isInterventionResolved`` false) until
        :meth:`close_intervention`.
        """
        invoice = self.find(invoice_id)
        if invoice.state is not InvoiceState.PENDING_INTERVENTION:
            raise _invalid_state(
                f"invoice {invoice_id} is {invoice.state}: return-to-paid needs "
                "PENDING_INTERVENTION"
            )
        invoice.state = InvoiceState.PAID
        message = "Returned to paid by the merchant"
        return [_event(invoice, EventType.INVOICE_PAID, EventLevel.SUCCESS, message, now)]

    def close_intervention(self, invoice_id: str) -> FakeInvoice:
        """Mark a ``COMPLETED`` invoice's open intervention resolved (no event)."""
        invoice = self.find(invoice_id)
        if invoice.state is not InvoiceState.COMPLETED:
            raise _invalid_state(
                f"invoice {invoice_id} is {invoice.state}: close-intervention needs COMPLETED"
            )
        if invoice.intervention_type is None or invoice.intervention_resolved:
            raise _invalid_state(f"invoice {invoice_id} has no open intervention")
        invoice.intervention_resolved = True
        return invoice

    def settle(self, invoice_id: str, now: datetime) -> list[InvoiceEvent]:
        """Move a ``PAID`` invoice's funds to the account: ``PAID`` -> ``COMPLETED``."""
        invoice = self.find(invoice_id)
        if invoice.state is not InvoiceState.PAID:
            raise _invalid_state(f"invoice {invoice_id} is {invoice.state}: only PAID settles")
        invoice.state = InvoiceState.COMPLETED
        gained, invoice.credited = invoice.paid - invoice.credited, invoice.paid
        self.balances[invoice.currency] = self.balances.get(invoice.currency, _ZERO) + gained
        return [
            _event(
                invoice,
                EventType.INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED,
                EventLevel.SUCCESS,
                f"{gained} {invoice.currency} moved to the account",
                now,
            )
        ]

    def expire(self, invoice_id: str, now: datetime) -> list[InvoiceEvent]:
        """Expire an invoice that is not final: it ends ``ARCHIVED``."""
        invoice = self.find(invoice_id)
        if invoice.state in _FINAL:
            raise _invalid_state(f"invoice {invoice_id} is {invoice.state}: it cannot expire")
        invoice.state = InvoiceState.ARCHIVED
        return [_event(invoice, EventType.INVOICE_EXPIRED, EventLevel.WARNING, "Expired", now)]


def _event(
    invoice: FakeInvoice, event_type: EventType, level: EventLevel, message: str, now: datetime
) -> InvoiceEvent:
    return InvoiceEvent(
        event_type=event_type,
        level=level,
        invoice_id=invoice.id,
        idempotency_key=invoice.idempotency_key,
        message=message,
        created=now,
    )
