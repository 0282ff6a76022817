"""Payout models: published shapes, tolerant enums, required fields, exact money."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

from calypso_async import (
    DecodeError,
    MassPayout,
    Payout,
    PayoutState,
    SettlementPayout,
    Withdrawal,
    WithdrawalState,
)
from calypso_async._core.json import loads
from calypso_async._types.converter import make_converter, structure
from tests.conftest import load_fixture

FIXTURE_MODELS = [
    ("payout.json", Payout),
    ("settlement_payout.json", SettlementPayout),
    ("withdrawal.json", Withdrawal),
    ("mass_payout.json", MassPayout),
]


def read(name: str) -> Any:
    """A fixture decoded the way the session decodes answers (fractions as Decimal)."""
    return loads(load_fixture(name))


@pytest.mark.parametrize(("name", "model"), FIXTURE_MODELS)
def test_every_payout_fixture_reads_strictly_and_leniently(name: str, model: type[Any]) -> None:
    """Both converters read each shape alike: every wire field has a model field."""
    data = read(name)
    lenient = structure(data, model)
    assert make_converter(strict=True).structure(data, model) == lenient
    assert lenient.raw == data


def test_complete_payout_fixture_holds_every_model_field() -> None:
    """The payout fixture names every field, so the strict run checks them all."""
    wire = set(read("payout.json"))
    names = {f.name for f in attrs.fields(Payout)} - {"raw"}
    camel = {n.split("_")[0] + "".join(p.title() for p in n.split("_")[1:]) for n in names}
    assert wire == camel


def test_payout_reads_field_for_field() -> None:
    """Every published field lands on its snake_case name, nested structures included."""
    payout = structure(read("payout.json"), Payout)
    assert payout.state is PayoutState.FAILED
    assert payout.currency == "USDT"
    assert payout.deposit_address == "0x8f1b2c3d4e5f60718293a4b5c6d7e8f901234567"
    assert payout.created_date == datetime(2022, 8, 25, 12, 47, 28, 200475, tzinfo=UTC)
    assert payout.execution_date == datetime(2025, 7, 5, 22, 31, 9, 255000, tzinfo=UTC)
    assert payout.errors is not None
    (withdrawal,) = payout.errors.withdrawal_errors
    assert withdrawal.withdrawal_id == "w-1"
    (error,) = withdrawal.errors
    assert (error.id, error.status, error.error_resolved) == ("7", "ERROR", False)
    assert error.error_message == "insufficient hot wallet balance"
    assert payout.cancellation is not None
    assert payout.cancellation.cancel_message == "wrong address"
    assert payout.cancellation.canceled_by_lastname == "Lovelace"
    assert (payout.belonging_type, payout.external_id) == ("ACCOUNT", "payroll-42")


def test_payout_amounts_are_exact_decimals() -> None:
    """21 significant digits and a fee in 1e-15 survive as written."""
    payout = structure(read("payout.json"), Payout)
    assert payout.amount == Decimal("125.000000000000000001")
    assert payout.calypso_fee == Decimal("0.000042026017236")
    assert payout.calypso_fee_percentage == Decimal("0.5")


def test_settlement_payout_is_a_payout_with_its_fees() -> None:
    """A settlement payout adds the fee currencies and the network fee."""
    payout = structure(read("settlement_payout.json"), SettlementPayout)
    assert isinstance(payout, Payout)
    assert payout.calypso_fee_currency == "USDT_TRX"
    assert payout.blockchain_fee == Decimal("0.000000000000000001")
    assert payout.blockchain_fee_currency == "TRX"


def test_withdrawal_reads_with_its_draft_state_and_errors() -> None:
    """DRAFT is a known state; the errors read like a payout's withdrawalErrors."""
    withdrawal = structure(read("withdrawal.json"), Withdrawal)
    assert withdrawal.state is WithdrawalState.DRAFT
    assert withdrawal.company_name == "Acme"
    assert withdrawal.amount == Decimal("0.000042026017236")
    assert withdrawal.withdrawal_errors[0].errors == ()


def test_mass_payout_reads_each_recipients_result_from_payouts() -> None:
    """The recipients' results are read from `payouts` (the SDK's pinned assumption)."""
    mass = structure(read("mass_payout.json"), MassPayout)
    assert mass.state is PayoutState.PARTIAL
    assert [p.state for p in mass.payouts] == [PayoutState.COMPLETED, PayoutState.FAILED]
    assert mass.payouts[0].amount == Decimal("10.1")
    failed = mass.payouts[1]
    assert failed.errors is not None
    assert failed.errors.withdrawal_errors[0].errors[0].error_message == "invalid address"


@pytest.mark.parametrize("model", [Payout, MassPayout])
def test_unknown_payout_state_is_kept_not_refused(model: type[Any]) -> None:
    """A state the SDK does not know is an UNKNOWN member keeping the raw string."""
    obj = structure({"id": "p", "state": "ON_HOLD", "currency": "BTC"}, model)
    assert obj.state == "ON_HOLD"
    assert obj.state.name == "UNKNOWN"
    assert not obj.state.is_known


def test_unknown_withdrawal_state_is_kept() -> None:
    """Only DRAFT is published: any other state reads as UNKNOWN with its value."""
    withdrawal = structure({"id": "w", "state": "SENT", "currency": "ETH"}, Withdrawal)
    assert withdrawal.state == "SENT"
    assert not withdrawal.state.is_known


def test_every_published_payout_state_is_a_member() -> None:
    """The eight published states are known members."""
    published = [
        "CREATION_IN_PROGRESS",
        "PENDING_CONFIRMATION",
        "CONFIRMED",
        "IN_PROGRESS",
        "COMPLETED",
        "FAILED",
        "CANCELED",
        "PARTIAL",
    ]
    assert [PayoutState(value).is_known for value in published] == [True] * 8


@pytest.mark.parametrize("model", [Payout, SettlementPayout, MassPayout, Withdrawal])
@pytest.mark.parametrize("missing", ["id", "state", "currency"])
def test_an_answer_missing_a_required_field_is_a_decode_error(
    model: type[Any], missing: str
) -> None:
    """id, state and currency are on every answer: without one, DecodeError names it."""
    data = {"id": "p-1", "state": "CONFIRMED", "currency": "USDT"}
    del data[missing]
    with pytest.raises(DecodeError) as info:
        structure(data, model, path="/api/v1/payout")
    assert missing in str(info.value)
    assert info.value.path == "/api/v1/payout"


@pytest.mark.parametrize(
    ("model", "change"),
    [
        (Payout, {"state": None}),
        (Payout, {"amount": 1.5}),
        (Payout, {"errors": {"withdrawalErrors": "none"}}),
        (MassPayout, {"payouts": "p-1"}),
    ],
)
def test_a_malformed_payout_field_is_a_decode_error(
    model: type[Any], change: dict[str, Any]
) -> None:
    """A null state, a binary float amount or a string for a list is refused."""
    data = {"id": "p-1", "state": "CONFIRMED", "currency": "USDT", **change}
    with pytest.raises(DecodeError):
        structure(data, model)


def test_payout_models_are_frozen() -> None:
    """A payout read from the server cannot be changed by accident."""
    payout = structure({"id": "p", "state": "CONFIRMED", "currency": "USDT"}, Payout)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        payout.state = PayoutState.COMPLETED  # type: ignore[misc]
