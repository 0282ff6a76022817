"""Operators' commands on a resolver store: held, failed, status, requeue, resolve.

::

    calypso-async held --store sqlite:///./calypso-resolver.db --json
    calypso-async resolve --store redis://redis:6379/0 --take 9c1f...   # a human's decision

``resolve`` goes through the store like any worker: it claims the invoice and records
its return-to-paid before sending it, so it can never double a worker's write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from .._client import CalypsoClient
from .._errors import CalypsoError, ConfigurationError, StoreError
from .._resolver import Decision, InterventionResolver, Outcome, OutcomeRecord, default_policy
from .._types import Invoice
from .args import PROG, env_problem
from .show import show_date
from .worker import DEFAULT_STORE, open_store

__all__ = ["add_parsers", "run", "run_command"]


def add_parsers(commands: Any) -> None:
    """Add the store commands to the subparsers ``commands``."""
    for name, what in (
        ("held", "the invoices held for a human"),
        ("failed", "the invoices whose runs failed for good (parked)"),
    ):
        listing = commands.add_parser(name, help=f"list {what}")
        _store_argument(listing)
        listing.add_argument("--json", action="store_true", help="print a JSON array")
    status = commands.add_parser("status", help="invoices pending, running, held and failed")
    _store_argument(status)
    status.add_argument("--json", action="store_true", help="print a JSON object")
    requeue = commands.add_parser("requeue", help="queue invoices again for the workers")
    _store_argument(requeue)
    requeue.add_argument("ids", nargs="+", metavar="ID", help="invoice ids")
    forget = commands.add_parser(
        "forget", help="drop the held or failed outcome of invoices a human dealt with"
    )
    _store_argument(forget)
    forget.add_argument("ids", nargs="+", metavar="ID", help="invoice ids")
    resolve = commands.add_parser(
        "resolve",
        help="resolve one invoice now, through the store (CALYPSO_* variables)",
    )
    _store_argument(resolve)
    resolve.add_argument("id", help="the invoice id")
    resolve.add_argument(
        "--take",
        action="store_true",
        help="take the money as paid whatever the intervention (an underpayment too): "
        "a human's decision; without it the default policy decides",
    )


def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", default=DEFAULT_STORE, help=f"the store (default {DEFAULT_STORE})"
    )


def run(args: argparse.Namespace, out: Any) -> int:
    """Run one store command; 0 done, 1 a failure, 2 a usage or configuration error."""
    return run_command(_COMMANDS[args.command], args, out)


def run_command(
    command: Callable[[argparse.Namespace, Any], Coroutine[Any, Any, int]],
    args: argparse.Namespace,
    out: Any,
) -> int:
    """Run a command on a store, its usage and store errors told in one line each."""
    try:
        return asyncio.run(command(args, out))
    except ConfigurationError as exc:
        print(f"{PROG} {args.command}: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"{PROG} {args.command}: the store cannot be used: {exc}", file=sys.stderr)
        return 1


async def _opened(url: str) -> Any:
    return await open_store(url, create=False)


def _since(record: OutcomeRecord) -> str:
    return show_date(datetime.fromtimestamp(record.at, UTC))


async def _listing(args: argparse.Namespace, out: Any) -> int:
    kind = Outcome.HELD if args.command == "held" else Outcome.FAILED
    store = await _opened(args.store)
    try:
        records = await store.outcomes(kind)
    finally:
        await store.aclose()
    if args.json:
        rows = [
            {
                "invoice_id": r.invoice_id,
                "reason": r.reason,
                "since": _since(r),
                "writes": list(r.writes),
                "attempts": r.attempts,
            }
            for r in records
        ]
        print(json.dumps(rows), file=out)
        return 0
    if not records:
        print(f"no {kind.lower()} invoices in {store.url}", file=out)
    for record in records:
        print(f"{record.invoice_id}  since {_since(record)}  {record.reason}", file=out)
    return 0


async def _status(args: argparse.Namespace, out: Any) -> int:
    store = await _opened(args.store)
    try:
        pending, running = await store.counts()
        held = len(await store.outcomes(Outcome.HELD))
        failed = len(await store.outcomes(Outcome.FAILED))
    finally:
        await store.aclose()
    counts = {"pending": pending, "running": running, "held": held, "failed": failed}
    if args.json:
        print(json.dumps(counts), file=out)
    else:
        print(f"{store.url}: " + ", ".join(f"{n} {k}" for k, n in counts.items()), file=out)
    return 0


async def _requeue(args: argparse.Namespace, out: Any) -> int:
    store = await _opened(args.store)
    try:
        for invoice_id in args.ids:
            intake = await store.requeue(invoice_id)
            print(f"{intake.value}  {invoice_id}", file=out)
    finally:
        await store.aclose()
    return 0


async def _forget(args: argparse.Namespace, out: Any) -> int:
    store = await _opened(args.store)
    try:
        for invoice_id in args.ids:
            found = await store.forget(invoice_id)
            print(f"{'forgotten' if found else 'not kept'}  {invoice_id}", file=out)
    finally:
        await store.aclose()
    return 0


async def _resolve(args: argparse.Namespace, out: Any) -> int:
    def take(_: Invoice) -> Decision:
        return Decision.RESOLVE

    store = await _opened(args.store)
    try:
        try:
            client = CalypsoClient.from_env()
        except ConfigurationError as exc:
            raise ConfigurationError(env_problem(exc)) from None
        async with client:
            resolver = InterventionResolver(
                client, take if args.take else default_policy, store=store
            )
            resolution = await resolver.resolve(args.id)
    except CalypsoError as exc:
        if isinstance(exc, ConfigurationError):
            raise
        print(f"{PROG} resolve: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.aclose()
    print(f"{resolution.outcome}: {resolution.reason}", file=out)
    return 1 if resolution.outcome is Outcome.FAILED else 0


_COMMANDS = {
    "held": _listing,
    "failed": _listing,
    "status": _status,
    "requeue": _requeue,
    "forget": _forget,
    "resolve": _resolve,
}
