"""One invoice as the fake keeps it, the events it causes, and how both are written.

Dates are written in both published forms: ``createdDate`` (and ``lastFiatUpdated``) as
``2025-07-05T22:31:09.255Z``, ``expiration`` as ``2022-08-25T12:47:28.200475`` (UTC, no
zone). ``totalDebitAmount`` is the sum of the payments received; ``fee`` is always ``0``.
``isInterventionResolved`` is ``true`` while there is no intervention (as in the
published example of a fresh unlimited invoice) and ``interventionType`` ``null``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from .._types import EventLevel, EventType, InterventionType, InvoiceState, InvoiceType

__all__ = ["FakeInvoice", "InvoiceDraft", "InvoiceEvent", "wire_date", "wire_date_naive"]

_ZERO = Decimal(0)


def wire_date(moment: datetime) -> str:
    """Write a UTC date the way newer Calypso answers do: ``2025-07-05T22:31:09.255Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def wire_date_naive(moment: datetime) -> str:
    """Write a UTC date the way older Calypso answers do: ``2022-08-25T12:47:28.200475``."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


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
