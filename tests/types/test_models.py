"""Models and the converter: every fixture, strict and lenient; tolerant enums; exact money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest
from cattrs.errors import BaseValidationError

from calypso_async import (
    AccountBalances,
    DecodeError,
    EventData,
    EventLevel,
    EventType,
    InterventionType,
    Invoice,
    InvoiceState,
    InvoiceType,
    ServiceType,
    WebhookEvent,
    WebhookSubscription,
)
from calypso_async._core.json import loads
from calypso_async._types.converter import make_converter, structure
from tests.conftest import load_fixture

MINIMAL_INVOICE = {"id": "x", "type": "SINGLE", "currency": "USDT", "state": "PENDING_PAYMENT"}
"""The fields every invoice answer carries (required)."""

FIXTURE_MODELS = [
    ("invoice_unlimited.json", Invoice),
    ("invoice_single_overpay.json", Invoice),
    ("webhook_event_pending_intervention.json", WebhookEvent),
    ("webhook_event_numeric_parent.json", WebhookEvent),
    ("subscription.json", WebhookSubscription),
    ("account.json", AccountBalances),
]


def read(name: str) -> Any:
    """A fixture decoded the way the session decodes answers (fractions as Decimal)."""
    return loads(load_fixture(name))


@pytest.mark.parametrize(("name", "model"), FIXTURE_MODELS)
def test_every_fixture_structures_leniently(name: str, model: type[Any]) -> None:
    """The production converter reads each published example."""
    data = read(name)
    obj = structure(data, model)
    assert isinstance(obj, model)
    assert obj.raw == data


@pytest.mark.parametrize(("name", "model"), FIXTURE_MODELS)
def test_every_fixture_structures_strictly(name: str, model: type[Any]) -> None:
    """The strict twin reads each fixture too, so every wire field has a model field."""
    obj = make_converter(strict=True).structure(read(name), model)
    assert obj == structure(read(name), model)


def test_every_listed_subscription_structures_strictly() -> None:
    """Each item of the subscriptions list has no field the model lacks."""
    strict = make_converter(strict=True)
    items = read("subscriptions_list.json")["subscriptions"]
    assert len(items) == 2
    for item in items:
        assert strict.structure(item, WebhookSubscription).request_id == item["requestId"]


def _wire_names(model: type[Any]) -> set[str]:
    names = set()
    for field in attrs.fields(model):
        if field.name != "raw":
            head, *rest = field.name.split("_")
            names.add(head + "".join(part.title() for part in rest))
    return names


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("invoice_single_overpay.json", Invoice),
        ("subscription.json", WebhookSubscription),
        ("account.json", AccountBalances),
        ("webhook_event_pending_intervention.json", WebhookEvent),
    ],
)
def test_complete_fixtures_hold_exactly_the_model_fields(name: str, model: type[Any]) -> None:
    """Each complete fixture has every model field, so strict runs exercise them all."""
    assert set(read(name)) == _wire_names(model)


def test_strict_twin_refuses_an_unknown_field_the_lenient_one_keeps_on_raw() -> None:
    """A new server field is ignored in production (kept on .raw) and caught in tests."""
    data = {**read("invoice_unlimited.json"), "brandNewField": {"x": 1}}
    invoice = structure(data, Invoice)
    assert invoice.raw["brandNewField"] == {"x": 1}
    assert not hasattr(invoice, "brand_new_field")
    with pytest.raises(BaseValidationError):
        make_converter(strict=True).structure(data, Invoice)


def test_strict_twin_refuses_an_unknown_nested_field() -> None:
    """Drift inside nested objects (autoconversion, payments, event data) is caught too."""
    strict = make_converter(strict=True)
    invoice = read("invoice_single_overpay.json")
    invoice["invoicePayments"][0]["newPaymentField"] = 1
    with pytest.raises(BaseValidationError):
        strict.structure(invoice, Invoice)
    event = read("webhook_event_pending_intervention.json")
    event["data"]["newDataField"] = 1
    with pytest.raises(BaseValidationError):
        strict.structure(event, WebhookEvent)
    assert structure(event, WebhookEvent).data.raw["newDataField"] == 1


def test_published_unlimited_invoice_reads_field_for_field() -> None:
    """The published example maps one to one onto snake_case fields."""
    invoice = structure(read("invoice_unlimited.json"), Invoice)
    assert invoice.id == "75867d4d-764c-4dd2-94a5-3e07a41c22ea"
    assert invoice.invoice_address == "0xc7721217b3e919eeb618c5155df278da58521aef"
    assert invoice.type is InvoiceType.UNLIMITED
    assert invoice.state is InvoiceState.PENDING_PAYMENT
    assert invoice.currency == "ETH"
    assert invoice.total_debit_amount == Decimal(0)
    assert invoice.idempotency_key == "1be6a518-6dcd-477d-96af-dd914b1300ce"
    assert invoice.is_intervention_resolved is True
    assert invoice.subscription_enabled is False
    assert invoice.amount is None
    assert invoice.intervention_type is None


def test_overpaid_single_invoice_reads_every_field() -> None:
    """Every InvoiceDTO field, nested objects included, is read with its type."""
    invoice = structure(read("invoice_single_overpay.json"), Invoice)
    assert invoice.type is InvoiceType.SINGLE
    assert invoice.state is InvoiceState.PENDING_INTERVENTION
    assert invoice.intervention_type is InterventionType.OVERPAY
    assert invoice.is_intervention_resolved is False
    assert invoice.amount == Decimal("10.234")
    assert invoice.fiat_amount == Decimal("10.23")
    assert invoice.fiat_currency == "USD"
    assert invoice.lower_bound is None
    assert invoice.fiat_available is True
    assert invoice.external_id == "order-42"
    assert invoice.return_url == "https://shop.example/orders/42"
    assert invoice.autoconversion is not None
    assert invoice.autoconversion.target_currency == "USDC"
    assert invoice.autoconversion.amount == Decimal("10.6895")
    assert invoice.invoice_payments is not None
    (payment,) = invoice.invoice_payments
    assert payment.service_fee == Decimal("0.000042026017236")
    assert invoice.last_fiat_updated == datetime(2025, 7, 5, 22, 16, 9, 255000, tzinfo=UTC)


def test_amounts_are_exact_decimals() -> None:
    """0.000042026017236 arrives as exactly that Decimal, never via float."""
    invoice = structure(read("invoice_single_overpay.json"), Invoice)
    assert type(invoice.fee) is Decimal
    assert str(invoice.fee) == "0.000042026017236"
    assert str(invoice.total_debit_amount) == "10.7"
    balances = structure(read("account.json"), AccountBalances)
    assert [str(b.amount) for b in balances.balances] == ["0.000042026017236", "1520.10", "0"]


def test_amount_written_as_a_string_is_still_a_decimal() -> None:
    """Some gateways quote numbers; "10.2340" is read as Decimal("10.2340")."""
    invoice = structure({**MINIMAL_INVOICE, "amount": "10.2340"}, Invoice)
    assert invoice.amount == Decimal("10.2340")
    assert str(invoice.amount) == "10.2340"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-08-25T12:47:28.200475", datetime(2022, 8, 25, 12, 47, 28, 200475, tzinfo=UTC)),
        ("2025-07-05T22:31:09.255Z", datetime(2025, 7, 5, 22, 31, 9, 255000, tzinfo=UTC)),
        ("2025-07-05T22:31:09.255123456Z", datetime(2025, 7, 5, 22, 31, 9, 255123, tzinfo=UTC)),
        ("2025-07-05T22:31:09", datetime(2025, 7, 5, 22, 31, 9, tzinfo=UTC)),
        ("2025-07-06T00:31:09.5+02:00", datetime(2025, 7, 5, 22, 31, 9, 500000, tzinfo=UTC)),
    ],
    ids=["no-zone", "zulu", "nanoseconds", "no-fraction", "offset"],
)
def test_dates_become_aware_utc_datetimes(text: str, expected: datetime) -> None:
    """Both published formats (and nanoseconds, offsets) give timezone-aware UTC."""
    invoice = structure({**MINIMAL_INVOICE, "createdDate": text}, Invoice)
    assert invoice.created_date == expected
    assert invoice.created_date is not None
    assert invoice.created_date.utcoffset() is not None
    assert invoice.created_date.tzinfo == UTC


@pytest.mark.parametrize(
    ("field", "attribute", "enum"),
    [
        ("state", "state", InvoiceState),
        ("type", "type", InvoiceType),
        ("interventionType", "intervention_type", InterventionType),
    ],
)
def test_unknown_invoice_enum_value_is_kept_not_refused(
    field: str, attribute: str, enum: type[Any]
) -> None:
    """A value Calypso adds later parses to UNKNOWN, keeping the raw string."""
    invoice = structure({**MINIMAL_INVOICE, field: "SOMETHING_NEW"}, Invoice)
    value = getattr(invoice, attribute)
    assert isinstance(value, enum)
    assert value.name == "UNKNOWN"
    assert value.value == "SOMETHING_NEW"
    assert value == "SOMETHING_NEW"
    assert value.is_known is False


def test_unknown_event_type_service_and_level_are_kept() -> None:
    """A new top-up event parses; its type, service and level keep their strings."""
    data = read("webhook_event_pending_intervention.json")
    data.update(eventType="TOPUP_RECEIVED", service="TOPUP", level="CRITICAL")
    data["data"]["type"] = "TOPUP_RECEIVED"
    event = structure(data, WebhookEvent)
    assert (event.event_type.value, event.event_type.is_known) == ("TOPUP_RECEIVED", False)
    assert event.data.type is not None
    assert event.data.type.value == "TOPUP_RECEIVED"
    assert event.service is not None
    assert (event.service.value, event.service.is_known) == ("TOPUP", False)
    assert event.level is not None
    assert event.level.value == "CRITICAL"
    assert event.invoice_id is None


def test_known_enum_values_are_the_members() -> None:
    """Known values are the real members, and is_known says so."""
    assert InvoiceState("COMPLETED") is InvoiceState.COMPLETED
    assert InvoiceState.COMPLETED.is_known
    assert EventType("INVOICE_PAID").is_known


def test_published_event_reads_with_the_invoice_id() -> None:
    """The published INVOICE_PENDING_INTERVENTION event points at its invoice."""
    event = structure(read("webhook_event_pending_intervention.json"), WebhookEvent)
    assert event.event_type is EventType.INVOICE_PENDING_INTERVENTION
    assert event.service is ServiceType.INVOICE
    assert event.level is EventLevel.SUCCESS
    assert event.id == "3"
    assert event.request_id == "bf9348b7-2c14-46d7-868c-b597852da319"
    assert event.data.parent_external_id == "d9732536-acdd-41bd-87c3-ec40aeeb6a37"
    assert event.invoice_id == "d9732536-acdd-41bd-87c3-ec40aeeb6a37"
    assert event.created_date == datetime(2022, 6, 17, 12, 13, 5, 909616, tzinfo=UTC)


def test_numeric_parent_external_id_becomes_a_string() -> None:
    """Older pages send parentExternalId as a number; it is kept as its string."""
    event = structure(read("webhook_event_numeric_parent.json"), WebhookEvent)
    assert event.data.parent_external_id == "1234567"
    assert event.invoice_id == "1234567"
    assert event.id == "4"


def test_subscription_reads_and_its_repr_hides_the_secret() -> None:
    """A subscription's secret_key is on the object but never in its repr."""
    subscription = structure(read("subscription.json"), WebhookSubscription)
    assert subscription.secret_key == "whsec-7d41c0e2b9a84f1d9c3e5a6b7c8d9e0f"
    assert subscription.notification_event_types == (
        EventType.INVOICE_PENDING_INTERVENTION,
        EventType.INVOICE_PAID,
    )
    assert subscription.notification_service_types == (ServiceType.INVOICE,)
    assert subscription.blocked_by_error_count == 0
    assert subscription.secret_key not in repr(subscription)
    assert subscription.secret_key not in str(subscription)
    assert subscription.request_id in repr(subscription)


