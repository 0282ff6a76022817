"""Calypso's payment rules, and the fixed rates the fake prices fiat invoices with."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from .._types import InterventionType, InvoiceState, InvoiceType

__all__ = ["FAKE_FIAT_RATES", "UNDERPAY_THRESHOLD", "payment_outcome"]

UNDERPAY_THRESHOLD = Decimal("0.995")
"""Below this fraction of the amount a payment is an underpay (Calypso's fixed rule)."""

FAKE_FIAT_RATES: Mapping[tuple[str, str], Decimal] = MappingProxyType(
    {
        ("USD", "USDT"): Decimal("1"),
        ("USD", "USDC"): Decimal("1"),
        ("USD", "DAI"): Decimal("1"),
        ("USD", "ETH"): Decimal("0.0004"),
        ("USD", "BTC"): Decimal("0.000016"),
        ("USD", "TRX"): Decimal("8"),
        ("EUR", "USDT"): Decimal("1.08"),
        ("EUR", "USDC"): Decimal("1.08"),
        ("EUR", "ETH"): Decimal("0.000432"),
        ("EUR", "BTC"): Decimal("0.00001728"),
    }
)
"""Crypto units per one fiat unit, keyed ``(fiatCurrency, currency)``: made-up, fixed
rates for ``single-fiat`` invoices, so that amounts in tests are predictable."""


def payment_outcome(
    invoice_type: InvoiceType,
    *,
    paid: Decimal,
    amount: Decimal | None,
    lower_bound: Decimal | None,
    overpay_tolerance: Decimal,
) -> tuple[InvoiceState, InterventionType | None]:
    """Apply Calypso's payment rules to the total paid into an invoice.

    SINGLE and SINGLE_FIAT: below ``0.995`` of the amount is an underpay, above
    ``amount * (1 + overpay_tolerance)`` an overpay (both ``PENDING_INTERVENTION``);
    anything between is ``PAID``. BOUND: ``PAID`` once ``lower_bound`` is reached, else
    still ``PENDING_PAYMENT``. UNLIMITED (and anything else): every payment is ``PAID``.

    Returns:
        The new state, and the intervention type when one is opened.
    """
    if invoice_type in (InvoiceType.SINGLE, InvoiceType.SINGLE_FIAT) and amount is not None:
        # Multiplying keeps the comparison exact; paid / amount could round.
        if paid < amount * UNDERPAY_THRESHOLD:
            return InvoiceState.PENDING_INTERVENTION, InterventionType.UNDERPAY
        if paid > amount * (1 + overpay_tolerance):
            return InvoiceState.PENDING_INTERVENTION, InterventionType.OVERPAY
        return InvoiceState.PAID, None
    if invoice_type is InvoiceType.BOUND and lower_bound is not None and paid < lower_bound:
        return InvoiceState.PENDING_PAYMENT, None
    return InvoiceState.PAID, None
