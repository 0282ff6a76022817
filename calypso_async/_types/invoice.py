"""Invoices: their states, types and interventions, and the ``Invoice`` model.

Field names are the snake_case of the wire names, so the Calypso docs map one to one.
``id``, ``state``, ``type`` and ``currency`` are on every invoice answer and are
required: an answer without one raises ``DecodeError`` naming it. Every other field may
be absent (``None``); unknown fields are ignored, and the invoice keeps the JSON it came
from on ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from .base import TolerantEnum, model, raw_field

__all__ = [
    "Autoconversion",
    "InterventionType",
    "Invoice",
    "InvoicePayment",
    "InvoiceState",
    "InvoiceType",
]


class InvoiceState(TolerantEnum):
    """Where an invoice is in its life (``state``). ``ARCHIVED`` is how expiry ends."""

    PENDING_PAYMENT = "PENDING_PAYMENT"
    MEM_POOL_FOUND = "MEM_POOL_FOUND"
    PENDING_COMPLIANCE_CHECK = "PENDING_COMPLIANCE_CHECK"
    DECLINED = "DECLINED"
    PAID = "PAID"
    PENDING_INTERVENTION = "PENDING_INTERVENTION"
    COMPLETED = "COMPLETED"
    ARCHIVED = "ARCHIVED"


class InvoiceType(TolerantEnum):
    """The kind of invoice (``type``); only SINGLE and SINGLE_FIAT have interventions."""

    SINGLE = "SINGLE"
    SINGLE_FIAT = "SINGLE_FIAT"
    BOUND = "BOUND"
    UNLIMITED = "UNLIMITED"
    UNLIMITED_LINKED = "UNLIMITED_LINKED"


class InterventionType(TolerantEnum):
    """Why an invoice waits for the merchant (``interventionType``).

    A payment from several sender addresses also causes an intervention; Calypso has not
    published its value, so it arrives as an ``UNKNOWN`` member.
    """

    OVERPAY = "OVERPAY"
    UNDERPAY = "UNDERPAY"


@model
@attrs.frozen
class Autoconversion:
    """Where an invoice's funds are converted to (``autoconversion``)."""

    target_currency: str | None = None
    amount: Decimal | None = None


@model
@attrs.frozen
class InvoicePayment:
    """One payment into an invoice (``invoicePayments`` items; some API versions only)."""

    service_fee: Decimal | None = None
    raw: Mapping[str, Any] = raw_field()


_INTERVENTION_TYPES = frozenset({InvoiceType.SINGLE, InvoiceType.SINGLE_FIAT})


# Not slotted: a frozen slotted class sets each of its 28 fields through
# object.__setattr__, a dict-backed one stores them straight into __dict__, which makes
# building the Invoice read on every poll a third cheaper (for ~120 bytes more each).
@model
@attrs.frozen(slots=False)
class Invoice:
    """An invoice (InvoiceDTO) as Calypso reports it.

    ``id``, ``state``, ``type`` and ``currency`` are required: an answer without one
    raises ``DecodeError``.

    Attributes:
        id: The invoice's system id (a UUID string today).
        state: Where the invoice is; an unknown state is an ``UNKNOWN`` member.
        type: The kind of invoice; an unknown kind is an ``UNKNOWN`` member.
        currency: The crypto currency asked for, such as ``"USDT"``.
        amount: The crypto amount asked for, exactly as the server wrote it.
        intervention_type: ``OVERPAY`` or ``UNDERPAY`` while an intervention exists.
        is_intervention_resolved: ``False`` while an intervention is open.
        raw: The JSON object the invoice was read from, unknown fields included.
    """

    id: str
    type: InvoiceType
    currency: str
    state: InvoiceState
    invoice_address: str | None = None
    amount: Decimal | None = None
    fee: Decimal | None = None
    total_debit_amount: Decimal | None = None
    last_deposit_hash: str | None = None
    description: str | None = None
    created_date: datetime | None = None
    idempotency_key: str | None = None
    expiration: datetime | None = None
    fiat_amount: Decimal | None = None
    fiat_currency: str | None = None
    last_fiat_updated: datetime | None = None
    intervention_type: InterventionType | None = None
    is_intervention_resolved: bool | None = None
    subscription_enabled: bool | None = None
    return_url: str | None = None
    logo_url: str | None = None
    support_url: str | None = None
    external_id: str | None = None
    lower_bound: Decimal | None = None
    autoconversion: Autoconversion | None = None
    fiat_available: bool | None = None
    invoice_payments: tuple[InvoicePayment, ...] | None = None
    raw: Mapping[str, Any] = raw_field()

    @property
    def has_open_intervention(self) -> bool:
        """Whether an intervention exists and has not been closed yet."""
        # Closed only when the server says so: an absent flag is not a resolution.
        return self.state is InvoiceState.PENDING_INTERVENTION or (
            self.intervention_type is not None and self.is_intervention_resolved is not True
        )

    @property
    def supports_interventions(self) -> bool:
        """Whether this invoice type can have interventions (SINGLE and SINGLE_FIAT)."""
        return self.type in _INTERVENTION_TYPES
