"""The fake's invoice rules as pure functions: boundaries, transitions, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calypso_async import EventType, InterventionType, InvoiceState, InvoiceType
from calypso_async.testing import FakeCalypsoError
from calypso_async.testing._invoice import InvoiceDraft
from calypso_async.testing._rules import payment_outcome
from calypso_async.testing._state import InvoiceBook

NOW = datetime(2025, 7, 5, 22, 31, 9, 255000, tzinfo=UTC)
AMOUNT = Decimal("10.234")


def outcome(paid: str, *, tolerance: str = "0", amount: Decimal = AMOUNT) -> tuple[object, ...]:
    return payment_outcome(
        InvoiceType.SINGLE,
        paid=Decimal(paid),
        amount=amount,
        lower_bound=None,
        overpay_tolerance=Decimal(tolerance),
    )


@pytest.mark.parametrize(
    ("paid", "expected"),
    [
        ("10.00", (InvoiceState.PENDING_INTERVENTION, InterventionType.UNDERPAY)),
        ("10.18282", (InvoiceState.PENDING_INTERVENTION, InterventionType.UNDERPAY)),
        ("10.18283", (InvoiceState.PAID, None)),  # exactly 0.995 of 10.234
        ("10.23", (InvoiceState.PAID, None)),
        ("10.234", (InvoiceState.PAID, None)),
        ("10.2340000001", (InvoiceState.PENDING_INTERVENTION, InterventionType.OVERPAY)),
        ("10.50", (InvoiceState.PENDING_INTERVENTION, InterventionType.OVERPAY)),
    ],
)
def test_single_payment_rules_at_their_boundaries(paid: str, expected: tuple[object, ...]) -> None:
    """0.995 of the amount is the underpay line; anything above the amount is an overpay."""
    assert outcome(paid) == expected


def test_overpay_tolerance_accepts_up_to_the_fraction() -> None:
    """With a 1% tolerance, 10.33634 on 10.234 is exact and one unit more is an overpay."""
    assert outcome("10.33634", tolerance="0.01") == (InvoiceState.PAID, None)
    assert outcome("10.33635", tolerance="0.01") == (
        InvoiceState.PENDING_INTERVENTION,
        InterventionType.OVERPAY,
    )


def test_bound_invoice_is_paid_once_the_lower_bound_is_reached() -> None:
    """A bound invoice below its lower bound keeps waiting; at the bound it is paid."""

    def bound(paid: str) -> object:
        return payment_outcome(
            InvoiceType.BOUND,
            paid=Decimal(paid),
            amount=None,
            lower_bound=Decimal("5"),
            overpay_tolerance=Decimal(0),
        )

    assert bound("4.99") == (InvoiceState.PENDING_PAYMENT, None)
    assert bound("5") == (InvoiceState.PAID, None)
    assert bound("500") == (InvoiceState.PAID, None)


@given(
    amount=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10**9), places=8),
    ratio=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("1.5"), places=6),
)
def test_rules_classify_every_ratio_exactly(amount: Decimal, ratio: Decimal) -> None:
    """Whatever the amounts, the verdict follows paid/amount with no rounding slack."""
    paid = amount * ratio
    state, intervention = outcome(str(paid), amount=amount)
    if ratio < Decimal("0.995"):
        assert intervention is InterventionType.UNDERPAY
    elif ratio > 1:
        assert intervention is InterventionType.OVERPAY
    else:
        assert (state, intervention) == (InvoiceState.PAID, None)


def single(book: InvoiceBook, key: str | None = None) -> str:
    draft = InvoiceDraft(
        type=InvoiceType.SINGLE,
        currency="USDT",
        description="order",
        amount=AMOUNT,
        idempotency_key=key,
    )
    invoice, _ = book.create(draft, NOW)
    return invoice.id


def test_create_with_a_used_idempotency_key_returns_the_same_invoice() -> None:
    """A second create with the same key neither creates nor raises an event."""
    book = InvoiceBook()
    first = single(book, "key-1")
    draft = InvoiceDraft(type=InvoiceType.SINGLE, currency="USDT", description="x", amount=AMOUNT)
    again, events = book.create(attrs.evolve(draft, idempotency_key="key-1"), NOW)
    assert again.id == first
    assert events == []
    assert len(book.invoices) == 1


def test_intervention_walks_the_documented_path() -> None:
    """Underpay -> return-to-paid -> PAID -> COMPLETED -> close-intervention."""
    book = InvoiceBook()
    invoice_id = single(book)
    events = book.pay(invoice_id, Decimal("10.00"), NOW)
    assert [e.event_type for e in events] == [
        EventType.INVOICE_FUNDS_RECEIVED_FOR_INVOICE,
        EventType.INVOICE_PENDING_INTERVENTION,
    ]
    invoice = book.find(invoice_id)
    assert (invoice.intervention_type, invoice.intervention_resolved) == (
        InterventionType.UNDERPAY,
        False,
    )
    assert [e.event_type for e in book.return_to_paid(invoice_id, NOW)] == [EventType.INVOICE_PAID]
    assert invoice.state is InvoiceState.PAID
    assert invoice.intervention_resolved is False
    with pytest.raises(FakeCalypsoError, match="needs COMPLETED"):
        book.close_intervention(invoice_id)
    book.settle(invoice_id, NOW)
    assert book.close_intervention(invoice_id).intervention_resolved is True
    assert book.balances == {"USDT": Decimal("10.00")}


def test_a_fresh_invoice_reports_no_open_intervention() -> None:
    """No intervention yet: interventionType null and isInterventionResolved true."""
    book = InvoiceBook()
    wire = book.find(single(book)).to_wire()
    assert wire["interventionType"] is None
    assert wire["isInterventionResolved"] is True


@pytest.mark.parametrize("operation", ["return_to_paid", "close_intervention"])
def test_intervention_calls_on_a_pending_invoice_are_refused(operation: str) -> None:
    """Nothing to resolve on a PENDING_PAYMENT invoice: 400 with code 006."""
    book = InvoiceBook()
    invoice_id = single(book)
    call = getattr(book, operation)
    with pytest.raises(FakeCalypsoError) as caught:
        call(invoice_id, NOW) if operation == "return_to_paid" else call(invoice_id)
    assert (caught.value.status, caught.value.error_code) == (400, "006")


def fiat_draft(currency: str, fiat_amount: str, fiat_currency: str) -> InvoiceDraft:
    return InvoiceDraft(
        type=InvoiceType.SINGLE_FIAT,
        currency=currency,
        description="fiat",
        fiat_amount=Decimal(fiat_amount),
        fiat_currency=fiat_currency,
    )


def test_single_fiat_amount_comes_from_the_fixed_rate_table() -> None:
    """20 EUR in USDT at the fake's 1.08 rate is exactly 21.60."""
    book = InvoiceBook()
    invoice, _ = book.create(fiat_draft("USDT", "20.00", "EUR"), NOW)
    assert invoice.amount == Decimal("21.6000")


def test_a_single_fiat_amount_finer_than_the_scale_is_rounded_up_and_payable() -> None:
    """10.123 USD in BTC at 0.000016 is 0.000161968: BTC takes 8 decimals, so 0.00016197."""
    book = InvoiceBook()
    invoice, _ = book.create(fiat_draft("BTC", "10.123", "USD"), NOW)
    assert str(invoice.amount) == "0.00016197"
    book.pay(invoice.id, invoice.amount, NOW)
    assert invoice.state is InvoiceState.PAID


def test_wire_dates_use_both_published_forms() -> None:
    """createdDate ends in Z with milliseconds; expiration has no zone."""
    book = InvoiceBook()
    wire = book.find(single(book)).to_wire()
    assert wire["createdDate"] == "2025-07-05T22:31:09.255Z"
    assert wire["expiration"] == "2025-08-04T22:31:09.255000"
