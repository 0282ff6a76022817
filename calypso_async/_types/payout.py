"""Payouts: single and mass payouts, settlement payouts, withdrawals and their states.

Field names are the snake_case of the wire names. ``id``, ``state`` and ``currency``
are on every payout answer and are required: an answer without one raises
``DecodeError``. Every other field may be absent (``None``); unknown fields are
ignored and each model keeps the JSON it came from on ``raw``.

Where the Calypso docs are silent, these models read tolerantly (pinned by tests):

* A mass payout's list of recipients has no published name: the SDK sends it as
  ``payouts`` (items ``{depositAddress, amount}``) and reads the per-recipient results
  from ``payouts`` too, each one a :class:`Payout`.
* A withdrawal's ``withdrawalErrors`` is read with the structure a payout's
  ``errors.withdrawalErrors`` has (``[{withdrawalId, errors: [...]}]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from .base import TolerantEnum, model, raw_field

__all__ = [
    "MassPayout",
    "Payout",
    "PayoutCancellation",
    "PayoutErrors",
    "PayoutState",
    "SettlementPayout",
    "Withdrawal",
    "WithdrawalError",
    "WithdrawalErrorDetail",
    "WithdrawalState",
]


class PayoutState(TolerantEnum):
    """Where a payout (single or mass) is in its life (``state``).

    A payout created through the API starts ``CONFIRMED``; a mass payout may first go
    through ``CREATION_IN_PROGRESS`` and ``PENDING_CONFIRMATION``.
    """

    CREATION_IN_PROGRESS = "CREATION_IN_PROGRESS"
    PENDING_CONFIRMATION = "PENDING_CONFIRMATION"
    CONFIRMED = "CONFIRMED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    PARTIAL = "PARTIAL"


class WithdrawalState(TolerantEnum):
    """A withdrawal's ``state``: ``DRAFT`` is the only published value; others are ``UNKNOWN``."""

    DRAFT = "DRAFT"


@model
@attrs.frozen
class WithdrawalErrorDetail:
    """One error of a withdrawal (items of ``errors`` in ``withdrawalErrors``).

    Attributes:
        id: The error's id.
        status: The error's status, as Calypso writes it.
        error_resolved: Whether the error was resolved since.
        error_message: What went wrong.
    """

    id: str | None = None
    status: str | None = None
    error_resolved: bool | None = None
    error_message: str | None = None
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class WithdrawalError:
    """The errors of one withdrawal of a payout (items of ``withdrawalErrors``).

    Attributes:
        withdrawal_id: The withdrawal the errors belong to.
        errors: Its errors, oldest first as sent.
    """

    withdrawal_id: str | None = None
    errors: tuple[WithdrawalErrorDetail, ...] = ()
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class PayoutErrors:
    """A payout's ``errors``: ``{withdrawalErrors: [...]}``.

    Attributes:
        withdrawal_errors: The errors, per withdrawal.
    """

    withdrawal_errors: tuple[WithdrawalError, ...] = ()
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class PayoutCancellation:
    """Who canceled a payout, and why (``cancellation``).

    Attributes:
        canceled_by_user_id: The id of the user who canceled it.
        canceled_by_firstname: Their first name.
        canceled_by_lastname: Their last name.
        cancel_message: The reason they gave.
    """

    canceled_by_user_id: str | None = None
    canceled_by_firstname: str | None = None
    canceled_by_lastname: str | None = None
    cancel_message: str | None = None
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class Payout:
    """A payout from the merchant account to an address, as Calypso reports it.

    Attributes:
        id: The payout's system id.
        state: Where the payout is; an unknown state is an ``UNKNOWN`` member.
        currency: The currency paid out, such as ``"USDT"``.
        account: The merchant account it is paid from.
        deposit_address: Where the money goes (on the currency's chain).
        amount: The amount paid out, exactly as the server wrote it.
        calypso_fee: Calypso's fee.
        calypso_fee_percentage: Calypso's fee as a percentage.
        created_date: When it was created (UTC).
        transaction_hash: The blockchain transaction, once sent.
        comment: The comment given at creation.
        execution_date: When it was carried out (UTC).
        idempotency_key: The key it was created with.
        errors: What went wrong, per withdrawal.
        cancellation: Who canceled it and why, for a canceled payout.
        belonging_type: What the payout belongs to, as Calypso writes it.
        external_id: Your own reference given at creation.
        raw: The JSON object the payout was read from, unknown fields included.
    """

    id: str
    state: PayoutState
    currency: str
    account: str | None = None
    deposit_address: str | None = None
    amount: Decimal | None = None
    calypso_fee: Decimal | None = None
    calypso_fee_percentage: Decimal | None = None
    created_date: datetime | None = None
    transaction_hash: str | None = None
    comment: str | None = None
    execution_date: datetime | None = None
    idempotency_key: str | None = None
    errors: PayoutErrors | None = None
    cancellation: PayoutCancellation | None = None
    belonging_type: str | None = None
    external_id: str | None = None
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class SettlementPayout(Payout):
    """A settlement payout (``/api/v1/settlement/payout``): a :class:`Payout` with its fees.

    Attributes:
        calypso_fee_currency: The currency Calypso's fee is taken in.
        blockchain_fee: The network fee.
        blockchain_fee_currency: The currency of the network fee.
    """

    calypso_fee_currency: str | None = None
    blockchain_fee: Decimal | None = None
    blockchain_fee_currency: str | None = None


