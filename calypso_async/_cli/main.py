"""The ``calypso-async`` command: a fake server, a demo, workers, operators' tools, reads.

::

    calypso-async demo
    calypso-async fake [--port 8080] [--settle-delay S] [--latency S] [--commands]
    calypso-async worker [--store URL] [--listen HOST:PORT] [--no-listen] [--concurrency N]
    calypso-async held|failed|status [--store URL] [--json]
    calypso-async requeue|forget [--store URL] ID...
    calypso-async resolve [--store URL] [--take] ID
    calypso-async invoice get ID
    calypso-async account balances
    calypso-async webhooks list

The commands that call Calypso read the ``CALYPSO_*`` environment variables
(``CalypsoClient.from_env``). Exit codes: 0 success, 1 an API, network or store error,
2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import api, fake, store, worker
from .args import PROG

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Tools around the Calypso Payment API 2.0 SDK."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="pay three invoices on an in-process fake and explain")
    fake.add_parser(commands)
    worker.add_parser(commands)
    store.add_parsers(commands)
    api.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``calypso-async`` command line.

    Args:
        argv: The arguments after the program name (``sys.argv[1:]`` when ``None``).

    Returns:
        The exit code: 0 success, 1 an API, network or store error, 2 a usage or
        configuration error.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "demo":
        import asyncio

        from .demo import run_demo

        return asyncio.run(run_demo(out))
    if args.command == "fake":
        return fake.run(args, out)
    if args.command == "worker":
        return worker.run(args, out)
    if args.command in ("held", "failed", "status", "requeue", "forget", "resolve"):
        return store.run(args, out)
    return api.run(args, out)
