"""Argument checks: exact amounts, visible text, identifiers, URLs, aware dates, enums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from calypso_async import ConfigurationError, EventType
from calypso_async._core import checks as check


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("10.234"), "10.234"),
        (10, "10"),
        ("10.2340", "10.2340"),
        (" 7.5 ", "7.5"),
        ("0.000042026017236", "0.000042026017236"),
        ("0.000000000000000001", "1E-18"),  # one wei
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    ],
    ids=repr,
)
def test_amount_is_an_exact_decimal(value: Any, expected: str) -> None:
    """Decimal/int/str are taken as written."""
    result = check.amount("amount", value)
    assert type(result) is Decimal
    assert str(result) == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        0,
        -1,
        Decimal("-0.01"),
        "0",
        Decimal("NaN"),
        Decimal("sNaN"),
        float("nan"),
        float("inf"),
        "Infinity",
        "ten",
        "",
        "1_000",  # Decimal() would take it
        "\u0661\u0660",  # Arabic-Indic "10": Decimal() would take it too
        None,
        [10],
        b"10",
        Decimal("1e-5000000"),  # a 5 MB body once written in plain notation
        "1e41",
        "0." + "0" * 40 + "1",
        "1." + "1" * 60,
    ],
    ids=lambda value: repr(value)[:40],
)
def test_amount_refuses_what_is_not_a_positive_finite_number(value: Any) -> None:
    """bool, zero, negatives, NaN, infinities and non-numbers are ConfigurationError."""
    with pytest.raises(ConfigurationError, match="amount"):
        check.amount("amount", value)


def test_text_keeps_the_value_and_refuses_blank_or_long_or_non_str() -> None:
    """Text is returned unchanged; blank, too long and non-str are refused by name."""
    assert check.text("description", " order 42 ") == " order 42 "
    for bad in ("", "  \t", "x" * 1025, 42, None):
        with pytest.raises(ConfigurationError, match="description"):
            check.text("description", bad)
    assert check.optional_text("external_id", None) is None


@pytest.mark.parametrize("bad", ["", "a b", "tab\there", "line\n", "x" * 257])
def test_identifier_refuses_blank_spaced_or_overlong(bad: str) -> None:
    """Ids and currencies have no whitespace and a sane length."""
    with pytest.raises(ConfigurationError, match="currency"):
        check.identifier("currency", bad)


def test_identifier_accepts_ids_and_currencies() -> None:
    """UUIDs, currency codes with underscores and None (when optional) pass."""
    assert check.identifier("id", "75867d4d-764c-4dd2-94a5-3e07a41c22ea")
    assert check.identifier("currency", "USDT_TRX") == "USDT_TRX"
    assert check.optional_identifier("idempotency_key", None) is None


@pytest.mark.parametrize(
    "good", ["https://shop.example/return?order=42", "http://localhost:8080/hook"]
)
def test_url_accepts_absolute_http_urls(good: str) -> None:
    """Absolute http(s) URLs are returned unchanged."""
    assert check.url("return_url", good) == good


@pytest.mark.parametrize(
    "bad", ["ftp://shop.example", "shop.example/return", "/return", "https://", "javascript:x"]
)
def test_url_refuses_anything_else(bad: str) -> None:
    """Relative, schemeless and non-http URLs are refused by name."""
    with pytest.raises(ConfigurationError, match="return_url"):
        check.url("return_url", bad)


def test_optional_bool_is_strict() -> None:
    """Only True, False and None: "yes" or 1 are refused."""
    assert check.optional_bool("fiat_available", True) is True
    assert check.optional_bool("fiat_available", None) is None
    for bad in ("yes", 1, 0):
        with pytest.raises(ConfigurationError):
            check.optional_bool("fiat_available", bad)


def test_timestamp_is_written_in_utc_without_zone() -> None:
    """An aware datetime becomes UTC wall time with milliseconds, as the API writes it."""
    aware = datetime(2025, 7, 6, 0, 31, 9, 255999, tzinfo=timezone(timedelta(hours=2)))
    assert check.optional_timestamp("expiration", aware) == "2025-07-05T22:31:09.255"
    assert check.optional_timestamp("expiration", datetime(2025, 1, 1, tzinfo=UTC)) == (
        "2025-01-01T00:00:00.000"
    )
    assert check.optional_timestamp("expiration", None) is None


@pytest.mark.parametrize("bad", [datetime(2025, 7, 5, 22, 31), "2025-07-05T22:31:09Z", 1700000000])
def test_timestamp_refuses_naive_or_non_datetime(bad: Any) -> None:
    """A naive datetime would be guessed in some zone: it is refused."""
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        check.optional_timestamp("expiration", bad)


def test_enum_values_are_wire_strings() -> None:
    """Members become their values; non-blank strings pass for types newer than the SDK."""
    values = check.enum_values("event_types", [EventType.INVOICE_PAID, "TOPUP_NEW"], EventType)
    assert values == ["INVOICE_PAID", "TOPUP_NEW"]
    assert check.enum_values("event_types", (), EventType) == []


@pytest.mark.parametrize("bad", ["INVOICE_PAID", b"INVOICE_PAID", None, 5, [""], [None], [1]])
def test_enum_values_refuse_a_bare_string_or_bad_items(bad: Any) -> None:
    """A bare string is not a list of one; blank and non-str items are refused."""
    with pytest.raises(ConfigurationError, match="event_types"):
        check.enum_values("event_types", bad, EventType)


@pytest.mark.parametrize("value", [10.234, 0.1, 0.1 + 0.2, 1e-7])
def test_a_float_amount_is_refused_with_the_exact_spelling_to_use(value: float) -> None:
    """Hints, runtime and docs agree: no float reaches money, and the message says what
    to write instead."""
    with pytest.raises(ConfigurationError, match="not a float") as refused:
        check.amount("amount", value)
    assert f"Decimal({str(value)!r})" in str(refused.value)
