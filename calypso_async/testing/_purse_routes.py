"""The exchange and customer-purse operations the fake serves, with their payload readers.

Payloads are read by ``_payloads.py``. Every refusal carries a published code: 400
``001`` names the bad field (an unknown currency, or an amount with more decimals than
its ``scale``, included), 404 ``004`` an unknown exchange, customer or transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._types import ExchangeState
from ._customers import apply_filter
from ._payloads import amount, currency, payload, required_text, text
from ._records import bad_request

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["PURSE_ROUTES"]


def _integer(request: Mapping[str, Any], name: str, default: int, least: int, most: int) -> int:
    value = request.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise bad_request(f"{name} must be an integer from {least} to {most}")
    return value


def _pair(body: Mapping[str, Any]) -> tuple[str, str]:
    request = payload(body)
    return currency(request, "sourceCurrency"), currency(request, "destinationCurrency")


# -- exchange ---------------------------------------------------------------------------


def _pairs(engine: Engine, body: Mapping[str, Any]) -> Any:
    return {"currencyPairs": engine.exchanges.pairs()}


def _pre_calculate(engine: Engine, body: Mapping[str, Any]) -> Any:
    source, destination = _pair(body)
    text(payload(body), "direction", required=False)  # accepted, values unpublished
    bought = engine.exchanges.convert(source, destination, amount(payload(body), "amount", source))
    return {"sourceCurrency": source, "destinationCurrency": destination, "amount": bought}


def _limit(engine: Engine, body: Mapping[str, Any]) -> Any:
    return engine.exchanges.limits(*_pair(body))


def _average_rate(engine: Engine, body: Mapping[str, Any]) -> Any:
    return {"rate": engine.exchanges.rate(*_pair(body))}


def _create_exchange(engine: Engine, body: Mapping[str, Any]) -> Any:
    source, destination = _pair(body)
    exchange = engine.exchanges.create(
        source, destination, amount(payload(body), "amount", source), engine.utcnow()
    )
    delay = engine.exchanges.delay
    if delay is not None and engine.running:
        task = asyncio.create_task(_complete_later(engine, exchange.id, delay))
        engine.exchanges.timers.add(task)
        task.add_done_callback(engine.exchanges.timers.discard)
    return exchange.to_wire()


async def _complete_later(engine: Engine, exchange_id: int, delay: float) -> None:
    await engine.pause(delay)  # wakes early when the fake closes
    exchange = engine.exchanges.find(exchange_id)
    if engine.running and exchange.state is ExchangeState.IN_PROGRESS:
        engine.exchanges.complete(exchange_id)


def _get_exchange(engine: Engine, body: Mapping[str, Any]) -> Any:
    exchange_id = payload(body).get("id")
    if isinstance(exchange_id, bool) or not isinstance(exchange_id, int):
        raise bad_request("id is required and must be a number")
    return engine.exchanges.find(exchange_id).to_wire()


# -- customer purses --------------------------------------------------------------------


def _create_customer(engine: Engine, body: Mapping[str, Any]) -> Any:
    request = payload(body)
    return engine.customers.create(
        text(request, "email", required=False), text(request, "description", required=False)
    )


def _update_customer(engine: Engine, body: Mapping[str, Any]) -> Any:
    request = payload(body)
    changes = {
        "email": text(request, "email", required=False),
        "description": text(request, "description", required=False),
    }
    return engine.customers.update(required_text(request, "id"), changes)


def _address(engine: Engine, body: Mapping[str, Any]) -> Any:
    request = payload(body)
    customer_id, code = required_text(request, "customerId"), currency(request)
    return {"address": engine.customers.address(customer_id, code)}


def _transaction(engine: Engine, body: Mapping[str, Any]) -> Any:
    transaction_id = required_text(payload(body), "transactionId")
    return engine.customers.transaction(transaction_id).to_wire()


def _find(engine: Engine, body: Mapping[str, Any]) -> Any:
    request = payload(body)
    sort = request.get("sort", "ASC")
    if sort not in ("ASC", "DESC", None):
        raise bad_request("sort must be ASC or DESC")
    properties = request.get("properties")
    if isinstance(properties, list) and len(properties) == 1:
        properties = properties[0]
    if properties is not None and not isinstance(properties, str):
        raise bad_request("properties must name one property")
    return engine.customers.search(
        customer_id=text(request, "customerId", required=False),
        currency=apply_filter("currencyFilter", request.get("currencyFilter"), text_ops=True),
        state=apply_filter(
            "transactionStateFilter", request.get("transactionStateFilter"), text_ops=False
        ),
        page_number=_integer(request, "pageNumber", 0, 0, 10**9),
        page_size=_integer(request, "pageSize", 20, 1, 1000),
        descending=sort == "DESC",
        sort_by=properties or "createdDate",
    )


PURSE_ROUTES: Mapping[str, Mapping[str, Any]] = {
    "/api/v1/exchange/pairs": {"POST": _pairs},
    "/api/v1/exchange/pre-calculate": {"POST": _pre_calculate},
    "/api/v1/exchange/limit": {"POST": _limit},
    "/api/v1/exchange/average-rate": {"POST": _average_rate},
    "/api/v1/exchange/create": {"POST": _create_exchange},
    "/api/v1/exchange/get": {"POST": _get_exchange},
    "/api/v1/customer-purse/customer/create": {"POST": _create_customer},
    "/api/v1/customer-purse/customer/update": {"POST": _update_customer},
    "/api/v1/customer-purse/address/get": {"POST": _address},
    "/api/v1/customer-purse/transaction/get": {"POST": _transaction},
    "/api/v1/customer-purse/transaction/find": {"POST": _find},
}
"""Path -> HTTP method -> operation, for the exchange and customer-purse paths."""
