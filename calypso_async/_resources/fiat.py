"""``client.fiat``: the fiat on-ramp, where a payer buys an invoice's crypto with fiat."""

from __future__ import annotations

from typing import Any

from .._core import checks as check
from .._core.retry import Replay
from .._errors import ConfigurationError, DecodeError
from .._types import FiatGeo, FiatMethod, FiatOrder, structure
from .._types.fiat import find_items
from .base import Resource

__all__ = ["Fiat"]

_ORDER = "/api/v1/fiat/order"
_METHOD = "/api/v1/fiat/method"
_GEO = "/api/v1/fiat/geo"


def _geo_id(value: object) -> str | int:
    # Sent back with the JSON type the geo came with: an int stays a number.
    if isinstance(value, bool):
        raise ConfigurationError("geo_id must be a string or a non-negative integer, not a bool")
    if isinstance(value, int):
        if value < 0:
            raise ConfigurationError("geo_id must be a string or a non-negative integer")
        return value
    if isinstance(value, str):
        return check.identifier("geo_id", value)
    raise ConfigurationError(
        f"geo_id must be a string or a non-negative integer, not {type(value).__name__}"
    )


class Fiat(Resource):
    """Fiat on-ramp operations, reached as ``client.fiat``.

    Every call is a read (repeated freely after a lost answer); arguments are checked
    before anything is sent (``ConfigurationError``). Calypso publishes little of the
    on-ramp: see :class:`FiatOrder`, :class:`FiatMethod` and :class:`FiatGeo` for how
    each answer is read.
    """

    async def order(self, idempotency_key: str) -> FiatOrder:
        """Read the fiat order of the invoice created with ``idempotency_key``.

        The order is the on-ramp side of a single-fiat invoice: what the payer ordered
        and paid, in crypto and fiat. A read (it creates nothing), though its payload
        carries an ``idempotencyKey``: the key the invoice was created with
        (``invoice.idempotency_key``).

        Raises:
            ConfigurationError: The key is missing or malformed (nothing was sent).
            NotFoundError: No fiat order for that key.
        """
        payload = {"idempotencyKey": check.identifier("idempotency_key", idempotency_key)}
        return await self._read(_ORDER, payload, FiatOrder)

    async def methods(self, *, currency: str, geo_id: str | int) -> list[FiatMethod]:
        """Return the payment methods, with their limits, that buy ``currency`` in a geo.

        Args:
            currency: The crypto currency to buy, such as ``"USDT"``.
            geo_id: The geo's id, as :meth:`geos` gave it (``geo.id``): an ``int`` is
                sent as a JSON number, a ``str`` as a string.

        Returns:
            The methods (a new list on each call); each read as :class:`FiatMethod`
            says. The answer may be an array of them, or an object holding one
            (under ``methods``, ``paymentMethods``, ``result``, ``items``, ``data`` or
            ``content``, else its only array).

        Raises:
            ConfigurationError: An argument is missing or malformed.
            DecodeError: The answer holds no list of objects.
        """
        payload = {
            "currency": check.identifier("currency", currency),
            "geoId": _geo_id(geo_id),
        }
        return await self._list(_METHOD, payload, FiatMethod, "methods", "paymentMethods")

    async def geos(self) -> list[FiatGeo]:
        """Return the geos (countries or regions) the on-ramp serves.

        Calypso publishes neither the payload nor the answer: the call sends no
        payload, and the answer is read as :class:`FiatGeo` says: an array of geos,
        or an object holding one (under ``geos``, ``result``, ``items``, ``data`` or
        ``content``, else its only array).

        Raises:
            DecodeError: The answer holds no list of objects.
        """
        return await self._list(_GEO, None, FiatGeo, "geos")

    async def _list(
        self, path: str, payload: dict[str, Any] | None, model: type[Any], *names: str
    ) -> list[Any]:
        answer = await self._session.call(path, payload, retry=Replay.SAFE)
        items = find_items(answer, *names)
        if items is None:
            raise DecodeError(f"the answer holds no list of {model.__name__} objects", path=path)
        return [structure(item, model, path=path) for item in items]
