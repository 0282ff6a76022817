r"""An aiohttp.web shop that takes crypto payments through Calypso.

What it shows:

* ``POST /orders/{order_id}`` with ``{"item": "coffee"}`` creates the order's invoice
  with an idempotency key derived from the order id: a retried request, a double click or
  a restart after a crash gets the same invoice back, never a second one.
* ``POST /calypso/webhooks`` is ``webhook_handler``: every verified event is recorded on
  its order (``on_event``), and ``INVOICE_PENDING_INTERVENTION`` events go to an
  ``InterventionResolver`` (the default policy takes overpayments, holds underpayments).
* ``GET /orders/{order_id}`` shows the invoice as Calypso has it now, the events
  received and what the resolver did.
* The client and the resolver's workers start and stop with the app (``cleanup_ctx``),
  configured from the environment: ``CalypsoClient.from_env()`` and the subscription's
  secret in ``CALYPSO_WEBHOOK_SECRET`` (several, comma-separated, during a rotation).

Run it against the fake, from the repository's root::

    calypso-async fake --port 8080 --commands
    # first line: CALYPSO_BASE_URL=... CALYPSO_API_KEY=... CALYPSO_SECRET_KEY=...
    # CALYPSO_ACCOUNT=...: in a second terminal, type export and paste it. Then:
    calypso-async webhooks create http://127.0.0.1:8000/calypso/webhooks \
        --event INVOICE_PENDING_INTERVENTION --event INVOICE_PAID \
        --event INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED
    # prints CALYPSO_WEBHOOK_SECRET=... once: export it too
    python examples/aiohttp_shop.py --port 8000    # or HOST=... PORT=... in the environment
    curl -X POST localhost:8000/orders/42 -d '{"item": "coffee"}'   # note the invoice_id
    # in the fake's terminal: pay INVOICE_ID 10.50   (an overpayment)
    curl localhost:8000/orders/42   # COMPLETED, resolution RESOLVED

This shop keeps its orders in memory, and so does its resolver (one process); see
``fastapi_app.py`` for a store shared by several processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import web

from calypso_async import (
    CalypsoClient,
    CalypsoError,
    ConfigurationError,
    InterventionResolver,
    Invoice,
    Outcome,
    Resolution,
    WebhookEvent,
    webhook_handler,
)

logger = logging.getLogger("shop")

PRICES = {"coffee": Decimal("10.234"), "tea": Decimal("4.5")}
"""The catalogue: prices are the shop's, never the buyer's."""
CURRENCY = "USDT"


@dataclass
class Order:
    """An order, and what Calypso told the shop about its invoice."""

    order_id: str
    invoice_id: str
    events: dict[str, str] = field(default_factory=dict)
    """Event id to event type: a redelivered event is recorded once."""
    resolution: Outcome | None = None


class Shop:
    """The orders (a real shop keeps them in its database)."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self._by_invoice: dict[str, Order] = {}

    def add(self, order: Order) -> None:
        """Remember a new order and its invoice."""
        self.orders[order.order_id] = order
        self._by_invoice[order.invoice_id] = order

    def on_event(self, event: WebhookEvent) -> None:
        """Record a verified webhook event on its order (idempotent: keyed on its id)."""
        order = self._by_invoice.get(event.invoice_id or "")
        if order is not None:
            order.events[event.id] = str(event.event_type)

    def on_outcome(self, resolution: Resolution) -> None:
        """Record what the resolver did for an order's intervention."""
        order = self._by_invoice.get(resolution.invoice_id or "")
        # SKIPPED is a late copy of an event finding nothing left to do: keep the real outcome.
        if order is not None and resolution.outcome is not Outcome.SKIPPED:
            order.resolution = resolution.outcome


SHOP = web.AppKey("shop", Shop)
CLIENT = web.AppKey("client", CalypsoClient)
RESOLVER = web.AppKey("resolver", InterventionResolver)


def _name(value: object) -> str | None:
    return None if value is None else str(value)


