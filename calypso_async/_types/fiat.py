"""The fiat on-ramp: a payer's fiat order, the payment methods and the geos they serve.

Calypso publishes the fields of an order, but neither the values of its ``state`` nor
the type of its ``adjustment``, and nothing of the shapes of payment methods and geos.
So: ``FiatOrder`` has typed fields for what is published (``invoiceId``, ``state`` and
``currency`` required, the amounts ``Decimal``), ``state`` as a plain string and a
tolerant ``adjustment``; ``FiatMethod`` and ``FiatGeo`` keep the whole object on ``raw`` and read
it by the documented rules of their properties, which never fail: a value of another
shape reads as ``None`` and stays on ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from .base import lenient_decimal, model, raw_field

__all__ = ["FiatGeo", "FiatMethod", "FiatOrder", "find_items"]


def _first(raw: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first of ``keys`` present and not null in ``raw``."""
    for key in keys:
        value = raw.get(key)
        if value is not None:
            return value
    return None


def _identity(value: Any) -> str | int | None:
    # Kept as it came: a geo's id is sent back as geoId, and must keep its JSON type.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bound(
    raw: Mapping[str, Any], flat: tuple[str, ...], nested: tuple[str, ...]
) -> Decimal | None:
    found = lenient_decimal(_first(raw, *flat))
    if found is not None:
        return found
    for holder in ("limits", "limit"):
        inner = raw.get(holder)
        if isinstance(inner, Mapping):
            found = lenient_decimal(_first(inner, *nested))
            if found is not None:
                return found
    return None


LIST_KEYS = ("result", "items", "data", "content")
"""Where :func:`find_items` looks first for the list in an object answer."""


def find_items(answer: Any, *names: str) -> list[Any] | None:
    """The list of an answer whose shape is unpublished, or ``None`` if there is none.

    The rule (pinned by the tests): an array answer is the list itself; in an object,
    the first array under one of ``names`` and then ``result``, ``items``, ``data``,
    ``content``; failing those, the object's only array-valued entry, if it has exactly
    one. Anything else (no array, or several under other keys) has no list.
    """
    if isinstance(answer, list):
        return answer
    if not isinstance(answer, Mapping):
        return None
    for key in (*names, *LIST_KEYS):
        value = answer.get(key)
        if isinstance(value, list):
            return value
    arrays = [value for value in answer.values() if isinstance(value, list)]
    return arrays[0] if len(arrays) == 1 else None


@model
@attrs.frozen
class FiatOrder:
    """A payer's fiat order for an invoice (``/api/v1/fiat/order``).

    The on-ramp side of an invoice: the payer buys its crypto with fiat. ``invoiceId``,
    ``state`` and ``currency`` are required (an answer without one is a
    ``DecodeError``); the amounts may be ``None`` (``FakeCalypso`` sends the payment
    amounts only once a payment arrived).

    Attributes:
        invoice_id: The id of the invoice the order pays.
        state: Where the order is, as a plain string kept exactly as sent. Calypso
            publishes no value of it, and an enum with no member cannot be built in
            Python, so there is no enum to be tolerant with; should values be
            published, a ``StrEnum`` would still compare equal to these strings.
            ``FakeCalypso`` answers the state of the order's invoice
            (``"PENDING_PAYMENT"``, ``"PAID"``, ``"COMPLETED"``, ...), its own choice.
        currency: The crypto currency of the invoice, such as ``"USDT"``.
        order_crypto_amount: The crypto amount ordered.
        payment_crypto_amount: The crypto amount paid.
        fiat_currency: The fiat currency, such as ``"EUR"`` (a plain string).
        order_fiat_amount: The fiat amount ordered.
        payment_fiat_amount: The fiat amount paid.
        raw: The JSON object it was read from, unknown fields included.
    """

    invoice_id: str
    state: str
    currency: str
    order_crypto_amount: Decimal | None = None
    payment_crypto_amount: Decimal | None = None
    fiat_currency: str | None = None
    order_fiat_amount: Decimal | None = None
    payment_fiat_amount: Decimal | None = None
    raw: Mapping[str, Any] = raw_field()

    @property
    def adjustment(self) -> Decimal | None:
        """``adjustment`` as a signed ``Decimal`` when it is a number; else ``None``.

        Calypso names the field but not its type or unit. It is read as an amount (a
        JSON number or a numeric string, of any sign) and anything else (an object, a
        boolean) reads as ``None`` without failing the order: the value stays on
        ``raw["adjustment"]``. ``FakeCalypso`` sends ``paymentCryptoAmount`` minus
        ``orderCryptoAmount`` once paid, ``null`` before.
        """
        return lenient_decimal(self.raw.get("adjustment"))


