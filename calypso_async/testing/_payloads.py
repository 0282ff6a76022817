"""Reading request payloads: required fields, types and amounts, or a 400 naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from .._errors import ErrorCode
from .._types import InvoiceType
from ._invoice import InvoiceDraft
from ._records import FakeCalypsoError

__all__ = [
    "invoice_draft",
    "invoice_lookup",
    "required_id",
    "subscription_id",
    "subscription_request",
    "to_decimal",
]


def _invalid(message: str) -> FakeCalypsoError:
    return FakeCalypsoError(400, ErrorCode.BAD_REQUEST, message)


def _payload(body: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = body.get("payload")
    if not isinstance(payload, Mapping):
        raise _invalid("payload is required and must be an object")
    return payload


def to_decimal(value: object, name: str = "amount") -> Decimal:
    """Read an amount (JSON number or numeric string) as a positive ``Decimal``."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _invalid(f"{name} must be a number")
    try:
        result = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise _invalid(f"{name} must be a number") from None
    if not result.is_finite() or result <= 0:
        raise _invalid(f"{name} must be greater than zero")
    return result


def _text(payload: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{name} must be a non-empty string")
    return value


def _required_text(payload: Mapping[str, Any], name: str) -> str:
    value = _text(payload, name)
    assert value is not None
    return value


def _amount(payload: Mapping[str, Any], name: str) -> Decimal:
    if payload.get(name) is None:
        raise _invalid(f"{name} is required")
    return to_decimal(payload[name], name)


def _bool(payload: Mapping[str, Any], name: str) -> bool | None:
    value = payload.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise _invalid(f"{name} must be true or false")


def _date(payload: Mapping[str, Any], name: str) -> datetime | None:
    value = _text(payload, name, required=False)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{name} must be an ISO 8601 date") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _url(payload: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = _text(payload, name, required=required)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _invalid(f"{name} must be an absolute http(s) URL")
    return value


def invoice_draft(invoice_type: InvoiceType, body: Mapping[str, Any]) -> InvoiceDraft:
    """Read a create request for ``invoice_type`` from a request body."""
    payload = _payload(body)
    fields: dict[str, Any] = {
        "type": invoice_type,
        "currency": _required_text(payload, "currency"),
        "description": _required_text(payload, "description"),
        "idempotency_key": _text(payload, "idempotencyKey", required=False),
        "external_id": _text(payload, "externalId", required=False),
    }
    if invoice_type is InvoiceType.SINGLE:
        fields["amount"] = _amount(payload, "amount")
        fields["expiration"] = _date(payload, "expiration")
    elif invoice_type is InvoiceType.SINGLE_FIAT:
        fields["fiat_amount"] = _amount(payload, "fiatAmount")
        fields["fiat_currency"] = _required_text(payload, "fiatCurrency")
    elif invoice_type is InvoiceType.BOUND:
        fields["lower_bound"] = _amount(payload, "lowerBound")
    if invoice_type is not InvoiceType.SINGLE_FIAT:
        fields["return_url"] = _url(payload, "returnUrl")
        fields["fiat_available"] = _bool(payload, "fiatAvailable")
    if invoice_type in (InvoiceType.SINGLE, InvoiceType.UNLIMITED):
        fields["logo_url"] = _url(payload, "logoUrl")
        fields["support_url"] = _url(payload, "supportUrl")
    return InvoiceDraft(**fields)


def invoice_lookup(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Read ``id`` or ``idempotencyKey`` (exactly one) from a get request."""
    payload = _payload(body)
    invoice_id = _text(payload, "id", required=False)
    key = _text(payload, "idempotencyKey", required=False)
    if (invoice_id is None) == (key is None):
        raise _invalid("give exactly one of id and idempotencyKey")
    return invoice_id, key


def required_id(body: Mapping[str, Any]) -> str:
    """Read the invoice ``id`` of return-to-paid and close-intervention."""
    return _required_text(_payload(body), "id")


def subscription_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """Read a subscription create request as keyword arguments for the book."""
    payload = _payload(body)
    lists: dict[str, list[str]] = {}
    for wire, name in (
        ("notificationEventTypes", "event_types"),
        ("notificationServiceTypes", "service_types"),
    ):
        value = payload.get(wire)
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _invalid(f"{wire} must be a list of strings")
        lists[name] = value
    if not lists["event_types"] and not lists["service_types"]:
        raise _invalid("give notificationEventTypes and/or notificationServiceTypes")
    return {
        "request_id": _required_text(payload, "requestId"),
        "url": _url(payload, "url", required=True),
        **lists,
    }


def subscription_id(body: Mapping[str, Any]) -> str:
    """Read the ``requestId`` of a subscription delete request."""
    return _required_text(_payload(body), "requestId")