@pytest.mark.parametrize(
    "change",
    [
        {"state": 5},
        {"createdDate": "yesterday"},
        {"createdDate": 1656067985},
        {"fee": "a lot"},
        {"fee": True},
        {"isInterventionResolved": "false"},
        {"autoconversion": "USDC"},
        {"invoicePayments": {"serviceFee": 1}},
        {"id": None},
    ],
    ids=repr,
)
def test_malformed_known_field_is_a_decode_error(change: dict[str, Any]) -> None:
    """A known field of the wrong shape is a DecodeError naming the field and path."""
    data = {**read("invoice_single_overpay.json"), **change}
    with pytest.raises(DecodeError) as info:
        structure(data, Invoice, path="/api/v1/invoice")
    assert info.value.path == "/api/v1/invoice"
    assert "Invoice" in str(info.value)


@pytest.mark.parametrize(
    "change",
    [
        {"notificationEventTypes": "INVOICE_PAID"},
        {"notificationServiceTypes": {"INVOICE": True}},
        {"notificationEventTypes": [1]},
        {"blockedByErrorCount": "3"},
    ],
    ids=repr,
)
def test_malformed_subscription_list_field_is_a_decode_error(change: dict[str, Any]) -> None:
    """A string or object where a JSON array belongs is refused, not split into letters."""
    data = {**read("subscription.json"), **change}
    with pytest.raises(DecodeError):
        structure(data, WebhookSubscription)


