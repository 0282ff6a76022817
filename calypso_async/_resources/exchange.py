"""``client.exchange``: converting money between currencies of the account."""

from __future__ import annotations

from decimal import Decimal

from .._core import checks as check
from .._errors import ConfigurationError
from .._types import (
    Currency,
    CurrencyPairs,
    Exchange,
    ExchangeLimit,
    ExchangeQuote,
    ExchangeRate,
)
from .base import Resource, compact

__all__ = ["Exchanges"]

_PAIRS = "/api/v1/exchange/pairs"
_PRE_CALCULATE = "/api/v1/exchange/pre-calculate"
_LIMIT = "/api/v1/exchange/limit"
_AVERAGE_RATE = "/api/v1/exchange/average-rate"
_CREATE = "/api/v1/exchange/create"
_GET = "/api/v1/exchange/get"


def _pair(source_currency: object, destination_currency: object) -> dict[str, str]:
    source = check.identifier("source_currency", source_currency)
    destination = check.identifier("destination_currency", destination_currency)
    if source == destination:
        raise ConfigurationError("source_currency and destination_currency must differ")
    return {"sourceCurrency": source, "destinationCurrency": destination}


def _exchange_id(value: object) -> int:
    # A number on the wire: a numeric string (read from a log, a shell) is taken too.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError("exchange_id must be a non-negative integer")
    return value


class Exchanges(Resource):
    """Exchange operations, reached as ``client.exchange``.

    Amounts are ``Decimal`` (or ``int``, or a numeric ``str``), never ``float``; every
    argument is checked before anything is sent (``ConfigurationError``).
    """

    async def pairs(self) -> dict[str, list[Currency]]:
        """Return what each currency can be exchanged to.

        Returns:
            Source currency code -> the currencies it can be bought with, as Calypso
            lists them (a new dict on each call).
        """
        answer = await self._read(_PAIRS, None, CurrencyPairs)
        return {name: list(currencies) for name, currencies in answer.currency_pairs.items()}

    async def pre_calculate(
        self,
        *,
        source_currency: str,
        destination_currency: str,
        amount: Decimal | int | str,
        direction: str | None = None,
    ) -> ExchangeQuote:
        """Compute what an exchange would give, without making it.

        Args:
            source_currency: The currency to sell.
            destination_currency: The currency to buy.
            amount: The amount to calculate with.
            direction: Sent as ``direction`` when given. A newer Calypso schema requires
                it but publishes none of its values, so it is passed through as written
                (left out when ``None``).

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent).
            BadRequestError: Calypso refused the pair or the amount.
        """
        payload = {
            **_pair(source_currency, destination_currency),
            "amount": check.amount("amount", amount),
            "direction": check.optional_identifier("direction", direction),
        }
        return await self._read(_PRE_CALCULATE, compact(payload), ExchangeQuote)

    async def limit(self, *, source_currency: str, destination_currency: str) -> ExchangeLimit:
        """Return the upper limits of exchanging ``source_currency`` to ``destination_currency``.

        Calypso does not publish the answer's shape: see :class:`ExchangeLimit` for how
        it is read (``limits``, ``limit_for(currency)``, and ``raw``).

        Raises:
            ConfigurationError: A currency is missing or malformed, or both are the same.
        """
        payload = _pair(source_currency, destination_currency)
        return await self._read(_LIMIT, payload, ExchangeLimit)

    async def average_rate(
        self, *, source_currency: str, destination_currency: str
    ) -> ExchangeRate:
        """Return the average rate: units of ``destination_currency`` per ``source_currency``.

        Raises:
            ConfigurationError: A currency is missing or malformed, or both are the same.
        """
        payload = _pair(source_currency, destination_currency)
        return await self._read(_AVERAGE_RATE, payload, ExchangeRate)

    async def create(
        self, *, source_currency: str, destination_currency: str, amount: Decimal | int | str
    ) -> Exchange:
        """Sell ``amount`` of ``source_currency`` for ``destination_currency``.

        The call carries no idempotency key (Calypso documents none), so it is never
        sent twice once it may have reached the server: a lost answer is not retried.

        After a :class:`CalypsoConnectionError`, :class:`CalypsoTimeoutError` or 5xx the
        exchange may or may not have been made, and Calypso publishes no way to list
        exchanges. Do not simply call ``create`` again: read ``client.account.balances()``
        and compare the ``source_currency`` balance with the one you read before (a
        debit means it was made), or settle it by hand. When ``error.request_sent`` is
        ``False`` the request never left, and creating again is safe.

        Args:
            source_currency: The currency sold.
            destination_currency: The currency bought.
            amount: How much of ``source_currency`` to sell.

        Returns:
            The exchange, usually ``IN_PROGRESS``; read it again with :meth:`get`.

        Raises:
            ConfigurationError: An argument is invalid (nothing was sent).
            BadRequestError: Calypso refused it (the balance or the limit too low, an
                unknown pair).
        """
        payload = {
            **_pair(source_currency, destination_currency),
            "amount": check.amount("amount", amount),
        }
        return await self._write(_CREATE, payload, Exchange)

    async def get(self, exchange_id: int | str) -> Exchange:
        """Read one exchange by its id.

        Args:
            exchange_id: The exchange's id (a number; a string of digits is taken too).

        Raises:
            ConfigurationError: The id is not a non-negative integer.
            NotFoundError: No such exchange.
        """
        return await self._read(_GET, {"id": _exchange_id(exchange_id)}, Exchange)
