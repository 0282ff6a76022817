"""The payout commands: ``payout get ID`` and ``payout create ADDRESS AMOUNT CURRENCY``.

Shown as ``invoice get`` shows an invoice: the wire names and values, one per line, or
with ``--json`` the payout's JSON object as the server sent it.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .show import keyed_create, print_model

if TYPE_CHECKING:
    from .._client import CalypsoClient

__all__ = ["COMMANDS", "add_parser"]


def add_parser(commands: Any) -> None:
    """Add the ``payout`` command (``get``, ``create``) to ``commands``."""
    payout = commands.add_parser("payout", help="payout calls (CALYPSO_* variables)")
    actions = payout.add_subparsers(dest="action", metavar="ACTION", required=True)
    get = actions.add_parser("get", help="show one payout")
    get.add_argument("id", help="the payout id")
    create = actions.add_parser(
        "create", help="pay AMOUNT CURRENCY to ADDRESS from the account and show the payout"
    )
    create.add_argument("address", help="the deposit address, on the currency's chain")
    create.add_argument("amount", help="how much, such as 10.5 (written exactly)")
    create.add_argument("currency", help="the crypto currency, such as USDT")
    create.add_argument("--comment", metavar="C", help="a note kept with the payout")
    create.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="the same key gives back the same payout, never a second one "
        "(default: a new key, printed after a failure)",
    )
    for parser in (get, create):
        parser.add_argument("--json", action="store_true", help="print the payout as JSON")


async def _payout_get(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    print_model(await client.payouts.get(args.id), as_json=args.json, out=out)


async def _payout_create(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    create = client.payouts.create(
        deposit_address=args.address,
        amount=args.amount,
        currency=args.currency,
        comment=args.comment,
        idempotency_key=args.idempotency_key,
    )
    print_model(await keyed_create("payout", create), as_json=args.json, out=out)


COMMANDS: dict[
    tuple[str, str], Callable[[CalypsoClient, argparse.Namespace, Any], Awaitable[None]]
] = {
    ("payout", "get"): _payout_get,
    ("payout", "create"): _payout_create,
}
"""(command, action) -> what runs it, given a client, the arguments and the output."""
