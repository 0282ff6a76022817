"""Reading request payloads: required fields, types and amounts, or a 400 naming the field.

The one set of payload readers of the fake: every operation (invoices, webhooks,
payouts, exchanges, customer purses) reads its fields here, and every refusal is a 400
with Calypso's published ``"001"`` (bad request), the field named in ``message``.
Currencies and amounts go through :func:`~._currencies.check_money`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from .._types import InvoiceType
from ._currencies import check_money
from ._invoice import InvoiceDraft
from ._records import bad_request as _invalid

__all__ = [
    "amount",
    "currency",
    "invoice_draft",
    "lookup",
    "payload",
    "required_id",
    "required_text",
    "subscription_id",
    "subscription_request",
    "text",
    "to_decimal",
]


def payload(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``payload`` object of a request body."""
    found = body.get("payload")
    if not isinstance(found, Mapping):
        raise _invalid("payload is required and must be an object")
    return found


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


def text(fields: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """A non-empty string field; ``None`` when absent and not ``required``."""
    value = fields.get(name)
    if value is None:
        if required:
            raise _invalid(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{name} must be a non-empty string")
    return value


def required_text(fields: Mapping[str, Any], name: str) -> str:
    """A required non-empty string field."""
    value = text(fields, name)
    assert value is not None
    return value


def currency(fields: Mapping[str, Any], name: str = "currency") -> str:
    """A required currency code the fake knows (case-sensitive, as Calypso's)."""
    return check_money(required_text(fields, name), field=name)


def amount(fields: Mapping[str, Any], name: str, of: str | None = None) -> Decimal:
    """A required positive amount; with ``of``, no more decimals than that currency's scale."""
    if fields.get(name) is None:
        raise _invalid(f"{name} is required")
    value = to_decimal(fields[name], name)
    if of is not None:
        check_money(of, value, amount_field=name)
    return value


def _bool(fields: Mapping[str, Any], name: str) -> bool | None:
    value = fields.get(name)
    if value is None or isinstance(value, bool):
        return value
    raise _invalid(f"{name} must be true or false")


def _date(fields: Mapping[str, Any], name: str) -> datetime | None:
    value = text(fields, name, required=False)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{name} must be an ISO 8601 date") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _url(fields: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = text(fields, name, required=required)
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _invalid(f"{name} must be an absolute http(s) URL")
    return value


def invoice_draft(invoice_type: InvoiceType, body: Mapping[str, Any]) -> InvoiceDraft:
    """Read a create request for ``invoice_type`` from a request body."""
    request = payload(body)
    code = currency(request)
    fields: dict[str, Any] = {
        "type": invoice_type,
        "currency": code,
        "description": required_text(request, "description"),
        "idempotency_key": text(request, "idempotencyKey", required=False),
        "external_id": text(request, "externalId", required=False),
    }
    if invoice_type is InvoiceType.SINGLE:
        fields["amount"] = amount(request, "amount", code)
        fields["expiration"] = _date(request, "expiration")
    elif invoice_type is InvoiceType.SINGLE_FIAT:
        fields["fiat_amount"] = amount(request, "fiatAmount")
        fields["fiat_currency"] = required_text(request, "fiatCurrency")
    elif invoice_type is InvoiceType.BOUND:
        fields["lower_bound"] = amount(request, "lowerBound", code)
    if invoice_type is not InvoiceType.SINGLE_FIAT:
        fields["return_url"] = _url(request, "returnUrl")
        fields["fiat_available"] = _bool(request, "fiatAvailable")
    if invoice_type in (InvoiceType.SINGLE, InvoiceType.UNLIMITED):
        fields["logo_url"] = _url(request, "logoUrl")
        fields["support_url"] = _url(request, "supportUrl")
    return InvoiceDraft(**fields)


def lookup(body: Mapping[str, Any], id_name: str = "id") -> tuple[str | None, str | None]:
    """Read ``id_name`` or ``idempotencyKey`` (exactly one) from a get request."""
    request = payload(body)
    found = text(request, id_name, required=False)
    key = text(request, "idempotencyKey", required=False)
    if (found is None) == (key is None):
        raise _invalid(f"give exactly one of {id_name} and idempotencyKey")
    return found, key


def required_id(body: Mapping[str, Any]) -> str:
    """Read the invoice ``id`` of return-to-paid and close-intervention."""
    return required_text(payload(body), "id")


def subscription_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """Read a subscription create request as keyword arguments for the book."""
    request = payload(body)
    lists: dict[str, list[str]] = {}
    for wire, name in (
        ("notificationEventTypes", "event_types"),
        ("notificationServiceTypes", "service_types"),
    ):
        value = request.get(wire)
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _invalid(f"{wire} must be a list of strings")
        lists[name] = value
    if not lists["event_types"] and not lists["service_types"]:
        raise _invalid("give notificationEventTypes and/or notificationServiceTypes")
    return {
        "request_id": required_text(request, "requestId"),
        "url": _url(request, "url", required=True),
        **lists,
    }


def subscription_id(body: Mapping[str, Any]) -> str:
    """Read the ``requestId`` of a subscription delete request."""
    return required_text(payload(body), "requestId")