def _show(order: Order, invoice: Invoice) -> dict[str, object]:
    return {
        "order_id": order.order_id,
        "invoice_id": invoice.id,
        "pay_to": invoice.invoice_address,
        "amount": str(invoice.amount),  # money as a string: every digit, no float
        "currency": invoice.currency,
        "state": str(invoice.state),
        "intervention": _name(invoice.intervention_type),
        "intervention_resolved": invoice.is_intervention_resolved,
        "events": list(order.events.values()),
        "resolution": _name(order.resolution),
    }


async def create_order(request: web.Request) -> web.Response:
    """Create an order's invoice; the same order again returns the same invoice."""
    order_id = request.match_info["order_id"]
    shop, client = request.app[SHOP], request.app[CLIENT]
    if (known := shop.orders.get(order_id)) is not None:
        return web.json_response(_show(known, await client.invoices.get(known.invoice_id)))
    try:
        item = (await request.json())["item"]
        price = PRICES[item]
    except (ValueError, TypeError, KeyError):
        raise web.HTTPBadRequest(text=f'send {{"item": ...}}, one of {sorted(PRICES)}') from None
    try:
        invoice = await client.invoices.create_single(
            amount=price,
            currency=CURRENCY,
            description=f"order {order_id}: {item}",
            idempotency_key=f"order-{order_id}",
            external_id=order_id,
        )
    except CalypsoError as exc:
        # Retrying is safe: the idempotency key makes a retry find the same invoice.
        logger.warning("order %s: no invoice yet: %s", order_id, exc)
        raise web.HTTPBadGateway(text="the payment gateway did not answer; try again") from None
    order = Order(order_id, invoice.id)
    shop.add(order)
    return web.json_response(_show(order, invoice), status=201)


async def show_order(request: web.Request) -> web.Response:
    """Show an order with its invoice as Calypso has it now."""
    order = request.app[SHOP].orders.get(request.match_info["order_id"])
    if order is None:
        raise web.HTTPNotFound(text="no such order")
    invoice = await request.app[CLIENT].invoices.get(order.invoice_id)
    return web.json_response(_show(order, invoice))


def create_app(
    environ: Mapping[str, str] | None = None, *, poll_interval: float = 2.0
) -> web.Application:
    """Build the shop from ``environ`` (``os.environ`` by default).

    Args:
        environ: Where to read ``CALYPSO_*`` and ``CALYPSO_WEBHOOK_SECRET``.
        poll_interval: Seconds between the resolver's polls for ``COMPLETED``.

    Raises:
        ConfigurationError: A variable is missing (the message names it, never a value).
    """
    env = os.environ if environ is None else environ
    secrets = [key for key in env.get("CALYPSO_WEBHOOK_SECRET", "").split(",") if key]
    if not secrets:
        raise ConfigurationError(
            "CALYPSO_WEBHOOK_SECRET is not set: the webhook subscription's secret "
            "(calypso-async webhooks create URL prints it)"
        )
    client = CalypsoClient.from_env(env)
    shop = Shop()
    resolver = InterventionResolver(client, poll_interval=poll_interval, on_outcome=shop.on_outcome)

    async def calypso(app: web.Application) -> AsyncIterator[None]:
        # Opened before the first request, closed after the last one: the resolver
        # drains its running work, then the client's connections close.
        async with client, resolver:
            yield

    app = web.Application()
    app[SHOP], app[CLIENT], app[RESOLVER] = shop, client, resolver
    app.cleanup_ctx.append(calypso)
    order_path = "/orders/{order_id:[A-Za-z0-9_-]{1,64}}"
    app.router.add_post(order_path, create_order)
    app.router.add_get(order_path, show_order)
    app.router.add_post(
        "/calypso/webhooks", webhook_handler(secrets, on_event=shop.on_event, resolver=resolver)
    )
    return app


def main() -> None:
    """Serve the shop until Ctrl+C or SIGTERM."""
    parser = argparse.ArgumentParser(description="A shop taking payments through Calypso.")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app = create_app()
    except ConfigurationError as exc:
        sys.exit(f"aiohttp_shop: {exc}")
    web.run_app(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