@pytest.mark.parametrize(
    ("name", "model", "key"),
    [
        ("subscription.json", WebhookSubscription, "notificationEventTypes"),
        ("subscription.json", WebhookSubscription, "notificationServiceTypes"),
        ("account.json", AccountBalances, "balances"),
    ],
)
def test_a_null_list_reads_as_empty(name: str, model: type[Any], key: str) -> None:
    """A list the server writes as null is empty, not a reason to refuse the answer."""
    obj = structure({**read(name), key: None}, model)
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
    assert getattr(obj, snake) == ()


def test_a_null_event_data_reads_as_empty() -> None:
    """An event whose data is null parses, with nothing in its data."""
    data = {**read("webhook_event_pending_intervention.json"), "data": None}
    event = structure(data, WebhookEvent)
    assert event.data == EventData()
    assert event.invoice_id is None


def test_a_decode_error_never_quotes_the_value() -> None:
    """A misplaced secret in a field of the wrong type is not copied into the error."""
    secret = "whsec-must-not-leak-0123456789"
    for change in ({"secretKey": [secret]}, {"createdDate": secret}, {"url": {"k": secret}}):
        with pytest.raises(DecodeError) as info:
            structure({**read("subscription.json"), **change}, WebhookSubscription)
        assert secret not in str(info.value)
        assert "WebhookSubscription" in str(info.value)


