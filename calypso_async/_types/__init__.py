"""The types layer: attrs models and tolerant enums per domain, and the one converter.

Models are frozen attrs classes with money as ``Decimal``; :func:`structure` turns the
JSON of an answer or a webhook into them. Nothing here does I/O.
"""

from .account import AccountBalances, Balance
from .converter import structure, structure_leniently
from .invoice import (
    Autoconversion,
    InterventionType,
    Invoice,
    InvoicePayment,
    InvoiceState,
    InvoiceType,
)
from .payout import (
    MassPayout,
    Payout,
    PayoutCancellation,
    PayoutErrors,
    PayoutState,
    SettlementPayout,
    Withdrawal,
    WithdrawalError,
    WithdrawalErrorDetail,
    WithdrawalState,
)
from .webhook import (
    EventData,
    EventLevel,
    EventType,
    ServiceType,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "AccountBalances",
    "Autoconversion",
    "Balance",
    "EventData",
    "EventLevel",
    "EventType",
    "InterventionType",
    "Invoice",
    "InvoicePayment",
    "InvoiceState",
    "InvoiceType",
    "MassPayout",
    "Payout",
    "PayoutCancellation",
    "PayoutErrors",
    "PayoutState",
    "ServiceType",
    "SettlementPayout",
    "WebhookEvent",
    "WebhookSubscription",
    "Withdrawal",
    "WithdrawalError",
    "WithdrawalErrorDetail",
    "WithdrawalState",
    "structure",
    "structure_leniently",
]
