"""The fake's exchange book: fixed rates and limits, and the exchanges made.

No I/O. Where the Calypso docs are silent the fake chooses, and the tests pin:

* Pairs, rates and limits come from :data:`FAKE_EXCHANGE_RATES` and
  :data:`FAKE_EXCHANGE_LIMITS` (made up, fixed); the currencies, with their ``scale``,
  from the fake's one table, ``FAKE_CURRENCIES`` (``_currencies.py``).
* pre-calculate answers the amount of the destination currency that ``amount`` of the
  source buys, rounded down to the destination's ``scale``; ``direction`` is accepted
  and ignored.
* The limit answer is ``{"<source>": limit, "<destination>": limit}``: per currency,
  the most one exchange may move.
* create debits the source balance at once and answers ``IN_PROGRESS``; completing
  credits the destination, failing refunds the source. Exchange ids count from 1.
* Refusals are 400 ``001`` (bad request): an unknown currency or an amount with more
  decimals than its ``scale`` (see ``_currencies.py``), an unknown pair, the same currency twice, an
  amount above the limit, or above the balance (there is no published code for an
  insufficient balance). An unknown exchange is 404 ``004``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import Any

import attrs

from .._types import ExchangeState
from ._currencies import FAKE_CURRENCIES, scale
from ._invoice import wire_date_naive
from ._records import bad_request, not_found

__all__ = ["FAKE_EXCHANGE_LIMITS", "FAKE_EXCHANGE_RATES", "ExchangeBook", "FakeExchange"]

FAKE_EXCHANGE_RATES: Mapping[tuple[str, str], Decimal] = MappingProxyType(
    {
        ("BTC", "USDT"): Decimal("60000"),
        ("USDT", "BTC"): Decimal("0.0000165"),
        ("ETH", "USDT"): Decimal("2500"),
        ("USDT", "ETH"): Decimal("0.000396"),
        ("BTC", "ETH"): Decimal("24"),
        ("ETH", "BTC"): Decimal("0.0412"),
        ("TRX", "USDT"): Decimal("0.12"),
        ("USDT", "TRX"): Decimal("8"),
        ("USDC", "USDT"): Decimal("0.999"),
        ("USDT", "USDC"): Decimal("0.999"),
        ("USDT_TRX", "USDT"): Decimal("0.998"),
        ("USDT", "USDT_TRX"): Decimal("0.998"),
    }
)
"""Units of the destination per unit of the source, keyed ``(source, destination)``:
made-up, fixed rates; the pairs the fake serves are exactly these keys."""

FAKE_EXCHANGE_LIMITS: Mapping[str, Decimal] = MappingProxyType(
    {
        "BTC": Decimal("5"),
        "ETH": Decimal("100"),
        "USDT": Decimal("300000"),
        "USDC": Decimal("300000"),
        "TRX": Decimal("2500000"),
        "USDT_TRX": Decimal("300000"),
    }
)
"""The most of each currency one exchange may move (made up, fixed)."""

_ZERO = Decimal(0)


@attrs.define
class FakeExchange:
    """One exchange the fake made."""

    id: int
    account: str
    source_currency: str
    source_amount: Decimal
    destination_currency: str
    destination_amount: Decimal
    created: datetime
    state: ExchangeState = ExchangeState.IN_PROGRESS

    def to_wire(self) -> dict[str, Any]:
        """The exchange as Calypso's JSON (camelCase, ``Decimal`` amounts)."""
        return {
            "id": self.id,
            "account": self.account,
            "sourceCurrency": self.source_currency,
            "sourceAmount": self.source_amount,
            "destinationCurrency": self.destination_currency,
            "destinationAmount": self.destination_amount,
            "state": str(self.state),
            "createdDate": wire_date_naive(self.created),
        }


