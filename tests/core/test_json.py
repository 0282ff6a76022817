"""JSON for money: Decimal in, Decimal out, every digit kept, floats refused."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calypso_async._core.json import MAX_DEPTH, dumps, format_decimal, loads


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        pytest.param(Decimal("0.000042026017236"), b"0.000042026017236", id="tiny-fee"),
        pytest.param(Decimal("1E-7"), b"0.0000001", id="exponent-written-plain"),
        pytest.param(Decimal("10.2340"), b"10.2340", id="trailing-zero-kept"),
        pytest.param(Decimal("1E+3"), b"1000", id="positive-exponent"),
        pytest.param(Decimal("123456789012345678901234567890.123456789"), None, id="long"),
    ],
)
def test_dumps_writes_a_decimal_with_every_digit(amount: Decimal, text: bytes | None) -> None:
    """A Decimal becomes a JSON number in plain notation with all its digits."""
    expected = text if text is not None else str(amount).encode()
    assert dumps({"amount": amount}) == b'{"amount":' + expected + b"}"


def test_dumps_refuses_a_float() -> None:
    """A float amount is refused rather than written through binary."""
    with pytest.raises(TypeError, match="float"):
        dumps({"amount": 10.234})


@pytest.mark.parametrize(
    "value",
    [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")],
    ids=str,
)
def test_dumps_refuses_a_non_finite_decimal(value: Decimal) -> None:
    """NaN and infinities are not amounts and are not JSON."""
    with pytest.raises(ValueError, match="finite"):
        dumps({"amount": value})


def test_dumps_refuses_a_float_nan() -> None:
    """A float NaN is refused like any float."""
    with pytest.raises(TypeError):
        dumps([float("nan")])


def test_dumps_is_compact_and_keeps_key_order() -> None:
    """No spaces after separators; keys stay in insertion order (the signed bytes)."""
    body = {"timestamp": 1, "account": "0xabc", "payload": {"id": "x", "ok": True, "n": None}}
    assert (
        dumps(body) == b'{"timestamp":1,"account":"0xabc","payload":{"id":"x","ok":true,"n":null}}'
    )
    assert dumps([1, [2, 3], (4,)]) == b"[1,[2,3],[4]]"


def test_dumps_output_is_ascii_and_reads_back_the_same_text() -> None:
    """Non-ASCII text is escaped, so the bytes are ASCII and decode to the same string."""
    data = dumps({"description": "заказ №42 – €10"})
    data.decode("ascii")
    assert json.loads(data) == {"description": "заказ №42 – €10"}


def test_dumps_writes_bools_as_json_literals_not_numbers() -> None:
    """True is true, not 1 (bool is an int in Python)."""
    assert dumps({"a": True, "b": False, "c": 1, "d": 0}) == b'{"a":true,"b":false,"c":1,"d":0}'


@pytest.mark.parametrize("value", [{1: "x"}, {"when": object()}, {"items": {1, 2}}])
def test_dumps_refuses_what_json_cannot_hold(value: object) -> None:
    """Non-str keys and unknown types are a TypeError, not a silent str()."""
    with pytest.raises(TypeError):
        dumps(value)


def test_format_decimal_refuses_nan() -> None:
    """format_decimal writes plain notation and refuses NaN."""
    assert format_decimal(Decimal("4.2026017236E-5")) == "0.000042026017236"
    with pytest.raises(ValueError, match="finite"):
        format_decimal(Decimal("NaN"))


def test_loads_reads_every_fraction_as_decimal() -> None:
    """Numbers with a fraction are Decimal; integers stay int."""
    data = loads(b'{"fee":0.000042026017236,"total":0,"amount":1520.10,"big":1e-7}')
    assert data == {
        "fee": Decimal("0.000042026017236"),
        "total": 0,
        "amount": Decimal("1520.10"),
        "big": Decimal("1E-7"),
    }
    assert type(data["fee"]) is Decimal
    assert type(data["total"]) is int
    assert str(data["amount"]) == "1520.10"


def test_round_trip_of_a_tiny_fee_is_exact() -> None:
    """0.000042026017236 read and written back is byte-for-byte the same."""
    text = b'{"fee":0.000042026017236}'
    assert dumps(loads(text)) == text


@settings(max_examples=100, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=18))
def test_any_finite_decimal_round_trips_exactly(value: Decimal) -> None:
    """dumps then loads gives back an equal Decimal, digit for digit."""
    back = loads(dumps({"v": value}))["v"]
    assert Decimal(back) == value
    assert format_decimal(Decimal(back)) == format_decimal(value)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 100_000])
@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}")])
def test_loads_refuses_nesting_past_the_sdk_limit_on_every_python(
    depth: int, opening: str, closing: str
) -> None:
    """Past MAX_DEPTH is a ValueError, whatever the interpreter's own recursion limits."""
    text = opening * depth + "1" + closing * depth
    with pytest.raises(ValueError, match="nested"):
        loads(text.encode())


def test_loads_reads_nesting_up_to_the_limit_and_brackets_in_strings() -> None:
    """MAX_DEPTH levels parse; brackets inside strings are text, not nesting."""
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    many = '{"note": "' + "[{" * 500 + '", "items": [[1], {"a": [2]}]}'
    assert loads(many.encode())["items"] == [[1], {"a": [2]}]
