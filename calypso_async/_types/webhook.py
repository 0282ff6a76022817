"""Webhooks: event types, services and levels, subscriptions, and the events delivered.

A subscription's ``requestId`` and ``url``, and an event's ``requestId``, ``id`` and
``eventType`` are on every answer and delivery and are required: one without them
raises ``DecodeError`` naming the field. Every other field may be absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .base import TolerantEnum, model, raw_field

__all__ = [
    "EventData",
    "EventLevel",
    "EventType",
    "ServiceType",
    "WebhookEvent",
    "WebhookSubscription",
]


class EventType(TolerantEnum):
    """A webhook event type (``eventType``), also used to subscribe."""

    INVOICE_CREATE_INVOICE = "INVOICE_CREATE_INVOICE"
    INVOICE_CREATE_UNLIMITED_INVOICE = "INVOICE_CREATE_UNLIMITED_INVOICE"
    INVOICE_FUNDS_RECEIVED_FOR_INVOICE = "INVOICE_FUNDS_RECEIVED_FOR_INVOICE"
    INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED = "INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED"
    INVOICE_PENDING_INTERVENTION = "INVOICE_PENDING_INTERVENTION"
    INVOICE_EXPIRED = "INVOICE_EXPIRED"
    INVOICE_PAID = "INVOICE_PAID"
    INVOICE_MEMPOOL_FOUND = "INVOICE_MEMPOOL_FOUND"
    INVOICE_PENDING_COMPLIANCE = "INVOICE_PENDING_COMPLIANCE"
    INVOICE_COMPLIANCE_DECLINED = "INVOICE_COMPLIANCE_DECLINED"
    PAYOUT_CHANGE_STATUS = "PAYOUT_CHANGE_STATUS"
    PAYOUT_CONFIRMED = "PAYOUT_CONFIRMED"
    PAYOUT_HASH_RECEIVED = "PAYOUT_HASH_RECEIVED"
    PAYOUT_VALIDATION_ERROR = "PAYOUT_VALIDATION_ERROR"


class ServiceType(TolerantEnum):
    """A notification service (``service``, ``notificationServiceTypes``)."""

    INVOICE = "INVOICE"
    PAYOUT = "PAYOUT"
    RECURRENT = "RECURRENT"


class EventLevel(TolerantEnum):
    """The severity Calypso gives a webhook event (``level``)."""

    SUCCESS = "SUCCESS"
    INFO = "INFO"
    WARNING = "WARNING"


@model
@attrs.frozen
class WebhookSubscription:
    """A webhook subscription. Its ``secret_key`` verifies the deliveries it causes.

    Attributes:
        request_id: The id the merchant chose when creating it; deletes use it.
        url: Where Calypso delivers its events.
        secret_key: Signs each delivery; keep it secret (it is left out of ``repr``).
    """

    request_id: str
    url: str
    notification_event_types: tuple[EventType, ...] = ()
    notification_service_types: tuple[ServiceType, ...] = ()
    public_key: str | None = None
    secret_key: str | None = attrs.field(default=None, repr=False)
    created_date: datetime | None = None
    blocked_by_error_count: int | None = None
    raw: Mapping[str, Any] = raw_field()


@model
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
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class WebhookEvent:
    """A webhook delivery from Calypso, verified and parsed by ``parse_event``.

    ``request_id``, ``id`` and ``event_type`` are required: together they identify the
    event (deduplicate on ``(request_id, id)``), and a delivery without one is a
    ``DecodeError``.

    Attributes:
        request_id: The subscription's request id.
        id: The event's id (a number on the wire today, kept as a string).
        event_type: What happened; unknown types arrive as ``UNKNOWN`` members.
        data: Details; ``data.parent_external_id`` is the invoice id for invoice events.
    """

    request_id: str
    id: str
    event_type: EventType
    created_date: datetime | None = None
    level: EventLevel | None = None
    service: ServiceType | None = None
    data: EventData = attrs.field(factory=EventData)
    raw: Mapping[str, Any] = raw_field()

    @property
    def invoice_id(self) -> str | None:
        """The invoice this event is about, for invoice events (else ``None``)."""
        if self.service is not None and self.service is not ServiceType.INVOICE:
            return None
        return self.data.parent_external_id
