"""Enums that never refuse a value: Calypso adds states and event types over time.

An unknown value becomes a member named ``UNKNOWN`` that keeps the raw string as its
value, so ``InvoiceState("NEW_STATE").value == "NEW_STATE"`` and a worker that meets a new
state logs it instead of crashing.
"""

from __future__ import annotations

import enum
from typing import Any

__all__ = [
    "EventLevel",
    "EventType",
    "InterventionType",
    "InvoiceState",
    "InvoiceType",
    "ServiceType",
]


class _TolerantEnum(enum.StrEnum):
    """A ``StrEnum`` whose unknown values become ``UNKNOWN`` members keeping the raw string."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        # A pseudo-member, deliberately not cached: input from the network must not be
        # able to grow the class without bound.
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """Whether this value is one the SDK was written for."""
        return self._name_ != "UNKNOWN"


class InvoiceState(_TolerantEnum):
    """Where an invoice is in its life (``state``). ``ARCHIVED`` is how expiry ends."""

    PENDING_PAYMENT = "PENDING_PAYMENT"
    MEM_POOL_FOUND = "MEM_POOL_FOUND"
    PENDING_COMPLIANCE_CHECK = "PENDING_COMPLIANCE_CHECK"
    DECLINED = "DECLINED"
    PAID = "PAID"
    PENDING_INTERVENTION = "PENDING_INTERVENTION"
    COMPLETED = "COMPLETED"
    ARCHIVED = "ARCHIVED"


class InvoiceType(_TolerantEnum):
    """The kind of invoice (``type``); only SINGLE and SINGLE_FIAT have interventions."""

    SINGLE = "SINGLE"
    SINGLE_FIAT = "SINGLE_FIAT"
    BOUND = "BOUND"
    UNLIMITED = "UNLIMITED"
    UNLIMITED_LINKED = "UNLIMITED_LINKED"


class InterventionType(_TolerantEnum):
    """Why an invoice waits for the merchant (``interventionType``).

    A payment from several sender addresses also causes an intervention; Calypso has not
    published its value, so it arrives as an ``UNKNOWN`` member.
    """

    OVERPAY = "OVERPAY"
    UNDERPAY = "UNDERPAY"


class EventType(_TolerantEnum):
    """A webhook event type (``eventType``), also used to subscribe."""

    INVOICE_CREATE_INVOICE = "INVOICE_CREATE_INVOICE"
    INVOICE_CREATE_UNLIMITED_INVOICE = "INVOICE_CREATE_UNLIMITED_INVOICE"
    INVOICE_FUNDS_RECEIVED_FOR_INVOICE = "INVOICE_FUNDS_RECEIVED_FOR_INVOICE"
    INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED = "INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED"
    INVOICE_PENDING_INTERVENTION = "INVOICE_PENDING_INTERVENTION"
    INVOICE_EXPIRED = "INVOICE_EXPIRED"
    INVOICE_PAID = "INVOICE_PAID"
    INVOICE_MEMPOOL_FOUND = "INVOICE_MEMPOOL_FOUND"
    INVOICE_PENDING_COMPLIANCE = "INVOICE_PENDING_COMPLIANCE"
    INVOICE_COMPLIANCE_DECLINED = "INVOICE_COMPLIANCE_DECLINED"
    PAYOUT_CHANGE_STATUS = "PAYOUT_CHANGE_STATUS"
    PAYOUT_CONFIRMED = "PAYOUT_CONFIRMED"
    PAYOUT_HASH_RECEIVED = "PAYOUT_HASH_RECEIVED"
    PAYOUT_VALIDATION_ERROR = "PAYOUT_VALIDATION_ERROR"


class ServiceType(_TolerantEnum):
    """A notification service (``service``, ``notificationServiceTypes``)."""

    INVOICE = "INVOICE"
    PAYOUT = "PAYOUT"
    RECURRENT = "RECURRENT"


class EventLevel(_TolerantEnum):
    """The severity Calypso gives a webhook event (``level``)."""

    SUCCESS = "SUCCESS"
    INFO = "INFO"
    WARNING = "WARNING"
