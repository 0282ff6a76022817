"""The exchange and customer-purse levers of ``FakeCalypso``: move the outside world.

Exchanges stay ``IN_PROGRESS`` until :meth:`ExchangeLevers.complete_exchange` or
:meth:`ExchangeLevers.fail_exchange` (or ``exchange_delay``, when set); deposits arrive
on a customer's address by :meth:`CustomerLevers.deposit`.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from .._errors import ConfigurationError
from ._currencies import check_money, lever_decimal
from ._engine import Engine  # at run time: get_type_hints(FakeCalypso) resolves _engine

__all__ = ["CustomerLevers", "ExchangeLevers"]


def _money(name: str, value: object, *, allow_zero: bool = False) -> Decimal:
    result = lever_decimal(name, value)
    if not result.is_finite() or result < 0 or (result == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be a finite amount above zero")
    return result


class ExchangeLevers:
    """Exchange levers of ``FakeCalypso``: balances to sell from, completing, failing.

    Pairs, rates and limits are fixed: ``FAKE_CURRENCIES``, ``FAKE_EXCHANGE_RATES`` and
    ``FAKE_EXCHANGE_LIMITS``. A create debits the source balance at once (an amount
    above it is a 400 ``001``); completing credits the destination, failing refunds.
    """

    _engine: Engine

    @property
    def exchange_delay(self) -> float | None:
        """Seconds after which a new exchange completes by itself.

        ``None`` (the default): only :meth:`complete_exchange` or :meth:`fail_exchange`
        end it.
        """
        return self._engine.exchanges.delay

    @exchange_delay.setter
    def exchange_delay(self, seconds: float | None) -> None:
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not math.isfinite(seconds)
            or seconds < 0
        ):
            raise ConfigurationError(
                "exchange_delay must be None or a number of seconds, 0 or more"
            )
        self._engine.exchanges.delay = None if seconds is None else float(seconds)

    def set_balance(self, currency: str, amount: Decimal | str | int) -> None:
        """Set the account's balance of ``currency`` (what exchanges sell from).

        Raises:
            ConfigurationError: ``amount`` is a float (also a ``TypeError``), negative,
                or not a number.
            FakeCalypsoError: ``currency`` is not one of ``FAKE_CURRENCIES`` (codes are
                case-sensitive), or ``amount`` has more decimals than its ``scale``
                (400 ``001``, as the API would answer).
        """
        value = _money("amount", amount, allow_zero=True)
        self._engine.book.balances[check_money(currency, value)] = value

    async def complete_exchange(self, exchange_id: int) -> dict[str, Any]:
        """Complete an ``IN_PROGRESS`` exchange: the destination amount is credited.

        Returns:
            The exchange's wire JSON, ``COMPLETED``.

        Raises:
            FakeCalypsoError: Unknown exchange (404 ``004``), or not ``IN_PROGRESS``.
        """
        self._engine.require_running()
        return self._engine.exchanges.complete(exchange_id).to_wire()

    async def fail_exchange(self, exchange_id: int) -> dict[str, Any]:
        """Fail an ``IN_PROGRESS`` exchange: the source amount goes back to the balance.

        Returns:
            The exchange's wire JSON, ``FAILED``.

        Raises:
            FakeCalypsoError: Unknown exchange (404 ``004``), or not ``IN_PROGRESS``.
        """
        self._engine.require_running()
        return self._engine.exchanges.fail(exchange_id).to_wire()

    def exchange(self, exchange_id: int) -> dict[str, Any]:
        """Return a snapshot of an exchange as its wire JSON.

        Raises:
            FakeCalypsoError: No such exchange (status 404).
        """
        return self._engine.exchanges.find(exchange_id).to_wire()

    @property
    def exchanges(self) -> list[dict[str, Any]]:
        """Snapshots of every exchange, oldest first."""
        return [exchange.to_wire() for exchange in self._engine.exchanges.exchanges.values()]


class CustomerLevers:
    """Customer-purse levers of ``FakeCalypso``: deposits arriving, and what was made."""

    _engine: Engine

    async def deposit(
        self,
        customer_id: str,
        currency: str,
        amount: Decimal | str | int,
        *,
        state: str = "MEM_POOL_FOUND",
        compliance_state: str = "UNCHECKED",
    ) -> dict[str, Any]:
        """Simulate a deposit of ``amount`` to the customer's ``currency`` address.

        The account is credited at once (a simplification: Calypso's own timing is
        not published). ``state`` and ``compliance_state`` are written as given, so a
        test can make transactions in states Calypso has not published.

        Returns:
            The transaction's wire JSON.

        Raises:
            FakeCalypsoError: Unknown customer (404 ``004``); unknown currency, or an
                ``amount`` with more decimals than its ``scale`` (400 ``001``).
            ConfigurationError: ``amount`` is a float (also a ``TypeError``), not
                positive, or not a number.
        """
        self._engine.require_running()
        value = _money("amount", amount)
        transaction = self._engine.customers.deposit(
            customer_id,
            currency,
            value,
            self._engine.utcnow(),
            state=state,
            compliance_state=compliance_state,
        )
        return transaction.to_wire()

    @property
    def customers(self) -> list[dict[str, Any]]:
        """Every customer as its wire JSON, oldest first."""
        return [dict(customer) for customer in self._engine.customers.customers.values()]

    @property
    def customer_transactions(self) -> list[dict[str, Any]]:
        """Every deposit as its wire JSON, oldest first."""
        return [tx.to_wire() for tx in self._engine.customers.transactions.values()]
