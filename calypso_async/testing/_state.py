"""The fake's invoice book: Calypso's invoice states and payment rules, with no I/O.

Every operation changes the book and returns the events it caused; the caller (the
fake) decides when they are delivered and when a ``PAID`` invoice settles. Where the
Calypso docs are silent the fake makes a documented choice:

* An unknown invoice is a 404 ``004`` (not found). Currencies and amounts are checked
  against ``FAKE_CURRENCIES`` (``_currencies.py``) when read; a payment with more
  decimals than the currency's ``scale`` is a 400 ``001``.
* ``isInterventionResolved`` is ``true`` while an invoice has no intervention (as in
  the published example of a fresh unlimited invoice), ``false`` from the moment one is
  opened until ``close-intervention``; ``interventionType`` is ``null`` until then.
* The default ``expiration`` is 30 days after creation (as in the published example).
  Only an invoice still waiting for its money (``PENDING_PAYMENT`` or
  ``MEM_POOL_FOUND``) expires, to ``ARCHIVED``: a paid invoice settles, and a held
  intervention stays ``PENDING_INTERVENTION`` as the docs say. Once past its
  expiration an invoice takes no payment, whatever its state.
* A ``SINGLE_FIAT`` invoice's crypto amount is ``fiatAmount`` times a fixed rate from
  :data:`FAKE_FIAT_RATES` (never recomputed), rounded up to the currency's ``scale``
  when the product has more decimals, so that it can be paid exactly.
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

from .._errors import ErrorCode
from .._types import EventLevel, EventType, InvoiceState, InvoiceType
from ._currencies import check_money, fit_scale
from ._invoice import FakeInvoice, InvoiceDraft, InvoiceEvent, wire_date_naive
from ._records import FakeCalypsoError
from ._rules import FAKE_FIAT_RATES, payment_outcome

__all__ = ["INVOICE_LIFETIME", "InvoiceBook"]

INVOICE_LIFETIME = timedelta(days=30)
"""Default ``expiration`` after creation, as in the published example."""

_PAYABLE = frozenset({InvoiceState.PENDING_PAYMENT, InvoiceState.MEM_POOL_FOUND})
_UNLIMITED_PAYABLE = _PAYABLE | {InvoiceState.PAID, InvoiceState.COMPLETED}
_EXPIRABLE = _PAYABLE
_ZERO = Decimal(0)


def _invalid_state(message: str) -> FakeCalypsoError:
    return FakeCalypsoError(400, ErrorCode.WRONG_INVOICE_STATE, message)


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
        self.accept_repeated_return_to_paid = False
        self.returns_to_paid: dict[str, int] = {}
        """Return-to-paid calls accepted per invoice: the money the merchant took."""
        self._by_key: dict[str, str] = {}

    def find(self, invoice_id: str) -> FakeInvoice:
        """Return an invoice by id, or raise a 404 ``004`` (not found)."""
        try:
            return self.invoices[invoice_id]
        except KeyError:
            raise FakeCalypsoError(
                404, ErrorCode.NOT_FOUND, f"invoice {invoice_id} not found"
            ) from None

    def find_by_key(self, idempotency_key: str) -> FakeInvoice:
        """Return the invoice created with ``idempotency_key``, or raise a 404."""
        invoice_id = self._by_key.get(idempotency_key)
        if invoice_id is None:
            raise FakeCalypsoError(
                404, ErrorCode.NOT_FOUND, f"no invoice with idempotencyKey {idempotency_key}"
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
                ErrorCode.BAD_REQUEST,
                f"the fake has no rate for {draft.fiat_currency}->{draft.currency} "
                f"(it knows {pairs})",
            )
        return fit_scale(draft.currency, draft.fiat_amount * rate)

    def pay(self, invoice_id: str, amount: Decimal, now: datetime) -> list[InvoiceEvent]:
        """Record a payment into an invoice and apply the payment rules.

        Raises:
            FakeCalypsoError: The invoice is unknown, past its expiration, or not in a
                state that takes payments (``PENDING_PAYMENT`` or ``MEM_POOL_FOUND``;
                unlimited invoices also ``PAID`` and ``COMPLETED``), or ``amount`` is not
                positive or has more decimals than the currency's ``scale`` (400 ``001``).
        """
        invoice = self.find(invoice_id)
        if not amount.is_finite() or amount <= 0:
            raise FakeCalypsoError(400, ErrorCode.BAD_REQUEST, f"cannot pay {amount}: not > 0")
        check_money(invoice.currency, amount)
        if now >= invoice.expiration:
            raise _invalid_state(
                f"invoice {invoice_id} expired at {wire_date_naive(invoice.expiration)}: "
                "it takes no payment"
            )
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
        if (
            self.accept_repeated_return_to_paid
            and invoice.intervention_type is not None
            and invoice.state in (InvoiceState.PAID, InvoiceState.COMPLETED)
        ):
            # What Calypso does with a second one is undocumented: this fake can take it,
            # and counts it, so that a test proves the SDK never sends it.
            self.returns_to_paid[invoice_id] = self.returns_to_paid.get(invoice_id, 0) + 1
            return []
        if invoice.state is not InvoiceState.PENDING_INTERVENTION:
            raise _invalid_state(
                f"invoice {invoice_id} is {invoice.state}: return-to-paid needs "
                "PENDING_INTERVENTION"
            )
        invoice.state = InvoiceState.PAID
        self.returns_to_paid[invoice_id] = self.returns_to_paid.get(invoice_id, 0) + 1
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
        """Expire an invoice still waiting for its money: it ends ``ARCHIVED``.

        Raises:
            FakeCalypsoError: The invoice is unknown, or not ``PENDING_PAYMENT`` or
                ``MEM_POOL_FOUND`` (a paid invoice settles; a held intervention stays
                ``PENDING_INTERVENTION``).
        """
        invoice = self.find(invoice_id)
        if invoice.state not in _EXPIRABLE:
            raise _invalid_state(
                f"invoice {invoice_id} is {invoice.state}: it cannot expire (only "
                + " or ".join(sorted(_EXPIRABLE))
                + " invoices do)"
            )
        invoice.state = InvoiceState.ARCHIVED
        return [_event(invoice, EventType.INVOICE_EXPIRED, EventLevel.WARNING, "Expired", now)]

    def expire_due(self, invoice_id: str, now: datetime) -> list[InvoiceEvent]:
        """Expire the invoice if ``now`` is past its expiration and it still can expire.

        Returns:
            ``INVOICE_EXPIRED`` the one time it expires, else no event.
        """
        invoice = self.find(invoice_id)
        if invoice.state in _EXPIRABLE and now >= invoice.expiration:
            return self.expire(invoice_id, now)
        return []


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
