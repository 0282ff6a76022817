"""The ``calypso-async`` command: a local fake server, a demo, and a few read-only calls.

::

    calypso-async fake [--port 8080] [--host 127.0.0.1] [--settle-delay S] [--latency S]
                       [--commands]
    calypso-async demo
    calypso-async invoice get ID
    calypso-async account balances
    calypso-async webhooks list

With ``--commands`` the fake also reads simulation commands from standard input, one per
line, and answers each with one line (``ok ID STATE`` or ``error MESSAGE``); the end of
the input stops it. This is how another process (a script, a benchmark) pays invoices::

    pay ID AMOUNT     mempool ID     settle ID     expire ID

The last three talk to the real API with the ``CALYPSO_*`` environment variables
(``CalypsoClient.from_env``). Exit codes: 0 success, 1 an API or network error, 2 a usage
or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._client import CalypsoClient
from .._core.checks import is_loopback
from .._core.json import dumps, format_decimal
from .._errors import CalypsoError, ConfigurationError

if TYPE_CHECKING:
    from ..testing import FakeCalypso

__all__ = ["main"]

_PROG = "calypso-async"


def _seconds_or_none(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError("seconds must be finite and not negative")
    return value


def _seconds(text: str) -> float:
    value = _seconds_or_none(text)
    if value is None:
        raise argparse.ArgumentTypeError("a number of seconds is needed here")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0-65535 (0 picks a free one)")
    return value


_COMMAND_ARGS = {"pay": ("ID", "AMOUNT"), "mempool": ("ID",), "settle": ("ID",), "expire": ("ID",)}
_COMMAND_USAGE = ", ".join(" ".join((name, *words)) for name, words in _COMMAND_ARGS.items())


def _read_lines(
    stream: Any, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]
) -> None:
    # A daemon thread, not the loop's executor: asyncio.run would wait at exit for a read
    # that may never return (an interactive terminal), and stdin stays a blocking fd.
    while True:
        line: str | None = stream.readline() or None  # "" is the end of the input
        try:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        except RuntimeError:  # the loop is closed: the server has stopped
            return
        if line is None:
            return


async def _command(fake: FakeCalypso, line: str) -> str:
    from ..testing import FakeCalypsoError

    name, *words = line.split()
    expected = _COMMAND_ARGS.get(name)
    if expected is None or len(words) != len(expected):
        return f"error unknown command {line.strip()!r} (commands: {_COMMAND_USAGE})"
    try:
        invoice = await getattr(fake, name)(*words)
    except (FakeCalypsoError, ValueError) as exc:
        return f"error {exc}"
    return f"ok {invoice['id']} {invoice['state']}"


async def _run_commands(fake: FakeCalypso, out: Any, stop: asyncio.Event) -> None:
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    reader = threading.Thread(
        target=_read_lines,
        args=(sys.stdin, asyncio.get_running_loop(), lines),
        name="calypso-async fake commands",
        daemon=True,
    )
    reader.start()
    try:
        while (line := await lines.get()) is not None:
            if line.strip():
                print(await _command(fake, line), file=out, flush=True)
    finally:
        stop.set()


async def _serve(args: argparse.Namespace, out: Any) -> int:
    from ..testing import FakeCalypso

    fake = FakeCalypso(
        host=args.host,
        port=args.port,
        settle_delay=args.settle_delay,
        latency=args.latency,
        api_key=args.api_key,
        secret_key=args.secret_key,
        account=args.account,
    )
    try:
        await fake.start()
    except OSError as exc:
        print(f"{_PROG}: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    if not is_loopback(args.host):
        print(
            f"{_PROG}: warning: listening on {args.host}, beyond loopback: anyone who "
            "can reach this machine on that port can use the test credentials below",
            file=sys.stderr,
            flush=True,
        )
    stop = asyncio.Event()
    commands: asyncio.Task[None] | None = None
    loop = asyncio.get_running_loop()
    # Handlers go in before the credentials line: a script may signal as soon as it reads it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        # Asked for explicitly: this line is how scripts learn the fake's credentials.
        print(
            f"CALYPSO_BASE_URL={fake.base_url} CALYPSO_API_KEY={fake.api_key} "
            f"CALYPSO_SECRET_KEY={fake.secret_key} CALYPSO_ACCOUNT={fake.account}",
            file=out,
            flush=True,
        )
        print(
            f"FakeCalypso is serving the Calypso 2.0 API at {fake.base_url} "
            "(test credentials above; export them to point CalypsoClient.from_env() here). "
            "Press Ctrl+C to stop.",
            file=out,
            flush=True,
        )
        if args.commands:
            commands = asyncio.create_task(_run_commands(fake, out, stop))
        await stop.wait()
    finally:
        if commands is not None:
            commands.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await commands
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await fake.close()
    print("FakeCalypso stopped.", file=out, flush=True)
    return 0


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_show(item) for item in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{key}={_show(item)}" for key, item in value.items())
    return str(value)


def _json_value(value: Any) -> str:
    """A value as JSON writes it (``true``, ``null``, every digit), strings unquoted."""
    return value if isinstance(value, str) else dumps(value).decode()


async def _invoice_get(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    invoice = await client.invoices.get(args.id)
    # The wire names and values, so what is shown matches the Calypso docs one to one.
    for key, value in invoice.raw.items():
        print(f"{key}: {_json_value(value)}", file=out)


async def _account_balances(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    balances = await client.account.balances()
    print(f"account {balances.account} ({balances.name or 'no name'})", file=out)
    if not balances.balances:
        print("  no balances", file=out)
    for balance in balances.balances:
        print(f"  {_show(balance.amount)} {balance.currency}", file=out)


async def _webhooks_list(client: CalypsoClient, args: argparse.Namespace, out: Any) -> None:
    subscriptions = await client.webhooks.list()
    if not subscriptions:
        print("no webhook subscriptions", file=out)
    for sub in subscriptions:
        # The secret key is deliberately not shown.
        print(
            f"{sub.request_id}  {sub.url}  events={_show(sub.notification_event_types)}  "
            f"services={_show(sub.notification_service_types)}  "
            f"errors={sub.blocked_by_error_count}",
            file=out,
        )


_ENV_VARS = {
    "api_key": "CALYPSO_API_KEY",
    "secret_key": "CALYPSO_SECRET_KEY",
    "account": "CALYPSO_ACCOUNT",
    "base_url": "CALYPSO_BASE_URL",
}


def _env_problem(error: ConfigurationError) -> str:
    """Say what is wrong with the ``CALYPSO_*`` variables, in their own names."""
    message = str(error)
    required = [var for name, var in _ENV_VARS.items() if name != "base_url"]
    if any(not os.environ.get(var) for var in required):
        return f"{message}; set them to your Calypso credentials"
    # A value was refused: the message starts with the setting's name ("base_url must
    # use https: ..."); the user set a variable, so name that instead.
    for name, var in _ENV_VARS.items():
        if message.startswith(f"{name} "):
            return var + message[len(name) :]
    return message


_ApiCommand = Callable[[CalypsoClient, argparse.Namespace, Any], Awaitable[None]]


async def _with_client(command: _ApiCommand, args: argparse.Namespace, out: Any) -> int:
    try:
        client = CalypsoClient.from_env()
    except ConfigurationError as exc:
        print(f"{_PROG}: {_env_problem(exc)}", file=sys.stderr)
        return 2
    try:
        async with client:
            await command(client, args, out)
    except ConfigurationError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return 2
    except CalypsoError as exc:
        print(f"{_PROG}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Tools around the Calypso Payment API 2.0 SDK."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    fake = commands.add_parser("fake", help="run a local fake Calypso server in the foreground")
    fake.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default loopback; 0.0.0.0 serves every interface, "
        "with a warning)",
    )
    fake.add_argument("--port", type=_port, default=8080, help="port (0 picks a free one)")
    fake.add_argument(
        "--settle-delay",
        type=_seconds_or_none,
        default=0.05,
        metavar="S",
        help="seconds from PAID to COMPLETED ('none': never)",
    )
    fake.add_argument(
        "--latency", type=_seconds, default=0.0, metavar="S", help="seconds added to answers"
    )
    fake.add_argument("--api-key", help="API key to accept (random when omitted)")
    fake.add_argument("--secret-key", help="secret key to verify with (random when omitted)")
    fake.add_argument("--account", help="account id to expect (random when omitted)")
    fake.add_argument(
        "--commands",
        action="store_true",
        help=f"read commands from stdin, answering each on stdout ({_COMMAND_USAGE}); "
        "the end of the input stops the server",
    )

    commands.add_parser("demo", help="pay three invoices on an in-process fake and explain")

    invoice = commands.add_parser("invoice", help="invoice calls (CALYPSO_* variables)")
    invoice_commands = invoice.add_subparsers(dest="action", metavar="ACTION", required=True)
    get = invoice_commands.add_parser("get", help="show one invoice")
    get.add_argument("id", help="the invoice id")

    account = commands.add_parser("account", help="account calls (CALYPSO_* variables)")
    account_commands = account.add_subparsers(dest="action", metavar="ACTION", required=True)
    account_commands.add_parser("balances", help="show the account's balances")

    webhooks = commands.add_parser("webhooks", help="webhook calls (CALYPSO_* variables)")
    webhook_commands = webhooks.add_subparsers(dest="action", metavar="ACTION", required=True)
    webhook_commands.add_parser("list", help="list webhook subscriptions (no secrets)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``calypso-async`` command line.

    Args:
        argv: The arguments after the program name (``sys.argv[1:]`` when ``None``).

    Returns:
        The exit code: 0 success, 1 an API or network error, 2 a usage or
        configuration error.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    out = sys.stdout
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "fake":
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_serve(args, out))
        return 0
    if args.command == "demo":
        from .demo import run_demo

        return asyncio.run(run_demo(out))
    api_commands: dict[tuple[str, str], _ApiCommand] = {
        ("invoice", "get"): _invoice_get,
        ("account", "balances"): _account_balances,
        ("webhooks", "list"): _webhooks_list,
    }
    return asyncio.run(_with_client(api_commands[args.command, args.action], args, out))
