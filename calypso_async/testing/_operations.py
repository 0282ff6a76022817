"""The API operations the fake serves: an authenticated body in, a JSON answer out.

Each operation reads its payload (a 400 ``001`` names a bad field), acts on
the engine and returns the JSON value to answer with (``None`` for an empty body).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .._types import InvoiceType
from . import _payloads
from ._engine import Engine
from ._fiat import FIAT_ROUTES
from ._payout_ops import PAYOUT_ROUTES
from ._purse_routes import PURSE_ROUTES

__all__ = ["ROUTES", "Operation"]

Operation = Callable[[Engine, Mapping[str, Any]], Any]


def _get_invoice(engine: Engine, body: Mapping[str, Any]) -> Any:
    invoice_id, key = _payloads.lookup(body)
    if invoice_id is not None:
        return engine.invoice_json(invoice_id)
    return engine.find_by_key(key or "").to_wire()


def _creator(invoice_type: InvoiceType) -> Operation:
    def create(engine: Engine, body: Mapping[str, Any]) -> Any:
        return engine.create(_payloads.invoice_draft(invoice_type, body)).to_wire()

    create.__name__ = f"create_{invoice_type.lower()}"
    return create


def _return_to_paid(engine: Engine, body: Mapping[str, Any]) -> Any:
    invoice_id = _payloads.required_id(body)
    engine.return_to_paid(invoice_id)
    return engine.invoice_json(invoice_id)


def _close_intervention(engine: Engine, body: Mapping[str, Any]) -> Any:
    invoice_id = _payloads.required_id(body)
    engine.close_intervention(invoice_id)
    return engine.invoice_json(invoice_id)


def _list_subscriptions(engine: Engine, body: Mapping[str, Any]) -> Any:
    subscriptions = engine.subscriptions.subscriptions.values()
    return {"subscriptions": [s.to_wire() for s in subscriptions]}


def _create_subscription(engine: Engine, body: Mapping[str, Any]) -> Any:
    request = _payloads.subscription_request(body)
    return engine.subscriptions.create(**request, now=engine.utcnow()).to_wire()


def _delete_subscription(engine: Engine, body: Mapping[str, Any]) -> Any:
    engine.subscriptions.delete(_payloads.subscription_id(body))
    return None


_OWNER_ID = str(uuid.UUID(int=0x0CA1_9750))


def _account(engine: Engine, body: Mapping[str, Any]) -> Any:
    balances = engine.book.balances
    return {
        "account": engine.account,
        "name": "FakeCalypso merchant",
        "ownerId": _OWNER_ID,
        "balances": [
            {"currency": currency, "amount": balances[currency]} for currency in sorted(balances)
        ],
    }


ROUTES: Mapping[str, Mapping[str, Operation]] = {
    "/api/v1/invoice": {"POST": _get_invoice},
    "/api/v1/invoice/single/create": {"POST": _creator(InvoiceType.SINGLE)},
    "/api/v1/invoice/single-fiat/create": {"POST": _creator(InvoiceType.SINGLE_FIAT)},
    "/api/v1/invoice/unlimited/create": {"POST": _creator(InvoiceType.UNLIMITED)},
    "/api/v1/invoice/bound/create": {"POST": _creator(InvoiceType.BOUND)},
    "/api/v1/invoice/return-to-paid": {"POST": _return_to_paid},
    "/api/v1/invoice/close-intervention": {"POST": _close_intervention},
    "/api/v1/subscription/webhook": {
        "POST": _list_subscriptions,
        "DELETE": _delete_subscription,
    },
    "/api/v1/subscription/webhook/create": {"POST": _create_subscription},
    "/api/v1/account": {"POST": _account},
    **PAYOUT_ROUTES,
    **PURSE_ROUTES,
    **FIAT_ROUTES,
}
"""Path -> HTTP method -> operation: every path of calypso-api.md the fake serves."""
