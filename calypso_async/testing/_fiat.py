"""The fiat on-ramp paths the fake serves: orders from the invoice book, fixed geos and methods.

No state of its own. Where the Calypso docs are silent the fake chooses, and the tests
pin:

* A fiat order is what a ``SINGLE_FIAT`` invoice looks like from the on-ramp side:
  ``/api/v1/fiat/order`` finds the invoice by its ``idempotencyKey`` (the one given at
  creation, or the one the fake made) and answers ``invoiceId``, ``state`` (the
  invoice's own state string: ``PENDING_PAYMENT``, ``PAID``, ``COMPLETED``, ...),
  ``currency``, ``orderCryptoAmount`` (the invoice's ``amount``), ``fiatCurrency`` and
  ``orderFiatAmount`` (its ``fiatCurrency`` and ``fiatAmount``). Once a payment
  arrived: ``paymentCryptoAmount`` (the crypto received), ``paymentFiatAmount`` (that
  amount at the invoice's rate, rounded down to cents) and ``adjustment`` (paid minus
  ordered crypto, signed); all three are ``null`` before. An unknown key, or the key of
  an invoice of another type, is a 404 ``004``.
* Geos and methods come from :data:`FAKE_FIAT_GEOS` and :data:`FAKE_FIAT_METHODS`
  (made up, fixed). Both answers are objects holding the list under ``result``, as
  ``/api/v1/customer-purse/transaction/find`` does. ``/api/v1/fiat/geo`` ignores any
  payload.
* ``/api/v1/fiat/method`` needs ``currency`` (a code of ``FAKE_CURRENCIES``) and
  ``geoId`` (a geo's id, as a number or its digits as a string); either missing or
  unknown is a 400 ``001``. It answers the methods of the geo's fiat currency, and
  none (an empty list) when :data:`FAKE_FIAT_RATES` has no rate from that fiat
  currency to ``currency``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._errors import ErrorCode
from .._types import InvoiceType
from ._payloads import currency, payload, required_text
from ._records import FakeCalypsoError, bad_request

if TYPE_CHECKING:
    from ._engine import Engine
    from ._invoice import FakeInvoice

__all__ = ["FAKE_FIAT_GEOS", "FAKE_FIAT_METHODS", "FIAT_ROUTES", "fiat_order"]

FAKE_FIAT_GEOS: Sequence[Mapping[str, Any]] = (
    MappingProxyType({"id": 1, "code": "US", "name": "United States", "fiatCurrency": "USD"}),
    MappingProxyType({"id": 2, "code": "DE", "name": "Germany", "fiatCurrency": "EUR"}),
    MappingProxyType({"id": 3, "code": "FR", "name": "France", "fiatCurrency": "EUR"}),
)
"""The geos the fake's on-ramp serves, as it answers them (made up, fixed)."""

FAKE_FIAT_METHODS: Mapping[str, Sequence[Mapping[str, Any]]] = MappingProxyType(
    {
        "USD": (
            MappingProxyType(
                {
                    "id": "CARD_USD",
                    "name": "Card",
                    "fiatCurrency": "USD",
                    "minAmount": Decimal("20"),
                    "maxAmount": Decimal("5000"),
                }
            ),
            MappingProxyType(
                {
                    "id": "ACH",
                    "name": "Bank transfer (ACH)",
                    "fiatCurrency": "USD",
                    "minAmount": Decimal("50"),
                    "maxAmount": Decimal("25000"),
                }
            ),
        ),
        "EUR": (
            MappingProxyType(
                {
                    "id": "CARD_EUR",
                    "name": "Card",
                    "fiatCurrency": "EUR",
                    "minAmount": Decimal("20"),
                    "maxAmount": Decimal("5000"),
                }
            ),
            MappingProxyType(
                {
                    "id": "SEPA",
                    "name": "SEPA transfer",
                    "fiatCurrency": "EUR",
                    "minAmount": Decimal("30"),
                    "maxAmount": Decimal("20000.50"),
                }
            ),
        ),
    }
)
"""Fiat currency -> the payment methods of the geos paying in it, with their limits in
that currency (made up, fixed)."""

_CENT = Decimal("0.01")


def _not_found(message: str) -> FakeCalypsoError:
    return FakeCalypsoError(404, ErrorCode.NOT_FOUND, message)


def fiat_order(invoice: FakeInvoice, rates: Mapping[tuple[str, str], Decimal]) -> dict[str, Any]:
    """The on-ramp order of a ``SINGLE_FIAT`` invoice, as the fake answers it."""
    paid = invoice.paid if invoice.paid > 0 else None
    paid_fiat = adjustment = None
    if paid is not None:
        assert invoice.amount is not None
        adjustment = paid - invoice.amount
        rate = rates.get((invoice.fiat_currency or "", invoice.currency))
        if rate:
            paid_fiat = (paid / rate).quantize(_CENT, rounding=ROUND_DOWN)
    return {
        "invoiceId": invoice.id,
        "state": str(invoice.state),
        "currency": invoice.currency,
        "orderCryptoAmount": invoice.amount,
        "paymentCryptoAmount": paid,
        "fiatCurrency": invoice.fiat_currency,
        "orderFiatAmount": invoice.fiat_amount,
        "paymentFiatAmount": paid_fiat,
        "adjustment": adjustment,
    }


def _order(engine: Engine, body: Mapping[str, Any]) -> Any:
    key = required_text(payload(body), "idempotencyKey")
    try:
        invoice = engine.find_by_key(key)
    except FakeCalypsoError:
        raise _not_found(f"no fiat order with idempotencyKey {key}") from None
    if invoice.type is not InvoiceType.SINGLE_FIAT:
        raise _not_found(
            f"no fiat order with idempotencyKey {key}: its invoice is {invoice.type}, "
            "not SINGLE_FIAT"
        )
    return fiat_order(invoice, engine.book.fiat_rates)


def _geo(value: object) -> Mapping[str, Any]:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    for geo in FAKE_FIAT_GEOS:
        if not isinstance(value, bool) and geo["id"] == value:
            return geo
    known = ", ".join(str(geo["id"]) for geo in FAKE_FIAT_GEOS)
    raise bad_request(f"geoId {value!r} is not a geo the fake serves (it knows {known})")


def _methods(engine: Engine, body: Mapping[str, Any]) -> Any:
    request = payload(body)
    code = currency(request)
    if request.get("geoId") is None:
        raise bad_request("geoId is required")
    fiat = _geo(request["geoId"])["fiatCurrency"]
    if (fiat, code) not in engine.book.fiat_rates:
        return {"result": []}
    return {"result": [dict(method) for method in FAKE_FIAT_METHODS.get(fiat, ())]}


def _geos(engine: Engine, body: Mapping[str, Any]) -> Any:
    return {"result": [dict(geo) for geo in FAKE_FIAT_GEOS]}


FIAT_ROUTES: Mapping[str, Mapping[str, Any]] = {
    "/api/v1/fiat/order": {"POST": _order},
    "/api/v1/fiat/method": {"POST": _methods},
    "/api/v1/fiat/geo": {"POST": _geos},
}
"""Path -> HTTP method -> operation, for the fiat on-ramp paths."""
