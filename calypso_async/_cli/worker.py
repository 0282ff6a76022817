"""``calypso-async worker``: a webhook receiver and resolver workers on one store.

::

    calypso-async worker --store redis://redis:6379/0 --listen 0.0.0.0:8080

It reads the client's ``CALYPSO_*`` variables and the subscription's secret from
``CALYPSO_WEBHOOK_SECRET`` (several, comma-separated, during a key rotation), serves
``POST /calypso/webhooks`` (answered 2xx only once the store holds the event) and
``GET /healthz`` (200 while the store answers), and runs resolver workers against the
store until SIGTERM or SIGINT; then it stops listening, drains, and exits 0. Every
process started with the same ``--store`` shares one queue, one set of claims and one
write-ahead record: at most one return-to-paid per invoice among them all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import attrs
from aiohttp import web

from .._client import CalypsoClient
from .._errors import ConfigurationError, StoreError
from .._inbound import webhook_handler
from .._resolver import (
    InterventionResolver,
    InvoiceTracker,
    Policy,
    PollSchedule,
    RequestBudget,
    ResolverStore,
    TrackingStore,
    default_policy,
)
from .._resolver.stores import store_from_url
from .args import PROG, env_problem, seconds

__all__ = ["DEFAULT_STORE", "add_parser", "open_store", "run"]

DEFAULT_STORE = "sqlite:///./calypso-resolver.db"
"""The store of a worker started without ``--store``: a file in the working folder."""

logger = logging.getLogger("calypso_async.resolver")


def add_parser(commands: Any) -> None:
    """Add the ``worker`` command to the subparsers ``commands``."""
    worker = commands.add_parser(
        "worker",
        help="receive webhooks and resolve interventions until SIGTERM (CALYPSO_* variables)",
    )
    worker.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"where the workers share their state (default {DEFAULT_STORE}; "
        "sqlite:///path for one machine, redis://host:port/db for many)",
    )
    worker.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="where to receive webhooks (default 127.0.0.1:8080; port 0 picks a free one)",
    )
    worker.add_argument("--path", default="/calypso/webhooks", help="the webhook path")
    worker.add_argument(
        "--no-listen", action="store_true", help="run workers only, receiving nothing"
    )
    worker.add_argument(
        "--concurrency", type=int, default=10, metavar="N", help="invoices resolved at once"
    )
    worker.add_argument(
        "--policy",
        metavar="MODULE:CALLABLE",
        help="your policy (default: resolve OVERPAY, hold UNDERPAY and anything unknown)",
    )
    for name, default, what in (
        ("lease", 30.0, "seconds a claim lives without renewal"),
        ("resend-hold", 120.0, "seconds no return-to-paid is resent after an unanswered one"),
        ("poll-interval", 2.0, "seconds between polls for COMPLETED"),
        ("completion-timeout", 600.0, "seconds to wait for COMPLETED after return-to-paid"),
        ("shutdown-grace", 30.0, "seconds to let running work finish on SIGTERM"),
    ):
        worker.add_argument(
            f"--{name}", type=seconds, default=default, metavar="S", help=f"{what} ({default:g})"
        )
    worker.add_argument(
        "--max-rps",
        type=int,
        metavar="N",
        help="at most N requests to Calypso in any second, from every worker on the store "
        "together (polls, reads and writes; default: no budget)",
    )
    worker.add_argument(
        "--poll-schedule",
        metavar="NAME=S,...",
        help="how often tracked invoices are polled, such as fresh=15,quiet=300 (see PollSchedule)",
    )
    worker.add_argument(
        "--log-level", default="INFO", help="logging level on stderr (default INFO)"
    )


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"--listen takes HOST:PORT, such as 127.0.0.1:8080, not {text!r}")
    return host.strip("[]"), int(port)


def _policy(spec: str | None) -> Policy:
    if spec is None:
        return default_policy
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(f"--policy takes MODULE:CALLABLE, not {spec!r}")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"--policy {spec}: {exc}") from None
    if not callable(found):
        raise ConfigurationError(f"--policy {spec} is not callable")
    policy: Policy = found
    return policy


def _tracking(store: ResolverStore) -> TrackingStore:
    if not hasattr(store, "grant"):
        raise ConfigurationError(f"{store.url} keeps no request budget")
    tracking: TrackingStore = store  # type: ignore[assignment]
    return tracking


def _schedule(spec: str | None) -> PollSchedule:
    if not spec:
        return PollSchedule()
    values: dict[str, float] = {}
    names = {field.name for field in attrs.fields(PollSchedule)}
    for part in spec.split(","):
        name, sep, value = part.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in names:
            raise ConfigurationError(
                f"--poll-schedule takes NAME=SECONDS pairs, NAME one of {', '.join(sorted(names))}"
                f"; not {part!r}"
            )
        try:
            values[name] = float(value)
        except ValueError:
            raise ConfigurationError(f"--poll-schedule: {part!r} is not a number") from None
    return PollSchedule(**values)


async def open_store(url: str, *, create: bool = True) -> ResolverStore:
    """Build and open the store ``url`` names (``ConfigurationError``, ``StoreError``).

    With ``create=False`` a durable store must exist already (an operator's command).
    """
    if url.split("://", 1)[0].lower() == "memory":
        if not create:
            raise ConfigurationError(
                "memory:// holds nothing between processes: give the --store your workers use"
            )
        store = store_from_url(url)
    else:
        store = store_from_url(url, create=create)
    await store.open()
    return store


def run(args: argparse.Namespace, out: Any) -> int:
    """Run the worker until a signal; 0 after a clean drain, 1 or 2 when it cannot start."""
    level = "DEBUG" if args.verbose > 1 else args.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_work(args, out))
    except ConfigurationError as exc:
        print(f"{PROG} worker: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"{PROG} worker: the store cannot be used: {exc}", file=sys.stderr)
        return 1


async def _work(args: argparse.Namespace, out: Any) -> int:
    secrets: list[str] = []
    if not args.no_listen:
        address = _listen_address(args.listen)
        secrets = [s for s in os.environ.get("CALYPSO_WEBHOOK_SECRET", "").split(",") if s]
        if not secrets:
            raise ConfigurationError(
                "CALYPSO_WEBHOOK_SECRET is not set: the subscription's secretKey, to verify "
                "webhooks (or run with --no-listen)"
            )
    policy = _policy(args.policy)
    schedule = _schedule(args.poll_schedule)
    store = await open_store(args.store)
    budget = None if args.max_rps is None else RequestBudget(_tracking(store), args.max_rps)
    try:
        client = CalypsoClient.from_env(event_hooks=budget.event_hooks() if budget else None)
    except ConfigurationError as exc:
        await store.aclose()
        raise ConfigurationError(env_problem(exc)) from None
    if not store.shared:
        logger.warning(
            "%s keeps its queue in this process only: what it accepted is lost when the "
            "process stops, and other workers do not share it; use sqlite:/// or redis://",
            store.url,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with client:
            resolver = InterventionResolver(
                client,
                policy,
                store=store,
                max_concurrency=args.concurrency,
                poll_interval=args.poll_interval,
                completion_timeout=args.completion_timeout,
                shutdown_grace=args.shutdown_grace,
                resend_hold=args.resend_hold,
                lease=args.lease,
            )
            # A poll holds its invoice for the tracker's own lease (30 s): a poll waiting
            # for the request budget must not lose it, and two polls at once are only
            # wasteful, never unsafe, so it need not be as short as a claim's.
            tracker = InvoiceTracker(resolver, schedule=schedule, concurrency=args.concurrency)
            async with resolver:
                async with tracker:
                    if args.no_listen:
                        where = "no listener (workers only)"
                        await _announce(out, where, store, args.concurrency, stop, budget)
                    else:
                        async with _serve(
                            resolver, tracker, store, secrets, address, args.path
                        ) as url:
                            where = f"listening on {url}"
                            await _announce(out, where, store, args.concurrency, stop, budget)
                unfinished = await resolver.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await store.aclose()
    where = f"back in {store.url}" if store.shared else "dropped (memory:// keeps nothing)"
    print(f"tracking: {tracker.polls} poll(s) of tracked invoices", file=out, flush=True)
    print(f"stopped: {len(unfinished)} unfinished run(s) {where}", file=out, flush=True)
    return 0


async def _announce(
    out: Any,
    where: str,
    store: ResolverStore,
    concurrency: int,
    stop: asyncio.Event,
    budget: RequestBudget | None,
) -> None:
    # Scripts and supervisors wait for this line: it comes once deliveries are accepted.
    cap = "" if budget is None else f", at most {budget.max_rps} requests/s"
    print(f"ready: {where}, store {store.url}, {concurrency} workers{cap}", file=out, flush=True)
    await stop.wait()
    logger.info("stopping: no more deliveries taken; draining the running work")


@contextlib.asynccontextmanager
async def _serve(
    resolver: InterventionResolver,
    tracker: InvoiceTracker,
    store: ResolverStore,
    secrets: list[str],
    address: tuple[str, int],
    path: str,
) -> AsyncIterator[str]:
    async def healthz(_: web.Request) -> web.Response:
        try:
            await store.ping()
        except StoreError:
            return web.Response(status=503, text="the store does not answer")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, webhook_handler(secrets, resolver=resolver, on_event=tracker.heard))
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, address[0], address[1])
        try:
            await site.start()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {address[0]}:{address[1]}: {exc.strerror}"
            ) from None
        host, port = runner.addresses[0][:2]
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{port}{path}"
    finally:
        await runner.cleanup()
