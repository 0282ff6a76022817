"""parse_event: verify the signature over the raw bytes, then parse tolerantly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from calypso_async import (
    ConfigurationError,
    DecodeError,
    EventType,
    ServiceType,
    SignatureVerificationError,
    StaleEventError,
    parse_event,
    sign,
)

SUB_SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

EVENT = (
    b'{"requestId": "bf9348b7-2c14-46d7-868c-b597852da319", "id": 3, '
    b'"createdDate": "2022-06-17T12:13:05.909616", "level": "SUCCESS", "service": "INVOICE", '
    b'"eventType": "INVOICE_PENDING_INTERVENTION", "data": {"parentExternalId": '
    b'"d9732536-acdd-41bd-87c3-ec40aeeb6a37", "message": "Invoice example", "type": '
    b'"INVOICE_PENDING_INTERVENTION", "idempotencyKey": "5b0ca8da-6af4-4a1c-9efd-5cbfc19ace09"}}'
)


def signed(body: bytes, secret: str = SUB_SECRET) -> dict[str, str]:
    return {"Key": "public", "Sign": sign(body, secret), "Content-Type": "application/json"}


def test_published_event_parses_into_typed_models() -> None:
    """The documented delivery becomes a WebhookEvent naming the invoice."""
    event = parse_event(EVENT, signed(EVENT), SUB_SECRET)
    assert event.event_type is EventType.INVOICE_PENDING_INTERVENTION
    assert event.service is ServiceType.INVOICE
    assert event.id == "3"
    assert event.invoice_id == "d9732536-acdd-41bd-87c3-ec40aeeb6a37"
    assert event.data.idempotency_key == "5b0ca8da-6af4-4a1c-9efd-5cbfc19ace09"
    assert event.created_date == datetime(2022, 6, 17, 12, 13, 5, 909616, tzinfo=UTC)


def test_numeric_parent_external_id_becomes_a_string() -> None:
    """Older docs show a number: it is kept as a string."""
    body = EVENT.replace(b'"d9732536-acdd-41bd-87c3-ec40aeeb6a37"', b"12345")
    assert parse_event(body, signed(body), SUB_SECRET).data.parent_external_id == "12345"


def test_unknown_event_type_and_fields_are_tolerated() -> None:
    """A new event type and new fields parse; the raw JSON keeps them."""
    body = (
        b'{"requestId": "sub-1", "id": 9, "eventType": "TOP_UP_RECEIVED", "service": "TOPUP",'
        b' "brandNew": {"x": 1},'
        b' "data": {"parentExternalId": "p", "extra": 0.000042026017236}}'
    )
    event = parse_event(body, signed(body), SUB_SECRET)
    assert not event.event_type.is_known
    assert event.event_type.value == "TOP_UP_RECEIVED"
    assert event.invoice_id is None  # not an invoice service
    assert str(event.data.raw["extra"]) == "0.000042026017236"
    assert event.raw["brandNew"] == {"x": 1}


def test_an_event_with_null_data_is_accepted() -> None:
    """data: null is an event about nothing in particular, not a malformed body."""
    body = (
        b'{"requestId": "sub-1", "id": 10, "eventType": "INVOICE_PAID", "service": "INVOICE",'
        b' "data": null}'
    )
    event = parse_event(body, signed(body), SUB_SECRET)
    assert event.event_type is EventType.INVOICE_PAID
    assert event.invoice_id is None


@pytest.mark.parametrize(
    ("key", "field", "odd"),
    [
        ("createdDate", "created_date", 1655467985909),
        ("createdDate", "created_date", "yesterday"),
        ("createdDate", "created_date", "9999-12-31T23:59:59-23:59"),  # past max in UTC
        ("level", "level", 5),
        ("service", "service", ["INVOICE"]),
    ],
)
def test_a_genuine_event_with_an_odd_cosmetic_field_is_still_read(
    key: str, field: str, odd: object
) -> None:
    """Refusing a signed event for a field the SDK does not act on would lose it once
    Calypso stops retrying: that field reads as None and the event goes on."""
    body = json.dumps({**json.loads(EVENT), key: odd}).encode()
    event = parse_event(body, signed(body), SUB_SECRET)
    assert event.event_type is EventType.INVOICE_PENDING_INTERVENTION
    assert event.data.parent_external_id == "d9732536-acdd-41bd-87c3-ec40aeeb6a37"
    assert getattr(event, field) is None
    assert event.raw[key] == odd  # kept as sent


def test_an_odd_field_inside_data_leaves_the_rest_of_data_readable() -> None:
    """data.type as a number: the invoice id is still there for the resolver."""
    body = EVENT.replace(b'"type": "INVOICE_PENDING_INTERVENTION"', b'"type": 7')
    event = parse_event(body, signed(body), SUB_SECRET)
    assert event.invoice_id == "d9732536-acdd-41bd-87c3-ec40aeeb6a37"
    assert event.data.type is None
    assert event.data.raw["type"] == 7


def test_an_unreadable_created_date_is_stale_when_age_is_checked() -> None:
    """With max_age on, a date that cannot be read cannot prove the event fresh."""
    body = EVENT.replace(b'"2022-06-17T12:13:05.909616"', b"1655467985909")
    with pytest.raises(StaleEventError):
        parse_event(body, signed(body), SUB_SECRET, max_age=timedelta(days=1))


def test_one_changed_byte_fails_verification() -> None:
    """The signature covers the exact bytes: flipping one refuses the event."""
    headers = signed(EVENT)
    tampered = EVENT.replace(b'"id": 3', b'"id": 4')
    with pytest.raises(SignatureVerificationError):
        parse_event(tampered, headers, SUB_SECRET)


def test_a_reserialised_body_fails_verification() -> None:
    """Re-serialising changes the bytes (spacing), so the original signature fails."""
    compact = EVENT.replace(b": ", b":").replace(b", ", b",")
    with pytest.raises(SignatureVerificationError):
        parse_event(compact, signed(EVENT), SUB_SECRET)


def test_missing_sign_header_is_refused() -> None:
    """No Sign header means no event."""
    with pytest.raises(SignatureVerificationError, match="no Sign"):
        parse_event(EVENT, {"Key": "public"}, SUB_SECRET)


def test_the_api_secret_does_not_verify_a_webhook() -> None:
    """Deliveries are signed with the subscription secret, not the API secret."""
    with pytest.raises(SignatureVerificationError):
        parse_event(EVENT, signed(EVENT, "b823a6b9ea72408583cef9ec8d67fa52"), SUB_SECRET)


def test_header_names_are_case_insensitive_in_plain_dicts() -> None:
    """A lower-cased 'sign' header in a plain dict is found."""
    headers = {"sign": sign(EVENT, SUB_SECRET)}
    assert parse_event(EVENT, headers, SUB_SECRET).id == "3"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"requestId": "sub-1", "id": 1}',
        b'{"eventType": 5}',
        b'{"eventType": "X", "data": 3}',
    ],
)
def test_verified_body_that_is_not_an_event_is_a_decode_error(body: bytes) -> None:
    """Signed garbage is a DecodeError, not a crash."""
    with pytest.raises(DecodeError):
        parse_event(body, signed(body), SUB_SECRET)


def test_a_parsed_dict_is_refused() -> None:
    """parse_event never accepts an already-parsed object."""
    with pytest.raises(ConfigurationError, match="raw request body"):
        parse_event({"eventType": "X"}, {}, SUB_SECRET)  # type: ignore[arg-type]


def test_freshness_check_is_off_by_default_and_refuses_old_events_when_on() -> None:
    """Calypso retries for ~34 h, so age is only checked when asked."""
    now = datetime(2022, 6, 18, 12, 0, tzinfo=UTC)
    assert parse_event(EVENT, signed(EVENT), SUB_SECRET, now=now).id == "3"
    ok = parse_event(EVENT, signed(EVENT), SUB_SECRET, max_age=timedelta(days=2), now=now)
    assert ok.id == "3"
    with pytest.raises(StaleEventError, match="older") as stale:
        parse_event(EVENT, signed(EVENT), SUB_SECRET, max_age=timedelta(hours=1), now=now)
    assert stale.value.event.id == "3", "the genuine event comes with the error"


def test_a_stale_event_is_not_a_signature_failure() -> None:
    """Old but genuine is told apart from forged: a receiver acknowledges it, not 401."""
    assert not issubclass(StaleEventError, SignatureVerificationError)


def test_a_forged_old_event_is_still_a_signature_failure() -> None:
    """The signature is checked first: age never excuses a bad Sign."""
    with pytest.raises(SignatureVerificationError):
        parse_event(EVENT, signed(EVENT, "wrong"), SUB_SECRET, max_age=timedelta(seconds=1))


def test_a_naive_now_is_a_configuration_error() -> None:
    """datetime.now() without a zone is local time: refused rather than misread as UTC."""
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        parse_event(
            EVENT,
            signed(EVENT),
            SUB_SECRET,
            max_age=timedelta(hours=1),
            now=datetime(2022, 6, 18, 12, 0),  # naive: the point of the test
        )


def test_several_secrets_accept_a_delivery_signed_by_any_of_them() -> None:
    """During a rotation both the old and the new secret verify; a third does not."""
    new_secret = "new-" + SUB_SECRET
    for secret in (SUB_SECRET, new_secret):
        event = parse_event(EVENT, signed(EVENT, secret), [SUB_SECRET, new_secret])
        assert event.invoice_id is not None
    with pytest.raises(SignatureVerificationError):
        parse_event(EVENT, signed(EVENT, "someone-else"), (SUB_SECRET, new_secret))


@pytest.mark.parametrize("keys", [[], [""], [SUB_SECRET, ""]])
def test_an_empty_list_of_secrets_or_an_empty_one_is_refused(keys: list[str]) -> None:
    """A configuration mistake is a ConfigurationError before anything is checked."""
    with pytest.raises(ConfigurationError, match="secret_key"):
        parse_event(EVENT, signed(EVENT), keys)
