"""The exchange commands: ``exchange pairs`` and ``exchange rate SOURCE DESTINATION``.

Reads only (nothing is exchanged from the shell), with the ``CALYPSO_*`` environment
variables. ``--json`` prints the answer's JSON on one line, amounts with every digit.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .._client import CalypsoClient
from .._core.json import dumps, format_decimal
from .api import _with_client

__all__ = ["add_parsers", "run"]


def add_parsers(commands: Any) -> None:
    """Add the ``exchange`` command and its actions to ``commands``."""
    exchange = commands.add_parser("exchange", help="exchange reads (CALYPSO_* variables)")
    actions = exchange.add_subparsers(dest="action", metavar="ACTION", required=True)
    pairs = actions.add_parser("pairs", help="what each currency can be exchanged to")
    pairs.add_argument("--json", action="store_true", help="print the currencyPairs object")
    rate = actions.add_parser("rate", help="the average rate of a pair")
    rate.add_argument("source", help="the currency sold, such as BTC")
    rate.add_argument("destination", help="the currency bought, such as USDT")
    rate.add_argument("--json", action="store_true", help="print the answer as JSON")


def run(args: argparse.Namespace, out: Any) -> int:
    """Run one exchange command; 0 done, 1 an API or network error, 2 a configuration error."""
    command = _pairs if args.action == "pairs" else _rate
    return asyncio.run(_with_client(command, args, out))


async def _pairs(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    pairs = await client.exchange.pairs()
    if args.json:
        wire = {source: [dict(c.raw) for c in currencies] for source, currencies in pairs.items()}
        print(dumps(wire).decode(), file=out)
        return
    if not pairs:
        print("no currency pairs", file=out)
    for source in sorted(pairs):
        names = sorted(currency.name for currency in pairs[source])
        print(f"{source} -> {', '.join(names) or '-'}", file=out)


async def _rate(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    rate = await client.exchange.average_rate(
        source_currency=args.source, destination_currency=args.destination
    )
    if args.json:
        print(dumps(dict(rate.raw)).decode(), file=out)
        return
    print(f"1 {args.source} = {format_decimal(rate.rate)} {args.destination}", file=out)