def _shown(model: object, *names: str) -> str:
    """A repr of what the properties read from ``raw``, so a printed list shows it."""
    fields = ", ".join(f"{name}={getattr(model, name)!r}" for name in names)
    return f"{type(model).__name__}({fields})"


@model
@attrs.frozen
class FiatMethod:
    """A fiat payment method of the on-ramp (an item of ``/api/v1/fiat/method``).

    Calypso publishes only "payment methods with limits", not their shape. The object
    is kept on ``raw`` and the properties read it by these rules, each ``None`` when
    the entry is absent or not of the expected kind (never an error):

    * ``id``: ``id``, else ``methodId`` (a string or an integer, as sent);
    * ``name``: ``name``, else ``title``;
    * ``fiat_currency``: ``fiatCurrency``, else ``currency``;
    * ``min_amount`` / ``max_amount``: ``minAmount`` / ``maxAmount``, else ``min`` /
      ``max``, else ``min`` / ``max`` (or ``minAmount`` / ``maxAmount``) of a nested
      ``limits`` (or ``limit``) object; a number or a numeric string.

    ``FakeCalypso`` answers ``{"id", "name", "fiatCurrency", "minAmount",
    "maxAmount"}``, the limits in the fiat currency.

    Attributes:
        raw: The JSON object of the method, as it came.
    """

    raw: Mapping[str, Any] = raw_field()

    def __repr__(self) -> str:
        return _shown(self, "id", "name", "fiat_currency", "min_amount", "max_amount")

    @property
    def id(self) -> str | int | None:
        """The method's id (``id``, else ``methodId``)."""
        return _identity(_first(self.raw, "id", "methodId"))

    @property
    def name(self) -> str | None:
        """The method's name (``name``, else ``title``)."""
        return _text(_first(self.raw, "name", "title"))

    @property
    def fiat_currency(self) -> str | None:
        """The currency of the limits (``fiatCurrency``, else ``currency``)."""
        return _text(_first(self.raw, "fiatCurrency", "currency"))

    @property
    def min_amount(self) -> Decimal | None:
        """The least amount one payment with this method may be."""
        return _bound(self.raw, ("minAmount", "min"), ("min", "minAmount"))

    @property
    def max_amount(self) -> Decimal | None:
        """The largest amount one payment with this method may be."""
        return _bound(self.raw, ("maxAmount", "max"), ("max", "maxAmount"))


@model
@attrs.frozen
class FiatGeo:
    """A geo (a country or region) the on-ramp serves (an item of ``/api/v1/fiat/geo``).

    Neither the payload nor the answer of ``/api/v1/fiat/geo`` is published. The object
    is kept on ``raw`` and read by these rules, each ``None`` when absent or not of the
    expected kind:

    * ``id``: ``id``, else ``geoId``, kept with its JSON type (string or integer):
      pass it as it is to ``client.fiat.methods(geo_id=...)``;
    * ``code``: ``code``, else ``countryCode``, else ``iso``;
    * ``name``: ``name``, else ``title``.

    ``FakeCalypso`` answers ``{"id": 1, "code": "US", "name": "United States",
    "fiatCurrency": "USD"}`` and the like (integer ids).

    Attributes:
        raw: The JSON object of the geo, as it came.
    """

    raw: Mapping[str, Any] = raw_field()

    def __repr__(self) -> str:
        return _shown(self, "id", "code", "name")

    @property
    def id(self) -> str | int | None:
        """The geo's id (``id``, else ``geoId``), as sent."""
        return _identity(_first(self.raw, "id", "geoId"))

    @property
    def code(self) -> str | None:
        """The geo's code (``code``, else ``countryCode``, else ``iso``)."""
        return _text(_first(self.raw, "code", "countryCode", "iso"))

    @property
    def name(self) -> str | None:
        """The geo's name (``name``, else ``title``)."""
        return _text(_first(self.raw, "name", "title"))
