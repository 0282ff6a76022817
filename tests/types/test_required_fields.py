"""Fields every answer carries are required: an answer without one is a DecodeError."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from calypso_async import (
    AccountBalances,
    DecodeError,
    EventType,
    Invoice,
    InvoiceState,
    InvoiceType,
    WebhookEvent,
    WebhookSubscription,
    parse_event,
)
from calypso_async._core.json import loads
from calypso_async._types import structure

FIXTURES = Path(__file__).parent.parent / "fixtures"
SECRET = "subscription-secret"


def read(name: str) -> Any:
    return loads((FIXTURES / name).read_bytes())


REQUIRED = [
    (Invoice, "invoice_single_overpay.json", "id"),
    (Invoice, "invoice_single_overpay.json", "state"),
    (Invoice, "invoice_single_overpay.json", "type"),
    (Invoice, "invoice_single_overpay.json", "currency"),
    (WebhookSubscription, "subscription.json", "requestId"),
    (WebhookSubscription, "subscription.json", "url"),
    (WebhookEvent, "webhook_event_pending_intervention.json", "requestId"),
    (WebhookEvent, "webhook_event_pending_intervention.json", "id"),
    (WebhookEvent, "webhook_event_pending_intervention.json", "eventType"),
]


@pytest.mark.parametrize(("model", "fixture", "key"), REQUIRED)
def test_an_answer_missing_a_required_field_is_a_decode_error_naming_it(
    model: type[Any], fixture: str, key: str
) -> None:
    """Without the field, DecodeError says which one is missing and which path answered."""
    data = read(fixture)
    del data[key]
    with pytest.raises(DecodeError, match=f"{key}: missing, and it is required") as info:
        structure(data, model, path="/api/v1/somewhere")
    assert info.value.path == "/api/v1/somewhere"


@pytest.mark.parametrize(("model", "fixture", "key"), REQUIRED)
def test_a_null_required_field_is_a_decode_error_naming_it(
    model: type[Any], fixture: str, key: str
) -> None:
    """A null where the value must be is refused like an absent one."""
    data = read(fixture)
    data[key] = None
    with pytest.raises(DecodeError, match=f"{key}: "):
        structure(data, model)


@pytest.mark.parametrize("key", ["currency", "amount"])
def test_a_balance_missing_its_currency_or_amount_names_the_item(key: str) -> None:
    """The error points into the list: balances[1].amount."""
    data = read("account.json")
    del data["balances"][1][key]
    with pytest.raises(DecodeError, match=rf"balances\[1\]\.{key}: missing"):
        structure(data, AccountBalances, path="/api/v1/account")


def test_required_enums_stay_tolerant_of_values_the_sdk_does_not_know() -> None:
    """An unknown state, type or event type still reads, as an UNKNOWN member."""
    invoice = read("invoice_single_overpay.json")
    invoice.update(state="ON_HOLD", type="RECURRING")
    parsed = structure(invoice, Invoice)
    assert (parsed.state.is_known, parsed.state.value) == (False, "ON_HOLD")
    assert (parsed.type.is_known, parsed.type.value) == (False, "RECURRING")
    assert isinstance(parsed.type, InvoiceType)
    event = read("webhook_event_pending_intervention.json")
    event["eventType"] = "TOPUP_RECEIVED"
    event_type = structure(event, WebhookEvent).event_type
    assert isinstance(event_type, EventType)
    assert (event_type.is_known, event_type.value) == (False, "TOPUP_RECEIVED")


def test_required_fields_are_typed_without_none() -> None:
    """reveal_type(invoice.state) is InvoiceState: no None check is needed."""
    invoice = structure(read("invoice_single_overpay.json"), Invoice)
    state: InvoiceState = invoice.state
    currency: str = invoice.currency
    assert (state, currency) == (InvoiceState.PENDING_INTERVENTION, "USDT")


def signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    sign = hmac.new(SECRET.encode(), body, hashlib.sha512).hexdigest()
    return body, {"Sign": sign}


@pytest.mark.parametrize("key", ["id", "requestId"])
def test_a_webhook_without_its_event_id_or_request_id_is_refused(key: str) -> None:
    """It could not be deduplicated: parse_event raises DecodeError naming the field."""
    event = json.loads((FIXTURES / "webhook_event_pending_intervention.json").read_text())
    del event[key]
    body, headers = signed(event)
    with pytest.raises(DecodeError, match=key):
        parse_event(body, headers, SECRET)


@pytest.mark.parametrize(("key", "odd"), [("requestId", {"a": 1}), ("id", [7]), ("id", None)])
def test_a_webhook_whose_identity_cannot_be_read_is_refused(key: str, odd: object) -> None:
    """requestId and id identify the event: unlike a cosmetic field, an odd one is refused."""
    event = json.loads((FIXTURES / "webhook_event_pending_intervention.json").read_text())
    event[key] = odd
    body, headers = signed(event)
    with pytest.raises(DecodeError, match=f"'{key}', which is required"):
        parse_event(body, headers, SECRET)


def test_the_lenient_webhook_reader_still_requires_the_event_id() -> None:
    """A field in an unknown shape is forgiven; a missing id is not, even on that path."""
    event = json.loads((FIXTURES / "webhook_event_pending_intervention.json").read_text())
    event["createdDate"] = 1655467985
    body, headers = signed(event)
    assert parse_event(body, headers, SECRET).created_date is None
    del event["id"]
    body, headers = signed(event)
    with pytest.raises(DecodeError, match="'id', which is required"):
        parse_event(body, headers, SECRET)