class ExchangeBook:
    """The exchanges of the fake account, moving money in ``balances`` (shared).

    Args:
        account: The merchant account id written on each exchange.
        balances: The account's balances per currency (the invoice book's dict).
    """

    def __init__(self, *, account: str, balances: dict[str, Decimal]) -> None:
        self.account = account
        self.balances = balances
        self.exchanges: dict[int, FakeExchange] = {}
        self.delay: float | None = None
        """Seconds before an exchange completes by itself; ``None``: only by lever."""
        self.timers: set[asyncio.Task[None]] = set()
        """Pending completions by ``delay`` (held here so they are not collected)."""
        self._ids = itertools.count(1)

    def pairs(self) -> dict[str, list[dict[str, Any]]]:
        """``currencyPairs``: source code -> the Currency objects it can buy."""
        found: dict[str, list[dict[str, Any]]] = {}
        for source, destination in FAKE_EXCHANGE_RATES:
            found.setdefault(source, []).append(dict(FAKE_CURRENCIES[destination]))
        return found

    def rate(self, source: str, destination: str) -> Decimal:
        """The fixed rate of a pair, or a 400 ``001`` for a pair the fake does not serve."""
        if source == destination:
            raise bad_request("sourceCurrency and destinationCurrency must differ")
        try:
            return FAKE_EXCHANGE_RATES[source, destination]
        except KeyError:
            raise bad_request(f"no exchange from {source} to {destination}") from None

    def convert(self, source: str, destination: str, amount: Decimal) -> Decimal:
        """What ``amount`` of ``source`` buys, rounded down to the destination's scale."""
        exact = amount * self.rate(source, destination)
        return exact.quantize(Decimal(1).scaleb(-scale(destination)), rounding=ROUND_DOWN)

    def limits(self, source: str, destination: str) -> dict[str, Decimal]:
        """The limit answer: the most of each currency of the pair one exchange moves."""
        self.rate(source, destination)
        return {
            source: FAKE_EXCHANGE_LIMITS[source],
            destination: FAKE_EXCHANGE_LIMITS[destination],
        }

    def create(self, source: str, destination: str, amount: Decimal, now: datetime) -> FakeExchange:
        """Debit the source and record an ``IN_PROGRESS`` exchange, or refuse with a 400."""
        bought = self.convert(source, destination, amount)
        if amount > FAKE_EXCHANGE_LIMITS[source]:
            raise bad_request(
                f"amount {amount} {source} is above the limit of {FAKE_EXCHANGE_LIMITS[source]}"
            )
        available = self.balances.get(source, _ZERO)
        if amount > available:
            raise bad_request(f"insufficient {source} balance: {available} available")
        self.balances[source] = available - amount
        exchange = FakeExchange(
            id=next(self._ids),
            account=self.account,
            source_currency=source,
            source_amount=amount,
            destination_currency=destination,
            destination_amount=bought,
            created=now,
        )
        self.exchanges[exchange.id] = exchange
        return exchange

    def find(self, exchange_id: int) -> FakeExchange:
        """Return an exchange, or raise a 404 ``004``."""
        try:
            return self.exchanges[exchange_id]
        except KeyError:
            raise not_found(f"exchange {exchange_id} not found") from None

    def complete(self, exchange_id: int) -> FakeExchange:
        """``IN_PROGRESS`` -> ``COMPLETED``: the destination is credited."""
        exchange = self._in_progress(exchange_id)
        exchange.state = ExchangeState.COMPLETED
        currency = exchange.destination_currency
        self.balances[currency] = self.balances.get(currency, _ZERO) + exchange.destination_amount
        return exchange

    def fail(self, exchange_id: int) -> FakeExchange:
        """``IN_PROGRESS`` -> ``FAILED``: the source amount goes back to the balance."""
        exchange = self._in_progress(exchange_id)
        exchange.state = ExchangeState.FAILED
        currency = exchange.source_currency
        self.balances[currency] = self.balances.get(currency, _ZERO) + exchange.source_amount
        return exchange

    def _in_progress(self, exchange_id: int) -> FakeExchange:
        exchange = self.find(exchange_id)
        if exchange.state is not ExchangeState.IN_PROGRESS:
            raise bad_request(f"exchange {exchange_id} is {exchange.state}, not IN_PROGRESS")
        return exchange
