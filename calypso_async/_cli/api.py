"""The API commands: ``invoice get|create``, ``account balances``, ``webhooks list|create|delete``.

Every read takes ``--json``: the server's JSON on one line (a subscription's secret
left out); otherwise dates are shown as ``show.show_date`` writes them.

They talk to the real API with the ``CALYPSO_*`` environment variables
(``CalypsoClient.from_env``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from .._client import CalypsoClient
from .._core.json import format_decimal
from .._errors import CalypsoError, ConfigurationError
from .._types.invoice import Invoice
from .._types.webhook import EventType
from . import payouts
from .args import PROG, env_problem
from .show import json_line, keyed_create, print_model, show_date

__all__ = ["add_parsers", "run"]


def add_parsers(commands: Any) -> None:
    """Add the ``invoice``, ``account`` and ``webhooks`` commands to ``commands``."""
    invoice = commands.add_parser("invoice", help="invoice calls (CALYPSO_* variables)")
    invoice_commands = invoice.add_subparsers(dest="action", metavar="ACTION", required=True)
    get = invoice_commands.add_parser("get", help="show one invoice")
    get.add_argument("id", help="the invoice id")
    get.add_argument("--json", action="store_true", help="print the invoice as JSON")
    create = invoice_commands.add_parser(
        "create", help="create a SINGLE invoice and show it (as get does)"
    )
    create.add_argument("amount", help="what the payer owes, such as 10.234 (written exactly)")
    create.add_argument("currency", help="the crypto currency, such as USDT")
    create.add_argument("description", help="what the payer sees, such as 'order 42'")
    create.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="the same key gives back the same invoice (default: a new key, printed)",
    )
    create.add_argument("--json", action="store_true", help="print the invoice as JSON")

    account = commands.add_parser("account", help="account calls (CALYPSO_* variables)")
    account_commands = account.add_subparsers(dest="action", metavar="ACTION", required=True)
    balances = account_commands.add_parser("balances", help="show the account's balances")
    balances.add_argument("--json", action="store_true", help="print the answer as JSON")

    webhooks = commands.add_parser("webhooks", help="webhook calls (CALYPSO_* variables)")
    webhook_commands = webhooks.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = webhook_commands.add_parser("list", help="list webhook subscriptions (no secrets)")
    listing.add_argument(
        "--json", action="store_true", help="print the subscriptions as JSON (no secrets)"
    )
    create = webhook_commands.add_parser(
        "create",
        help="subscribe a URL; prints the subscription's secret once, for CALYPSO_WEBHOOK_SECRET",
    )
    create.add_argument("url", help="where Calypso posts the events (https in production)")
    create.add_argument(
        "--event",
        action="append",
        dest="events",
        metavar="TYPE",
        help="an event type to receive, repeatable (default: INVOICE_PENDING_INTERVENTION, "
        "what calypso-async worker needs)",
    )
    delete = webhook_commands.add_parser("delete", help="delete a subscription")
    delete.add_argument("request_id", help="its request id, as webhooks list shows it")
    payouts.add_parser(commands)


def run(args: argparse.Namespace, out: Any) -> int:
    """Run one API command; 0 done, 1 an API or network error, 2 a configuration error."""
    api_commands: dict[tuple[str, str], _ApiCommand] = {
        ("invoice", "get"): _invoice_get,
        ("invoice", "create"): _invoice_create,
        ("account", "balances"): _account_balances,
        ("webhooks", "list"): _webhooks_list,
        ("webhooks", "create"): _webhooks_create,
        ("webhooks", "delete"): _webhooks_delete,
        **payouts.COMMANDS,
    }
    return asyncio.run(_with_client(api_commands[args.command, args.action], args, out))


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(item) for item in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_show(item)}" for key, item in value.items())
    return str(value)


async def _invoice_get(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    _print_invoice(await client.invoices.get(args.id), out, as_json=args.json)


async def _invoice_create(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    create = client.invoices.create_single(
        amount=args.amount,
        currency=args.currency,
        description=args.description,
        idempotency_key=args.idempotency_key,
    )
    _print_invoice(await keyed_create("invoice", create), out, as_json=args.json)


def _print_invoice(invoice: Invoice, out: Any, *, as_json: bool = False) -> None:
    print_model(invoice, as_json=as_json, out=out)


async def _account_balances(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    balances = await client.account.balances()
    if args.json:
        print(json_line(dict(balances.raw)), file=out)
        return
    print(f"account {balances.account} ({balances.name or 'no name'})", file=out)
    if not balances.balances:
        print("  no balances", file=out)
    for balance in balances.balances:
        print(f"  {_show(balance.amount)} {balance.currency}", file=out)


async def _webhooks_list(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    subscriptions = await client.webhooks.list()
    if args.json:
        # The server's objects, but never the secret: list does not show it.
        shown = [{k: v for k, v in sub.raw.items() if k != "secretKey"} for sub in subscriptions]
        print(json_line(shown), file=out)
        return
    if not subscriptions:
        print("no webhook subscriptions", file=out)
    for sub in subscriptions:
        # The secret key is deliberately not shown.
        print(
            f"{sub.request_id}  {sub.url}  events={_show(sub.notification_event_types)}  "
            f"services={_show(sub.notification_service_types)}  "
            f"errors={sub.blocked_by_error_count}"
            + (f"  created={show_date(sub.created_date)}" if sub.created_date else ""),
            file=out,
        )


async def _webhooks_create(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    events = args.events or [EventType.INVOICE_PENDING_INTERVENTION]
    sub = await client.webhooks.create(url=args.url, event_types=events)
    print(f"{sub.request_id}  {sub.url}  events={_show(sub.notification_event_types)}", file=out)
    # Shown on purpose, once: the receiver needs it, and webhooks list never shows it.
    print(f"CALYPSO_WEBHOOK_SECRET={sub.secret_key}", file=out)
    print(
        f"{PROG}: keep the secret with your other credentials; every receiver of this "
        "subscription verifies deliveries with it",
        file=sys.stderr,
    )


async def _webhooks_delete(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    await client.webhooks.delete(args.request_id)
    print(f"deleted {args.request_id}", file=out)


_ApiCommand = Callable[[CalypsoClient, argparse.Namespace, Any], Awaitable[None]]


async def _with_client(command: _ApiCommand, args: argparse.Namespace, out: Any) -> int:
    try:
        client = CalypsoClient.from_env()
    except ConfigurationError as exc:
        print(f"{PROG}: {env_problem(exc)}", file=sys.stderr)
        return 2
    try:
        async with client:
            await command(client, args, out)
    except ConfigurationError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except CalypsoError as exc:
        print(f"{PROG}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
