"""The compiled structuring fast path agrees with cattrs on everything it accepts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, get_args, get_origin, get_type_hints

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calypso_async import (
    AccountBalances,
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
from calypso_async._types.converter import _camel, _compiled, _converter, structure
from tests.reliability.test_bad_input import (
    ACCOUNT_KEYS,
    DATA_KEYS,
    EVENT_KEYS,
    INVOICE_KEYS,
    SUBSCRIPTION_KEYS,
    field_values,
)
from tests.types.test_models import FIXTURE_MODELS, read

ENUM_VALUES = [
    str(member)
    for enum_cls in (
        InvoiceState,
        InvoiceType,
        InterventionType,
        EventType,
        ServiceType,
        EventLevel,
    )
    for member in enum_cls
]
likely_values = (
    field_values
    | st.sampled_from([*ENUM_VALUES, "SOMETHING_NEW", "2026-12-02T15:34:47.964Z", "2022-08-25"])
    | st.lists(st.sampled_from(ENUM_VALUES), max_size=3)
    | st.fixed_dictionaries({}, optional={key: field_values for key in DATA_KEYS})
    | st.fixed_dictionaries(
        {"currency": st.text(max_size=5), "amount": st.decimals(allow_nan=False)}
    ).map(lambda balance: [balance])
)
"""Field values that are often right for some field, so both paths often succeed."""


def valid_for(type_: Any) -> st.SearchStrategy[Any]:
    """Wire values a field of ``type_`` takes (and a few it may refuse)."""
    args = [arg for arg in get_args(type_) if arg is not type(None)]
    if len(args) == 1 and get_origin(type_) is not tuple:  # X | None
        return st.none() | valid_for(args[0])
    if get_origin(type_) is tuple:
        return st.lists(valid_for(args[0]), max_size=3)
    if isinstance(type_, type) and issubclass(type_, Enum):
        return st.sampled_from([*(str(member) for member in type_), "SOMETHING_NEW"])
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=8) | st.integers(),
        bool: st.booleans(),
        int: st.integers(),
        Decimal: st.decimals(allow_nan=False, allow_infinity=False) | st.integers(),
        datetime: st.sampled_from(["2026-12-02T15:34:47.964Z", "2022-08-25T12:47:28.200475"]),
    }
    if type_ in simple:
        return simple[type_]
    hints = get_type_hints(type_)
    return st.fixed_dictionaries(
        {},
        optional={
            _camel(field.name): valid_for(hints[field.name])
            for field in attrs.fields(type_)
            if field.name != "raw"
        },
    )


def shaped(model: type[Any], keys: list[str], fixture: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects of some of ``keys`` holding anything, or a real answer with a few changes."""
    keys = [*keys, "somethingNew"]
    anything = st.fixed_dictionaries({}, optional=dict.fromkeys(keys, likely_values))
    hints = get_type_hints(model)
    valid = {
        _camel(field.name): valid_for(hints[field.name])
        for field in attrs.fields(model)
        if field.name != "raw"
    }
    changes = st.dictionaries(
        st.sampled_from(keys),
        likely_values,
        max_size=2,
    ) | st.fixed_dictionaries({}, optional=valid)
    return anything | changes.map(lambda changed: {**read(fixture), **changed})


def fingerprint(value: Any) -> Any:
    """Everything that tells two results apart: types, digits, nested models (not raw)."""
    if attrs.has(type(value)):
        return (
            type(value),
            tuple(
                (field.name, fingerprint(getattr(value, field.name)))
                for field in attrs.fields(type(value))
                if field.name != "raw"
            ),
        )
    if isinstance(value, tuple):
        return tuple(fingerprint(item) for item in value)
    if isinstance(value, datetime):
        return (datetime, value.isoformat())
    return (type(value), repr(value))


def check_agrees(model: type[Any], data: dict[str, Any]) -> bool:
    """Whether the compiled path took ``data``; when it did, it must equal cattrs' result."""
    compiled = _compiled[model]
    assert compiled is not None
    try:
        fast = compiled(data)
    except Exception:
        return False  # structure() falls back to cattrs: nothing to compare
    slow = _converter.structure(data, model)
    assert fingerprint(fast) == fingerprint(slow)
    assert fast.raw is data
    return True


AGREEMENT = settings(max_examples=150, deadline=None, database=None)


@AGREEMENT
@given(shaped(Invoice, INVOICE_KEYS, "invoice_single_overpay.json"))
def test_compiled_invoice_agrees_with_cattrs(data: dict[str, Any]) -> None:
    """Whatever the compiled Invoice path accepts, cattrs reads the same way."""
    check_agrees(Invoice, data)


@AGREEMENT
@given(shaped(WebhookEvent, EVENT_KEYS, "webhook_event_pending_intervention.json"))
def test_compiled_event_agrees_with_cattrs(data: dict[str, Any]) -> None:
    """Whatever the compiled WebhookEvent path accepts, cattrs reads the same way."""
    check_agrees(WebhookEvent, data)


@AGREEMENT
@given(shaped(WebhookSubscription, SUBSCRIPTION_KEYS, "subscription.json"))
def test_compiled_subscription_agrees_with_cattrs(data: dict[str, Any]) -> None:
    """Whatever the compiled WebhookSubscription path accepts, cattrs reads the same way."""
    check_agrees(WebhookSubscription, data)


@AGREEMENT
@given(shaped(AccountBalances, ACCOUNT_KEYS, "account.json"))
def test_compiled_account_agrees_with_cattrs(data: dict[str, Any]) -> None:
    """Whatever the compiled AccountBalances path accepts, cattrs reads the same way."""
    check_agrees(AccountBalances, data)


@pytest.mark.parametrize(("name", "model"), FIXTURE_MODELS)
def test_every_fixture_takes_the_compiled_path(name: str, model: type[Any]) -> None:
    """Real answers never fall back to the slower cattrs path."""
    assert check_agrees(model, read(name))


def test_every_model_an_answer_is_read_as_has_a_compiled_path() -> None:
    """No top-level model silently loses the fast path (a field it cannot compile)."""
    assert {Invoice, WebhookSubscription, AccountBalances, WebhookEvent} <= set(_compiled)
    assert all(compiled is not None for compiled in _compiled.values())


def test_a_value_the_compiled_path_refuses_still_gets_cattrs_wording() -> None:
    """structure() falls back to cattrs, whose error names the field."""
    data = read("invoice_single_overpay.json")
    data["amount"] = "ten"
    with pytest.raises(Exception, match="amount"):
        structure(data, Invoice)


def test_money_keeps_every_digit_on_the_compiled_path() -> None:
    """A Decimal from the wire is kept as is; an integer amount becomes a Decimal."""
    data = {"id": "x", "type": "SINGLE", "currency": "USDT", "state": "PAID"}
    data |= {"fee": Decimal("0.000042026017236"), "amount": 3}
    invoice = _compiled[Invoice](data)  # type: ignore[misc]
    assert (repr(invoice.fee), repr(invoice.amount)) == (
        "Decimal('0.000042026017236')",
        "Decimal('3')",
    )