def test_missing_invoice_id_is_a_decode_error() -> None:
    """An invoice without its id is not an invoice."""
    data = read("invoice_unlimited.json")
    del data["id"]
    with pytest.raises(DecodeError, match="id"):
        structure(data, Invoice)


@pytest.mark.parametrize("data", [None, [], "invoice", 3])
def test_non_object_answer_is_a_decode_error(data: Any) -> None:
    """A JSON value that is not an object cannot be a model."""
    with pytest.raises(DecodeError):
        structure(data, Invoice)


@pytest.mark.parametrize(
    ("data", "open_intervention"),
    [
        ({"state": "PENDING_INTERVENTION", "interventionType": "OVERPAY"}, True),
        ({"state": "PENDING_INTERVENTION"}, True),
        (
            {"state": "COMPLETED", "interventionType": "UNDERPAY", "isInterventionResolved": False},
            True,
        ),
        (
            {"state": "COMPLETED", "interventionType": "OVERPAY", "isInterventionResolved": True},
            False,
        ),
        ({"state": "PENDING_PAYMENT", "isInterventionResolved": False}, False),
        ({"state": "COMPLETED"}, False),
    ],
)
def test_has_open_intervention(data: dict[str, Any], open_intervention: bool) -> None:
    """Open while pending intervention or while an intervention is not yet closed."""
    assert (
        structure({**MINIMAL_INVOICE, **data}, Invoice).has_open_intervention is open_intervention
    )


@pytest.mark.parametrize(
    ("invoice_type", "supported"),
    [
        ("SINGLE", True),
        ("SINGLE_FIAT", True),
        ("BOUND", False),
        ("UNLIMITED", False),
        ("UNLIMITED_LINKED", False),
        ("SOMETHING_NEW", False),
    ],
)
def test_supports_interventions_only_for_single_invoices(
    invoice_type: str, supported: bool
) -> None:
    """Only SINGLE and SINGLE_FIAT invoices can have interventions."""
    invoice = structure({**MINIMAL_INVOICE, "type": invoice_type}, Invoice)
    assert invoice.supports_interventions is supported


def test_models_are_frozen() -> None:
    """A model read from the server cannot be changed by accident."""
    invoice = structure(read("invoice_unlimited.json"), Invoice)
    with pytest.raises(AttributeError):
        invoice.state = InvoiceState.COMPLETED  # type: ignore[misc]
