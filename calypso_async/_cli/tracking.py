"""``track`` and ``tracked``: put invoices in a store's poll schedule, and list it.

::

    calypso-async track --store sqlite:///./calypso-resolver.db 9c1f... 4b2e...
    cut -f1 invoices.tsv | calypso-async track --store redis://redis:6379/0 -
    calypso-async tracked --store sqlite:///./calypso-resolver.db --json

The workers of ``calypso-async worker`` on the same store poll what is tracked (see
``InvoiceTracker``). ``track`` first asks Calypso for each invoice (with the
``CALYPSO_*`` variables): an id Calypso does not know is reported and left out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from .._client import CalypsoClient
from .._errors import CalypsoError, ConfigurationError, NotFoundError
from .._resolver import RequestBudget, TrackedInvoice
from .args import PROG, env_problem
from .show import show_date
from .store import run_command
from .worker import DEFAULT_STORE, open_store

__all__ = ["add_parsers", "run"]

_CHECKS_AT_ONCE = 8
_TRACK_AT_ONCE = 1000


def add_parsers(commands: Any) -> None:
    """Add ``track`` and ``tracked`` to the subparsers ``commands``."""
    track = commands.add_parser(
        "track", help="track invoices until final: workers poll them (CALYPSO_* variables)"
    )
    track.add_argument("--store", default=DEFAULT_STORE, help=f"the store ({DEFAULT_STORE})")
    track.add_argument(
        "ids", nargs="+", metavar="ID", help="invoice ids; '-' reads more from standard input"
    )
    track.add_argument(
        "--no-check",
        action="store_true",
        help="track without asking Calypso first (the first poll drops an unknown id)",
    )
    track.add_argument(
        "--max-rps",
        type=int,
        metavar="N",
        help="ask Calypso within the store's request budget of N per second, the one "
        "the workers were given (default: 8 questions at a time, no budget)",
    )
    tracked = commands.add_parser("tracked", help="list the tracked invoices, next due first")
    tracked.add_argument("--store", default=DEFAULT_STORE, help=f"the store ({DEFAULT_STORE})")
    tracked.add_argument("--json", action="store_true", help="print a JSON array")
    tracked.add_argument("--limit", type=int, default=None, metavar="N", help="at most N")


def run(args: argparse.Namespace, out: Any) -> int:
    """Run ``track`` or ``tracked``; 0 done, 1 a failure, 2 a usage or configuration error."""
    return run_command(_track if args.command == "track" else _tracked, args, out)


def _ids(args: argparse.Namespace) -> list[str]:
    ids: list[str] = []
    for given in args.ids:
        if given == "-":
            ids.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            ids.append(given.strip())
    if not ids or not all(ids):
        raise ConfigurationError("give the invoice ids to track (an id may not be empty)")
    return list(dict.fromkeys(ids))


async def _known(ids: list[str], out: Any, budget: RequestBudget | None) -> tuple[list[str], bool]:
    """The ids Calypso knows; whether every one could be checked."""
    try:
        client = CalypsoClient.from_env(event_hooks=budget.event_hooks() if budget else None)
    except ConfigurationError as exc:
        raise ConfigurationError(env_problem(exc) + " (or track with --no-check)") from None
    gate = asyncio.Semaphore(_CHECKS_AT_ONCE)
    found: dict[str, bool | None] = {}

    async def check(invoice_id: str) -> None:
        async with gate:
            try:
                await client.invoices.get(invoice_id)
                found[invoice_id] = True
            except NotFoundError:
                found[invoice_id] = False
                print(f"unknown  {invoice_id}: Calypso does not know it; not tracked", file=out)
            except CalypsoError as exc:
                found[invoice_id] = None
                print(f"{PROG} track: {invoice_id}: {type(exc).__name__}: {exc}", file=sys.stderr)

    async with client:
        await asyncio.gather(*(check(invoice_id) for invoice_id in ids))
    known = [i for i in ids if found.get(i)]
    return known, all(found.get(i) is not None for i in ids)


async def _track(args: argparse.Namespace, out: Any) -> int:
    ids = _ids(args)
    store = await open_store(args.store, create=False)
    try:
        if not hasattr(store, "track"):
            raise ConfigurationError(f"{store.url} cannot track invoices")
        budget = None if args.max_rps is None else RequestBudget(store, args.max_rps)  # type: ignore[arg-type]
        known, checked = (ids, True) if args.no_check else await _known(ids, out, budget)
        added = 0
        for start in range(0, len(known), _TRACK_AT_ONCE):
            added += await store.track(known[start : start + _TRACK_AT_ONCE], 0.0)
        print(f"tracked {added}, already tracked {len(known) - added}", file=out)
    finally:
        await store.aclose()
    return 0 if checked and len(known) == len(ids) else 1


def _when(at: float) -> str:
    return show_date(datetime.fromtimestamp(at, UTC))


def _row(item: TrackedInvoice) -> dict[str, Any]:
    return {
        "invoice_id": item.invoice_id,
        "state": item.state,
        "due": _when(item.due),
        "since": _when(item.since),
        "polls": item.polls,
    }


async def _tracked(args: argparse.Namespace, out: Any) -> int:
    store = await open_store(args.store, create=False)
    try:
        if not hasattr(store, "tracked"):
            raise ConfigurationError(f"{store.url} cannot track invoices")
        items = await store.tracked(args.limit)
    finally:
        await store.aclose()
    if args.json:
        print(json.dumps([_row(item) for item in items]), file=out)
        return 0
    if not items:
        print(f"no tracked invoices in {store.url}", file=out)
    for item in items:
        row = _row(item)
        print(
            f"{item.invoice_id}  {item.state or '(not polled yet)'}  due {row['due']}  "
            f"{item.polls} poll(s) since {row['since']}",
            file=out,
        )
    return 0
