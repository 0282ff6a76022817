"""The one currency table of the fake, and the one check every money field goes through.

Calypso's currency codes are case-sensitive upper-case strings (``USDT``, never
``usdt``); :data:`FAKE_CURRENCIES` holds every code of "Currencies seen" in
calypso-api.md. The ``scale`` of each (how many decimals an amount may carry) is the
fake's choice, plausible for the coin but not published by Calypso.

Every place the fake takes a currency or an amount (invoices of every type, payouts and
mass payouts, exchanges, customer deposit addresses, and the ``pay``, ``deposit``,
``fund`` and ``set_balance`` levers) calls :func:`check_money`, which refuses an
unknown currency, or an amount with more decimals than the currency's ``scale``, with a
400 and Calypso's published ``"001"`` (bad request). ``"014"`` (invalid hot wallet
currency) was the other candidate for an unknown currency; it speaks of the hot wallet
a payout is paid from, which the fake does not model, so the fake keeps ``"001"`` for
both. Trailing zeros do not count as decimals: ``1.5000000`` is ``1.5``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_UP, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from .._errors import ConfigurationError
from ._records import WrongType, bad_request

__all__ = ["FAKE_CURRENCIES", "check_money", "fit_scale", "lever_decimal", "scale"]

_ERC20 = {"frontName": "Ethereum", "type": "ERC20"}
_TRC20 = {"frontName": "Tron", "type": "TRC20"}
_BEP20 = {"frontName": "BNB Smart Chain", "type": "BEP20"}
_POLYGON = {"frontName": "Polygon", "type": "ERC20"}


def _currency(
    name: str, coin_id: str, scale: int, chain_scale: int, network: Mapping[str, str], **more: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "feeCurrencyName": more.get("fee", name),
        "coinId": coin_id,
        "networkData": dict(network),
        "scale": scale,
        "blockchainScale": chain_scale,
        "garbageAmount": Decimal(1).scaleb(-scale + 2),
        "crypto": True,
        "blockchainName": more.get("chain", network["frontName"].upper()),
        "contract": more.get("contract"),
        "enabled": True,
        "active": True,
    }


def _token(name: str, coin_id: str, scale: int, network: Mapping[str, str], fee: str) -> Any:
    return _currency(name, coin_id, scale, scale, network, fee=fee, contract=f"0x{name.lower()}")


FAKE_CURRENCIES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "BTC": _currency("BTC", "1", 8, 8, {"frontName": "Bitcoin", "type": "BTC"}),
        "ETH": _currency("ETH", "2", 18, 18, {"frontName": "Ethereum", "type": "ETH"}),
        "USDT": _currency(
            "USDT",
            "3",
            6,
            6,
            _ERC20,
            fee="ETH",
            contract="0xdac17f958d2ee523a2206206994597c13d831ec7",
        ),
        "USDC": _currency(
            "USDC",
            "4",
            6,
            6,
            _ERC20,
            fee="ETH",
            contract="0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
        ),
        "TRX": _currency("TRX", "5", 6, 6, {"frontName": "Tron", "type": "TRX"}),
        "USDT_TRX": _currency(
            "USDT_TRX", "6", 6, 6, _TRC20, fee="TRX", contract="TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
        ),
        "DAI": _token("DAI", "7", 18, _ERC20, "ETH"),
        "FRAX": _token("FRAX", "8", 18, _ERC20, "ETH"),
        "BUSD_ETH": _token("BUSD_ETH", "9", 18, _ERC20, "ETH"),
        "USDC_TRX": _token("USDC_TRX", "10", 6, _TRC20, "TRX"),
        "BNB": _currency("BNB", "11", 18, 18, {"frontName": "BNB Smart Chain", "type": "BNB"}),
        "BUSD": _token("BUSD", "12", 18, _BEP20, "BNB"),
        "USDT_BSC": _token("USDT_BSC", "13", 18, _BEP20, "BNB"),
        "MATIC": _currency("MATIC", "14", 18, 18, {"frontName": "Polygon", "type": "MATIC"}),
        "USDT_MATIC": _token("USDT_MATIC", "15", 6, _POLYGON, "MATIC"),
        "XDG": _currency("XDG", "16", 8, 8, {"frontName": "Dogecoin", "type": "XDG"}),
        "BTC_LNG": _currency(
            "BTC_LNG", "17", 8, 8, {"frontName": "Lightning", "type": "LN"}, fee="BTC"
        ),
    }
)
"""Every currency the fake knows, as Calypso's Currency objects (wire JSON, made up).

The codes are those of "Currencies seen" in the Calypso docs; each ``scale`` (the most
decimals an amount may carry) is the fake's choice.
"""


def scale(currency: str) -> int:
    """The most decimals an amount of ``currency`` (a code of the table) may carry."""
    return int(FAKE_CURRENCIES[currency]["scale"])


def _decimals(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # only finite amounts are measured
    return max(0, -exponent)


def fit_scale(currency: str, amount: Decimal) -> Decimal:
    """``amount``, rounded up to ``currency``'s scale when it has more decimals.

    What the fake computes itself (a fiat invoice's crypto amount) stays payable: rounded
    up, the payer's crypto covers the fiat price. An amount that fits is kept as it is.
    """
    most = scale(currency)
    if _decimals(amount) <= most:
        return amount
    return amount.quantize(Decimal(1).scaleb(-most), rounding=ROUND_UP)


def check_money(
    currency: object,
    amount: Decimal | None = None,
    *,
    field: str = "currency",
    amount_field: str = "amount",
) -> str:
    """Refuse an unknown currency, or an amount with more decimals than its ``scale``.

    Args:
        currency: The currency code as received (case-sensitive).
        amount: An amount of that currency, when there is one to check.
        field: The wire name of the currency, for the message.
        amount_field: The wire name of the amount, for the message.

    Returns:
        ``currency``, known to the table.

    Raises:
        FakeCalypsoError: 400 ``"001"``, naming the field.
    """
    if not isinstance(currency, str) or currency not in FAKE_CURRENCIES:
        raise bad_request(
            f"{field} {currency!r} is not a currency Calypso knows "
            f"(codes are case-sensitive: {', '.join(FAKE_CURRENCIES)})"
        )
    if amount is not None and amount.is_finite():
        most, decimals = scale(currency), _decimals(amount)
        if decimals > most:
            raise bad_request(
                f"{amount_field} {amount} has {decimals} decimals: {currency} takes at most {most}"
            )
    return currency


def lever_decimal(name: str, value: object) -> Decimal:
    """Read a number a test hands a lever: a ``Decimal``, ``str`` or ``int``, never a float.

    Raises:
        WrongType: ``value`` is a float, a bool or not a number type.
        ConfigurationError: ``value`` is a string that is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        raise WrongType(f"{name} must be a Decimal, str or int (never a float: money is exact)")
    try:
        return Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise ConfigurationError(f"{name} {value!r} is not a number") from None
