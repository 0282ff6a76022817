"""Exchanges between currencies on the account: currencies, quotes, limits, rates, exchanges.

Field names are the snake_case of the wire names. Fields every answer carries are
required (an answer without one is a ``DecodeError``); the others may be ``None``.
Where Calypso publishes no shape (the limits), the model keeps the answer on ``raw``
and reads it by a documented, tolerant rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from .base import TolerantEnum, lenient_decimal, model, raw_field

__all__ = [
    "Currency",
    "CurrencyPairs",
    "Exchange",
    "ExchangeLimit",
    "ExchangeQuote",
    "ExchangeRate",
    "ExchangeState",
    "NetworkData",
]


class ExchangeState(TolerantEnum):
    """Where an exchange is (``state``); ``COMPLETED`` and ``FAILED`` are final."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@model
@attrs.frozen
class NetworkData:
    """The network a currency lives on (``networkData``).

    Attributes:
        front_name: The network's display name, such as ``"Ethereum"``.
        type: The network's kind, as Calypso writes it (such as ``"ERC20"``).
    """

    front_name: str | None = None
    type: str | None = None
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class Currency:
    """A currency an exchange can buy (an item of ``currencyPairs``).

    Attributes:
        name: The Calypso currency code, such as ``"USDT"`` (a plain string: the list
            of currencies changes).
        fee_currency_name: The currency its network fees are paid in.
        coin_id: Calypso's id of the coin.
        network_data: The network it lives on.
        scale: Decimal places Calypso keeps for amounts of it.
        blockchain_scale: Decimal places of the blockchain's own unit.
        garbage_amount: Amounts below this are dust, not worth moving.
        crypto: Whether it is a crypto currency.
        blockchain_name: The blockchain's name.
        contract: The token contract address, for tokens.
        enabled: Whether Calypso has it switched on.
        active: Whether it can be used now.
        raw: The JSON object it was read from, unknown fields included.
    """

    name: str
    fee_currency_name: str | None = None
    coin_id: str | None = None
    network_data: NetworkData | None = None
    scale: int | None = None
    blockchain_scale: int | None = None
    garbage_amount: Decimal | None = None
    crypto: bool | None = None
    blockchain_name: str | None = None
    contract: str | None = None
    enabled: bool | None = None
    active: bool | None = None
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class CurrencyPairs:
    """The answer of ``/api/v1/exchange/pairs``: what each currency can be exchanged to.

    Attributes:
        currency_pairs: Source currency code -> the currencies it can be exchanged to.
    """

    currency_pairs: Mapping[str, tuple[Currency, ...]]
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class ExchangeQuote:
    """What an exchange would give, before making it (``/api/v1/exchange/pre-calculate``).

    Attributes:
        source_currency: The currency sold.
        destination_currency: The currency bought.
        amount: The amount the calculation gives, exactly as the server wrote it.
            Calypso's docs do not say which side it counts; ``FakeCalypso`` answers the
            amount of ``destination_currency`` the ``amount`` sent would buy.
        raw: The JSON object it was read from, unknown fields included.
    """

    source_currency: str
    destination_currency: str
    amount: Decimal
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class ExchangeRate:
    """The average rate of a pair (``/api/v1/exchange/average-rate``).

    Attributes:
        rate: Units of the destination currency per unit of the source currency.
        raw: The JSON object it was read from, unknown fields included.
    """

    rate: Decimal
    raw: Mapping[str, Any] = raw_field()


@model
@attrs.frozen
class ExchangeLimit:
    """The upper limits of a pair (``/api/v1/exchange/limit``), read tolerantly.

    Calypso documents the answer only as "limits per currency", not its shape, so the
    whole answer is kept on ``raw`` and :attr:`limits` reads it by one rule: every
    top-level entry whose value is a number (or a numeric string) is a limit, keyed as
    the server keyed it. ``FakeCalypso`` answers ``{"BTC": 5, "USDT": 300000, ...}``:
    currency code -> the largest amount of it one exchange may move. Anything else
    (nested objects, lists) stays on ``raw`` for you to read.

    Attributes:
        raw: The JSON object of the answer, as it came.
    """

    raw: Mapping[str, Any] = raw_field()

    @property
    def limits(self) -> dict[str, Decimal]:
        """The numeric top-level entries of the answer, as exact ``Decimal`` values."""
        found = {key: lenient_decimal(value) for key, value in self.raw.items()}
        return {key: value for key, value in found.items() if value is not None}

    def limit_for(self, currency: str) -> Decimal | None:
        """The limit the answer gives for ``currency``, or ``None`` if it gives none."""
        return self.limits.get(currency)


@model
@attrs.frozen
class Exchange:
    """An exchange between two currencies of the account (ExchangeDTO).

    Attributes:
        id: The exchange's id. A number on the wire, kept as an ``int``: ``get`` must
            send it back as a JSON number. An id that is not an integer is a
            ``DecodeError``.
        state: ``IN_PROGRESS``, then ``COMPLETED`` or ``FAILED``; an unknown state is an
            ``UNKNOWN`` member.
        source_currency: The currency sold.
        destination_currency: The currency bought.
        account: The merchant account.
        source_amount: The amount sold.
        destination_amount: The amount bought (may be ``None`` while in progress).
        created_date: When it was made (UTC).
        raw: The JSON object it was read from, unknown fields included.
    """

    id: int
    state: ExchangeState
    source_currency: str
    destination_currency: str
    account: str | None = None
    source_amount: Decimal | None = None
    destination_amount: Decimal | None = None
    created_date: datetime | None = None
    raw: Mapping[str, Any] = raw_field()
