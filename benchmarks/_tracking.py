"""One variant of ``benchmarks.watch`` in a process of its own, with its own fake server.

A fresh process has a fresh heap (see ``benchmarks._watch``): its RSS growth is the
variant's own. The fake makes the invoices itself (``create``), so that the client's
figures start from the same ids in memory. Then, over the same run length:

* ``tracker``: an ``InvoiceTracker`` on a store with a ``RequestBudget``, every
  invoice tracked with first polls spread over one poll interval; no webhooks.
* ``tracker-webhooks``: the same, with a webhook subscription to this process, whose
  events go to ``webhook_handler`` (the resolver's intake and ``tracker.heard``).
* ``wait-for``: one ``client.invoices.wait_for`` per invoice, polling at the same
  interval, on a client with no budget.

A sample of invoices is overpaid across the first part of the run (each then waits in
``PENDING_INTERVENTION``): the time from each payment to its resolution (to its being
seen, for ``wait-for``) is recorded. It prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web

from calypso_async import (
    CalypsoClient,
    InterventionResolver,
    InvoiceState,
    InvoiceTracker,
    Outcome,
    PollSchedule,
    RequestBudget,
    Resolution,
    ServiceType,
    webhook_handler,
)
from calypso_async.stores import store_from_url

from . import _stats
from ._rounds import AMOUNT
from ._server import FakeServerProcess

OVERPAY = "10.50"
VARIANTS = ("tracker", "tracker-webhooks", "wait-for")
_TRACK_CHUNKS = 100


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line (``benchmarks.watch`` passes every option)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._tracking")
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--invoices", type=int, required=True)
    parser.add_argument("--max-rps", type=int, required=True)
    parser.add_argument("--poll-share", type=float, required=True)
    parser.add_argument("--interval", type=float, required=True, help="seconds between polls")
    parser.add_argument("--duration", type=float, required=True, help="seconds of the run")
    parser.add_argument("--pay", type=int, required=True, help="invoices overpaid in the run")
    parser.add_argument("--pay-window", type=float, required=True, help="seconds to pay across")
    parser.add_argument("--store", required=True, help="memory, sqlite or a redis:// URL")
    parser.add_argument("--concurrency", type=int, required=True, help="tracker's polls in flight")
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


@contextlib.asynccontextmanager
async def _store_url(kind: str) -> AsyncIterator[str]:
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="calypso-bench-watch-") as folder:
            yield f"sqlite:///{folder}/tracks.db"
    else:
        yield kind


class _Payments:
    """Overpays the sample evenly across the window; remembers when each was sent."""

    def __init__(self, server: FakeServerProcess, ids: list[str], window: float) -> None:
        self.server = server
        self.ids = ids
        self.window = window
        self.paid_at: dict[str, float] = {}
        self.done_at: dict[str, float] = {}
        self.errors: list[str] = []
        self.complete = asyncio.Event()

    async def run(self) -> None:
        started = time.monotonic()
        for index, invoice_id in enumerate(self.ids):
            await asyncio.sleep(
                max(0.0, started + self.window * index / len(self.ids) - time.monotonic())
            )
            # Sent before the fake moves it: the time measured is never shorter than the wait.
            sent = time.monotonic()
            try:
                await self.server.pay(invoice_id, OVERPAY)
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            self.paid_at[invoice_id] = sent
        self._check()

    def finished(self, invoice_id: str) -> None:
        if invoice_id in self.paid_at and invoice_id not in self.done_at:
            self.done_at[invoice_id] = time.monotonic()
            self._check()

    def _check(self) -> None:
        if len(self.done_at) + len(self.errors) >= len(self.ids):
            self.complete.set()

    def figures(self) -> dict[str, Any]:
        waits = [self.done_at[i] - self.paid_at[i] for i in self.done_at]
        return {
            "paid": len(self.paid_at),
            "done": len(self.done_at),
            "pay_errors": len(self.errors),
            "pay_error_samples": self.errors[:3],
            "wait_p50_s": _stats.finite(_stats.percentile(waits, 50)),
            "wait_p95_s": _stats.finite(_stats.percentile(waits, 95)),
            "wait_max_s": _stats.finite(max(waits, default=float("nan"))),
        }


async def _until(deadline: float, payments: _Payments) -> None:
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))
    # The sample paid late in the run gets one more pay window to be seen, no more.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(payments.complete.wait(), _GRACE_SHARE * payments.window)


_GRACE_SHARE = 1.0


def _schedule(interval: float) -> PollSchedule:
    # Every invoice is PENDING_PAYMENT and young: polled once an interval, whatever its
    # age, until it is paid; the resolver's own polls see it through after that.
    return PollSchedule(fresh=interval, quiet=interval, near_expiry=interval)


@contextlib.asynccontextmanager
async def _webhooks(
    client: CalypsoClient, resolver: InterventionResolver, tracker: InvoiceTracker
) -> AsyncIterator[None]:
    """A subscription to every invoice event, received here on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sub = await client.webhooks.create(
        url=f"http://127.0.0.1:{port}/", service_types=[ServiceType.INVOICE]
    )
    assert sub.secret_key is not None
    app = web.Application()
    handler = webhook_handler(sub.secret_key, resolver=resolver, on_event=tracker.heard)
    app.router.add_post("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield
    finally:
        await runner.cleanup()


async def _tracked(
    args: argparse.Namespace,
    server: FakeServerProcess,
    ids: list[str],
    payments: _Payments,
    measure: _Window,
) -> dict[str, Any]:
    webhooks = args.variant == "tracker-webhooks"
    async with _store_url(args.store) as url:
        store = store_from_url(url)
        async with store:
            budget = RequestBudget(store, args.max_rps, poll_share=args.poll_share)  # type: ignore[arg-type]
            hooks = budget.event_hooks()
            async with CalypsoClient.from_env(server.env, event_hooks=hooks) as client:

                def outcome(resolution: Resolution) -> None:
                    if resolution.outcome is Outcome.RESOLVED and resolution.invoice_id:
                        payments.finished(resolution.invoice_id)

                resolver = InterventionResolver(client, store=store, on_outcome=outcome)
                tracker = InvoiceTracker(
                    resolver, schedule=_schedule(args.interval), concurrency=args.concurrency
                )
                async with contextlib.AsyncExitStack() as stack:
                    await stack.enter_async_context(resolver)
                    if webhooks:
                        await stack.enter_async_context(_webhooks(client, resolver, tracker))
                    step = args.interval / _TRACK_CHUNKS
                    size = -(-len(ids) // _TRACK_CHUNKS)
                    for chunk in range(_TRACK_CHUNKS):
                        part = ids[chunk * size : (chunk + 1) * size]
                        if part:
                            await tracker.track(*part, first_poll=chunk * step)
                    await measure.start()
                    await stack.enter_async_context(tracker)
                    payer = asyncio.create_task(payments.run())
                    marker = asyncio.create_task(measure.mark(args.interval, lambda: tracker.polls))
                    await _until(measure.deadline, payments)
                    await payer
                    await measure.stop()
                    polls = tracker.polls
                    marker.cancel()
                return {"polls": polls, "budget_waited_s": budget.waited}


async def _waited(
    args: argparse.Namespace,
    server: FakeServerProcess,
    ids: list[str],
    payments: _Payments,
    measure: _Window,
) -> dict[str, Any]:
    states = {InvoiceState.PENDING_INTERVENTION, InvoiceState.COMPLETED}
    errors: list[str] = []
    async with CalypsoClient.from_env(server.env) as client:

        async def wait(invoice_id: str) -> None:
            try:
                invoice = await client.invoices.wait_for(
                    invoice_id,
                    states,
                    timeout=args.duration * 10,
                    interval=args.interval,
                    max_interval=args.interval,
                )
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                return
            if invoice.state is InvoiceState.PENDING_INTERVENTION:
                payments.finished(invoice_id)

        await measure.start()
        waiters = [asyncio.create_task(wait(i)) for i in ids]
        payer = asyncio.create_task(payments.run())
        marker = asyncio.create_task(measure.mark(args.interval, None))
        await _until(measure.deadline, payments)
        await payer
        await measure.stop()
        marker.cancel()
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    return {"polls": None, "wait_errors": len(errors), "wait_error_samples": errors[:3]}


class _Window:
    """The measured run: client CPU, the fake's arrivals and CPU, and the RSS peak."""

    def __init__(self, server: FakeServerProcess, rss: _stats.RssSampler, duration: float) -> None:
        self.server = server
        self.rss = rss
        self.duration = duration

    async def start(self) -> None:
        self.first_call, *_ = await self.server.arrivals(0)
        self.cpu = _stats.cpu_seconds()
        self.server_cpu = self.server.cpu_seconds()
        self.started = time.monotonic()
        self.deadline = self.started + self.duration
        self.marked_seconds: float | None = None
        self.marked_polls = 0

    async def mark(self, after: float, polls: Callable[[], int] | None) -> None:
        """Note the polls made in the first ``after`` seconds (the first poll of each)."""
        await asyncio.sleep(after)
        self.marked_seconds = time.monotonic() - self.started
        if polls is None:  # every request is a poll
            self.marked_polls = (await self.server.arrivals(self.first_call))[1]
        else:
            self.marked_polls = polls()

    async def stop(self) -> None:
        self.seconds = time.monotonic() - self.started
        self.cpu = _stats.cpu_seconds() - self.cpu
        after = self.server.cpu_seconds()
        self.server_cpu = (
            None if after is None or self.server_cpu is None else after - self.server_cpu
        )
        _, self.requests, self.busiest, self.span = await self.server.arrivals(self.first_call)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one variant and return its figures."""
    rss = _stats.RssSampler()
    rng = random.Random(args.seed)
    async with FakeServerProcess(settle_delay=0.05) as server:
        ids = await server.create_many(args.invoices, AMOUNT)
        sample = rng.sample(ids, min(args.pay, len(ids)))
        payments = _Payments(server, sample, args.pay_window)
        measure = _Window(server, rss, args.duration)
        gc.collect()
        before = rss.restart()
        async with rss.running():
            if args.variant == "wait-for":
                extra = await _waited(args, server, ids, payments, measure)
            else:
                extra = await _tracked(args, server, ids, payments, measure)
    requests = measure.requests
    polls = extra["polls"] if extra["polls"] is not None else requests
    return {
        "variant": args.variant,
        "invoices": args.invoices,
        "seconds": measure.seconds,
        "requests": requests,
        "requests_per_s": requests / measure.seconds if measure.seconds > 0 else None,
        "busiest_second": measure.busiest,
        "polls": polls,
        "polls_per_invoice": polls / args.invoices,
        "later_polls_per_invoice_per_interval": _later(measure, polls, args),
        "cpu_s": measure.cpu,
        "cpu_us_per_poll": _stats.finite(measure.cpu / polls * 1e6) if polls else None,
        "server_cpu_s": measure.server_cpu,
        "rss_before_mb": _stats.finite(before),
        "rss_growth_mb": _stats.finite(rss.peak - before),
        **payments.figures(),
        **{k: v for k, v in extra.items() if k != "polls"},
    }


def _later(measure: _Window, polls: int, args: argparse.Namespace) -> float | None:
    # After the first interval every invoice has had its first poll: what follows is
    # the steady rate (webhooks heard: quiet invoices wait `relax` times longer).
    if measure.marked_seconds is None or measure.seconds <= measure.marked_seconds:
        return None
    intervals: float = (measure.seconds - measure.marked_seconds) / args.interval
    invoices: int = args.invoices
    return (polls - measure.marked_polls) / invoices / intervals


def main(argv: Sequence[str] | None = None) -> int:
    """Run the variant and print its figures as one JSON object on stdout."""
    print(json.dumps(asyncio.run(run(parse_args(argv)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
