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
from .invoice import (
    Autoconversion,
    InterventionType,
    Invoice,
    InvoicePayment,
    InvoiceState,
    InvoiceType,
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
    "InterventionType",
    "Invoice",
    "InvoicePayment",
    "InvoiceState",
    "InvoiceType",
    "NetworkData",
    "ServiceType",
    "TransactionPage",
    "TransactionState",
    "WebhookEvent",
    "WebhookSubscription",
    "structure",
    "structure_leniently",
]
