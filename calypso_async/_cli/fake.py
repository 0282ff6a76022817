"""``calypso-async fake``: FakeCalypso in the foreground, optionally driven from stdin.

With ``--commands`` the fake also reads simulation commands from standard input, one per
line, and answers each with one line (``ok ID STATE`` or ``error MESSAGE``); the end of
the input stops it. This is how another process (a script, a benchmark) pays invoices::

    pay ID AMOUNT     mempool ID     settle ID     expire ID     returns ID
    create COUNT AMOUNT     arrivals FROM

``returns ID`` answers ``ok ID N``: the return-to-paid calls carried out for the invoice.
``create COUNT AMOUNT`` makes COUNT single USDT invoices at once, without the API, and
answers ``ok ID ID ...``. ``arrivals FROM`` answers ``ok TOTAL COUNT BUSIEST SPAN`` about
the requests received from the FROM-th on (0 is the first): TOTAL received so far, COUNT
of them, the most in any second, and the seconds from the first of them to the last.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .._core.checks import is_loopback
from .args import PROG, port, seconds, seconds_or_none

if TYPE_CHECKING:
    from ..testing import FakeCalypso

__all__ = ["add_parser", "run"]


def add_parser(commands: Any) -> None:
    """Add the ``fake`` command to the subparsers ``commands``."""
    fake = commands.add_parser("fake", help="run a local fake Calypso server in the foreground")
    fake.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default loopback; 0.0.0.0 serves every interface, "
        "with a warning)",
    )
    fake.add_argument("--port", type=port, default=8080, help="port (0 picks a free one)")
    fake.add_argument(
        "--settle-delay",
        type=seconds_or_none,
        default=0.05,
        metavar="S",
        help="seconds from PAID to COMPLETED ('none': never)",
    )
    fake.add_argument(
        "--latency", type=seconds, default=0.0, metavar="S", help="seconds added to answers"
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

    fake.add_argument(
        "--accept-repeated-return-to-paid",
        action="store_true",
        help="take a second return-to-paid for an invoice (and count it) instead of "
        "refusing it, to test that a client never sends one",
    )


def run(args: argparse.Namespace, out: Any) -> int:
    """Serve until SIGINT or SIGTERM (or the end of the commands); 0 once stopped."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_serve(args, out))
    return 0


_COMMAND_ARGS = {
    "pay": ("ID", "AMOUNT"),
    "mempool": ("ID",),
    "settle": ("ID",),
    "expire": ("ID",),
    "returns": ("ID",),
    "create": ("COUNT", "AMOUNT"),
    "arrivals": ("FROM",),
}
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
    if expected is None:
        return f"error unknown command {line.strip()!r} (commands: {_COMMAND_USAGE})"
    if len(words) != len(expected):
        usage = " ".join([name, *expected])
        return f"error {name} takes {len(expected)} argument(s): {usage}"
    if name == "returns":  # how many return-to-paid calls the fake carried out
        return f"ok {words[0]} {fake.returns_to_paid.get(words[0], 0)}"
    if name in ("create", "arrivals"):
        try:
            return _CREATE_OR_ARRIVALS[name](fake, *words)
        except ValueError as exc:
            return f"error {exc}"
    try:
        invoice = await getattr(fake, name)(*words)
    except (FakeCalypsoError, ValueError) as exc:
        return f"error {exc}"
    return f"ok {invoice['id']} {invoice['state']}"


def _create_many(fake: FakeCalypso, count: str, amount: str) -> str:
    from .._types import InvoiceType
    from ..testing._invoice import InvoiceDraft

    number = int(count)
    if number < 1:
        raise ValueError(f"create needs a COUNT of 1 or more, not {count}")
    try:
        price = Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"create needs an AMOUNT such as 10.234, not {amount!r}") from None
    if not price.is_finite() or price <= 0:
        raise ValueError(f"create needs an AMOUNT above 0, not {amount}")
    draft = InvoiceDraft(type=InvoiceType.SINGLE, currency="USDT", description="", amount=price)
    engine = fake._engine  # many invoices at once, faster than as many API calls
    return "ok " + " ".join(engine.create(draft).id for _ in range(number))


def _arrivals(fake: FakeCalypso, start: str) -> str:
    calls = fake._engine.calls
    times = sorted(call.at for call in calls[int(start) :])
    busiest, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    span = times[-1] - times[0] if times else 0.0
    return f"ok {len(calls)} {len(times)} {busiest} {span:.6f}"


_CREATE_OR_ARRIVALS: dict[str, Callable[..., str]] = {"create": _create_many, "arrivals": _arrivals}


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
        accept_repeated_return_to_paid=args.accept_repeated_return_to_paid,
    )
    try:
        await fake.start()
    except OSError as exc:
        print(f"{PROG}: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    if not is_loopback(args.host):
        print(
            f"{PROG}: warning: listening on {args.host}, beyond loopback: anyone who "
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
        stopping = "The end of the input stops it." if args.commands else "Press Ctrl+C to stop."
        print(
            f"FakeCalypso is serving the Calypso 2.0 API at {fake.base_url} "
            "(test credentials above; export them to point CalypsoClient.from_env() here). "
            + stopping,
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
