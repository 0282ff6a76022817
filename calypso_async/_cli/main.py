"""The ``calypso-async`` command: a fake server, a demo, workers, operators' tools, reads.

::

    calypso-async demo
    calypso-async fake [--port 8080] [--settle-delay S] [--latency S] [--commands]
    calypso-async worker [--store URL] [--listen HOST:PORT] [--no-listen] [--concurrency N]
                         [--max-rps N]
    calypso-async track [--store URL] [--no-check] ID... (- reads ids from standard input)
    calypso-async tracked [--store URL] [--json] [--limit N]
    calypso-async held|failed|status [--store URL] [--json]
    calypso-async requeue|forget [--store URL] ID...
    calypso-async resolve [--store URL] [--take] ID
    calypso-async invoice get ID [--json]
    calypso-async invoice create AMOUNT CURRENCY DESCRIPTION [--idempotency-key KEY] [--json]
    calypso-async payout get ID [--json]
    calypso-async payout create ADDRESS AMOUNT CURRENCY [--comment C] [--idempotency-key K] [--json]
    calypso-async account balances [--json]
    calypso-async exchange pairs [--json]
    calypso-async exchange rate SOURCE DESTINATION [--json]
    calypso-async webhooks list [--json]
    calypso-async webhooks create|delete
    calypso-async --version

``-v`` (INFO) or ``-vv`` (DEBUG), before or after the command, logs what the SDK does on
stderr. The commands that call Calypso read the ``CALYPSO_*`` environment variables
(``CalypsoClient.from_env``). Exit codes: 0 success, 1 an API, network or store error,
2 a usage or configuration error, 141 when the output was closed early (``| head``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .._logging import log_on_stderr
from . import api, exchange, fake, store, tracking, worker
from .args import PROG

__all__ = ["main"]


# What a shell reports for a program ended by SIGPIPE (128 + 13), as `yes | head` does.
EXIT_BROKEN_PIPE = 141


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description="Tools around the Calypso Payment API 2.0 SDK."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_verbose(parser, default=0)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="pay three invoices on an in-process fake and explain")
    fake.add_parser(commands)
    worker.add_parser(commands)
    store.add_parsers(commands)
    tracking.add_parsers(commands)
    api.add_parsers(commands)
    exchange.add_parsers(commands)
    for command in commands.choices.values():
        # SUPPRESS: a -v given before the command is not reset by the command's parser.
        _add_verbose(command, default=argparse.SUPPRESS)
    return parser


def _add_verbose(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="log the SDK's work on stderr: -v for INFO, -vv for DEBUG",
    )


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
    try:
        code = _run(parser, args)
        sys.stdout.flush()  # a pipe closed early fails here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        # The reader went away (`calypso-async demo | head -1`): end quietly, and keep
        # the interpreter's last flush from failing on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.verbose and args.command != "worker":  # the worker sets up its own logging
        log_on_stderr(logging.DEBUG if args.verbose > 1 else logging.INFO)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "demo":
        import asyncio

        from .demo import run_demo

        if not args.verbose:  # the story tells the held invoice; no stray warning line
            logging.getLogger("calypso_async").addHandler(logging.NullHandler())
        return asyncio.run(run_demo(out))
    if args.command == "fake":
        return fake.run(args, out)
    if args.command == "worker":
        return worker.run(args, out)
    if args.command in ("held", "failed", "status", "requeue", "forget", "resolve"):
        return store.run(args, out)
    if args.command in ("track", "tracked"):
        return tracking.run(args, out)
    if args.command == "exchange":
        return exchange.run(args, out)
    return api.run(args, out)
