"""The types layer: attrs models and tolerant enums per domain, and the one converter.

Models are frozen attrs classes with money as ``Decimal``; :func:`structure` turns the
JSON of an answer or a webhook into them. Nothing here does I/O.
"""

from .account import AccountBalances, Balance
from .converter import structure, structure_leniently
from .customer import (
    ComplianceState,
    Customer,
    CustomerTransaction,
    DepositAddress,
    TransactionPage,
    TransactionState,
)
from .exchange import (
    Currency,
    CurrencyPairs,
    Exchange,
    ExchangeLimit,
    ExchangeQuote,
    ExchangeRate,
    ExchangeState,
    NetworkData,
)
from .fiat import FiatGeo, FiatMethod, FiatOrder
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
    "ComplianceState",
    "Currency",
    "CurrencyPairs",
    "Customer",
    "CustomerTransaction",
    "DepositAddress",
    "EventData",
    "EventLevel",
    "EventType",
    "Exchange",
    "ExchangeLimit",
    "ExchangeQuote",
    "ExchangeRate",
    "ExchangeState",
    "FiatGeo",
    "FiatMethod",
    "FiatOrder",
    "InterventionType",
    "Invoice",
    "InvoicePayment",
    "InvoiceState",
    "InvoiceType",
    "MassPayout",
    "NetworkData",
    "Payout",
    "PayoutCancellation",
    "PayoutErrors",
    "PayoutState",
    "ServiceType",
    "SettlementPayout",
    "TransactionPage",
    "TransactionState",
    "WebhookEvent",
    "WebhookSubscription",
    "Withdrawal",
    "WithdrawalError",
    "WithdrawalErrorDetail",
    "WithdrawalState",
    "structure",
    "structure_leniently",
]
