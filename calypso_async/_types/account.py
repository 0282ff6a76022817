"""The merchant account and its balances."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from .base import model, raw_field

__all__ = ["AccountBalances", "Balance"]


@model
@attrs.frozen
class Balance:
    """How much of one currency the account holds."""

    currency: str
    amount: Decimal


@model
@attrs.frozen
class AccountBalances:
    """The merchant account and its balances (``/api/v1/account``)."""

    account: str | None = None
    name: str | None = None
    owner_id: str | None = None
    balances: tuple[Balance, ...] = ()
    raw: Mapping[str, Any] = raw_field()