@model
@attrs.frozen
class Withdrawal:
    """A withdrawal: one transfer a payout is carried out by.

    Attributes:
        id: The withdrawal's id.
        state: Its state (``DRAFT`` is the only published value; others are ``UNKNOWN``).
        currency: The currency withdrawn.
        account: The merchant account.
        company_name: The merchant's company name.
        amount: The amount, exactly as the server wrote it.
        calypso_fee: Calypso's fee.
        transaction_hash: The blockchain transaction, once sent.
        deposit_address: Where the money goes.
        comment: The payout's comment.
        created_date: When it was created (UTC).
        withdrawal_errors: What went wrong (read like a payout's
            ``errors.withdrawalErrors``; the docs do not publish this shape).
        raw: The JSON object it was read from, unknown fields included.
    """

    id: str
    state: WithdrawalState
    currency: str
    account: str | None = None
    company_name: str | None = None
    amount: Decimal | None = None
    calypso_fee: Decimal | None = None
    transaction_hash: str | None = None
    deposit_address: str | None = None
    comment: str | None = None
    created_date: datetime | None = None
    withdrawal_errors: tuple[WithdrawalError, ...] = ()
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class MassPayout:
    """A mass payout: one currency to many addresses, with a result per recipient.

    The docs publish the request's ``currency``, ``name``, ``comment`` and
    ``idempotencyKey`` but not the name of its recipient list: the SDK sends it as
    ``payouts`` and reads each recipient's result from ``payouts`` (an assumption).

    Attributes:
        id: The mass payout's id.
        state: Its state: ``PARTIAL`` when some recipients failed.
        currency: The currency paid out.
        account: The merchant account.
        name: The name given at creation.
        comment: The comment given at creation.
        idempotency_key: The key it was created with.
        created_date: When it was created (UTC).
        execution_date: When it was carried out (UTC).
        payouts: One payout per recipient, with its own state and errors.
        raw: The JSON object it was read from, unknown fields included.
    """

    id: str
    state: PayoutState
    currency: str
    account: str | None = None
    name: str | None = None
    comment: str | None = None
    idempotency_key: str | None = None
    created_date: datetime | None = None
    execution_date: datetime | None = None
    payouts: tuple[Payout, ...] = ()
    raw: Mapping[str, Any] = raw_field()
