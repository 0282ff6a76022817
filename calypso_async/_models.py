"""The typed objects the API answers with: attrs frozen classes, money as ``Decimal``.

Field names are the snake_case of the wire names, so the Calypso docs map one to one.
Almost every field may be absent (``None``); unknown fields are ignored, and every
top-level object keeps the JSON it came from on ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ._enums import EventLevel, EventType, InterventionType, InvoiceState, InvoiceType, ServiceType

__all__ = [
    "AccountBalances",
    "Autoconversion",
    "Balance",
    "EventData",
    "Invoice",
    "InvoicePayment",
    "WebhookEvent",
    "WebhookSubscription",
]

_EMPTY: Mapping[str, Any] = {}


def _raw() -> Any:
    return attrs.field(default=_EMPTY, eq=False, repr=False, kw_only=True)


@attrs.frozen
class Autoconversion:
    """Where an invoice's funds are converted to (``autoconversion``)."""

    target_currency: str | None = None
    amount: Decimal | None = None


@attrs.frozen
class InvoicePayment:
    """One payment into an invoice (``invoicePayments`` items; some API versions only)."""

    service_fee: Decimal | None = None
    raw: Mapping[str, Any] = _raw()


_INTERVENTION_TYPES = frozenset({InvoiceType.SINGLE, InvoiceType.SINGLE_FIAT})


# Not slotted: a frozen slotted class sets each of its 28 fields through
# object.__setattr__, a dict-backed one stores them straight into __dict__, which makes
# building the Invoice read on every poll a third cheaper (for ~120 bytes more each).
@attrs.frozen(slots=False)
class Invoice:
    """An invoice (InvoiceDTO) as Calypso reports it.

    Attributes:
        id: The invoice's system id (a UUID string today).
        state: Where the invoice is; an unknown state is an ``UNKNOWN`` member.
        amount: The crypto amount asked for, exactly as the server wrote it.
        intervention_type: ``OVERPAY`` or ``UNDERPAY`` while an intervention exists.
        is_intervention_resolved: ``False`` while an intervention is open.
        raw: The JSON object the invoice was read from, unknown fields included.
    """

    id: str
    invoice_address: str | None = None
    type: InvoiceType | None = None
    amount: Decimal | None = None
    fee: Decimal | None = None
    total_debit_amount: Decimal | None = None
    currency: str | None = None
    state: InvoiceState | None = None
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
    raw: Mapping[str, Any] = _raw()

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


@attrs.frozen
class WebhookSubscription:
    """A webhook subscription. Its ``secret_key`` verifies the deliveries it causes.

    Attributes:
        request_id: The id the merchant chose when creating it; deletes use it.
        secret_key: Signs each delivery; keep it secret (it is left out of ``repr``).
    """

    request_id: str
    notification_event_types: tuple[EventType, ...] = ()
    notification_service_types: tuple[ServiceType, ...] = ()
    url: str | None = None
    public_key: str | None = None
    secret_key: str | None = attrs.field(default=None, repr=False)
    created_date: datetime | None = None
    blocked_by_error_count: int | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class Balance:
    """How much of one currency the account holds."""

    currency: str
    amount: Decimal


@attrs.frozen
class AccountBalances:
    """The merchant account and its balances (``/api/v1/account``)."""

    account: str | None = None
    name: str | None = None
    owner_id: str | None = None
    balances: tuple[Balance, ...] = ()
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class EventData:
    """The ``data`` of a webhook event.

    Attributes:
        parent_external_id: The id of the object the event is about (for invoice events,
            the invoice id), always a string even when the wire had a number.
    """

    parent_external_id: str | None = None
    message: str | None = None
    type: EventType | None = None
    idempotency_key: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen
class WebhookEvent:
    """A webhook delivery from Calypso, verified and parsed by ``parse_event``.

    Attributes:
        request_id: The subscription's request id.
        id: The event's id (a number on the wire today, kept as a string).
        event_type: What happened; unknown types arrive as ``UNKNOWN`` members.
        data: Details; ``data.parent_external_id`` is the invoice id for invoice events.
    """

    request_id: str | None = None
    id: str | None = None
    created_date: datetime | None = None
    level: EventLevel | None = None
    service: ServiceType | None = None
    event_type: EventType | None = None
    data: EventData = attrs.field(factory=EventData)
    raw: Mapping[str, Any] = _raw()

    @property
    def invoice_id(self) -> str | None:
        """The invoice this event is about, for invoice events (else ``None``)."""
        if self.service is not None and self.service is not ServiceType.INVOICE:
            return None
        return self.data.parent_external_id
