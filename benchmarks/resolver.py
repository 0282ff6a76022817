"""InterventionResolver throughput: N interventions resolved concurrently in worker mode.

``python -m benchmarks.resolver`` starts ``calypso-async fake`` in a child process with a
settle delay, creates N single invoices and pays them over or under (mixed, shuffled),
so each waits in ``PENDING_INTERVENTION``. Then one ``InterventionResolver`` with the
default policy gets every invoice id through ``submit`` and is joined. It reports
interventions/s, the wall time to drain, HTTP requests per resolved intervention, peak
RSS, and checks every outcome against the server: overpaid ones must end RESOLVED
(COMPLETED, intervention closed), underpaid ones HELD with nothing written. A wrong
outcome fails the run (exit 1); timings never do.

``--store memory,sqlite,redis`` (or ``all``) and ``--workers 1,2,4`` measure the resolver
on its stores instead, in worker processes: see ``benchmarks/_stores.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from calypso_async import (
    CalypsoClient,
    InterventionResolver,
    InvoiceState,
    Outcome,
    Resolution,
)

from . import _stats, _stores
from ._raw import SDK_CONNECTION_LIMIT
from ._rounds import create_invoices
from ._server import FakeServerProcess

OVERPAY = "10.50"
UNDERPAY = "10.00"
REQUESTS_TARGET = 5.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line (``--help`` lists every option and its default)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.resolver",
        description="InterventionResolver throughput in worker mode against FakeCalypso.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("-n", "--interventions", type=int, default=1000, help="invoices")
    parser.add_argument(
        "--overpay-share", type=float, default=0.5, help="fraction overpaid (the rest under)"
    )
    parser.add_argument(
        "--settle-delay", type=float, default=0.3, help="fake: seconds from PAID to COMPLETED"
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, help="resolver poll_interval (seconds)"
    )
    parser.add_argument("--max-concurrency", type=int, default=100, help="resolver max_concurrency")
    parser.add_argument(
        "--completion-timeout", type=float, default=60.0, help="resolver completion_timeout"
    )
    parser.add_argument("--seed", type=int, default=42, help="shuffles over and under")
    parser.add_argument(
        "--output", type=Path, default=_stats.default_output("resolver"), help="JSON path"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the results")
    parser.add_argument(
        "--store",
        help="run worker processes on stores instead: a comma list of memory, sqlite, "
        "redis, or 'all' (memory and the durable stores side by side)",
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="with --store: worker processes per durable-store run, a comma list (1,2,4)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("CALYPSO_TEST_REDIS_URL"),
        help="with --store redis: the server (default: a redis-server of its own)",
    )
    args = parser.parse_args(argv)
    if args.store is not None:
        kinds = ["memory", "sqlite", "redis"] if args.store == "all" else args.store.split(",")
        if not kinds or not set(kinds) <= {"memory", "sqlite", "redis"}:
            parser.error("--store takes memory, sqlite, redis (comma-separated) or all")
        args.stores = kinds
        try:
            args.worker_counts = [int(n) for n in args.workers.split(",")]
        except ValueError:
            parser.error("--workers takes whole numbers, comma-separated")
        if not all(n >= 1 for n in args.worker_counts):
            parser.error("--workers must be at least 1")
    if args.interventions < 1 or args.max_concurrency < 1:
        parser.error("--interventions and --max-concurrency must be at least 1")
    if not 0 <= args.overpay_share <= 1:
        parser.error("--overpay-share is a fraction between 0 and 1")
    for name in ("settle_delay", "poll_interval", "completion_timeout"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


class _CallCounter:
    """Counts session calls per invoice id, and HTTP requests as aiohttp sends them."""

    def __init__(self) -> None:
        self.by_invoice: collections.Counter[str] = collections.Counter()
        self.http_requests = 0
        self.counting = False

    def trace_config(self) -> aiohttp.TraceConfig:
        async def on_request_start(*_: Any) -> None:
            if self.counting:
                self.http_requests += 1

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_request_start)
        return trace

    def wrap(self, client: CalypsoClient) -> None:
        session = client.session
        original = session.call

        async def counting_call(
            path: str, payload: Mapping[str, Any] | None = None, **options: Any
        ) -> Any:
            if self.counting and payload is not None and "id" in payload:
                self.by_invoice[str(payload["id"])] += 1
            return await original(path, payload, **options)

        # Resources call self._session.call: an instance attribute shadows the method.
        setattr(session, "call", counting_call)  # noqa: B010


async def _pay_all(server: FakeServerProcess, amounts: Mapping[str, str]) -> list[str]:
    replies = [
        server.command(f"pay {invoice_id} {amount}") for invoice_id, amount in amounts.items()
    ]
    await server.drain()
    wrong = []
    for invoice_id, reply in zip(amounts, await asyncio.gather(*replies), strict=True):
        if reply != f"ok {invoice_id} {InvoiceState.PENDING_INTERVENTION}":
            wrong.append(f"{invoice_id}: {reply}")
    return wrong


def _check(
    amounts: Mapping[str, str], outcomes: Mapping[str, Resolution], final: Mapping[str, Any]
) -> list[str]:
    """Every intervention's outcome and server state against what the policy implies."""
    wrong = []
    for invoice_id, amount in amounts.items():
        resolution = outcomes.get(invoice_id)
        invoice = final.get(invoice_id)
        if resolution is None or invoice is None:
            wrong.append(f"{invoice_id}: no outcome or no final state")
            continue
        if amount == OVERPAY:
            right = (
                resolution.outcome is Outcome.RESOLVED
                and resolution.writes == ("return-to-paid", "close-intervention")
                and invoice.state is InvoiceState.COMPLETED
                and invoice.is_intervention_resolved is True
            )
        else:
            right = (
                resolution.outcome is Outcome.HELD
                and resolution.writes == ()
                and invoice.state is InvoiceState.PENDING_INTERVENTION
                and invoice.is_intervention_resolved is False
            )
        if not right:
            wrong.append(
                f"{invoice_id} (paid {amount}): {resolution.outcome} {resolution.writes} "
                f"({resolution.reason}); server: {invoice.state}, "
                f"resolved={invoice.is_intervention_resolved}"
            )
    return wrong


async def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the benchmark and return the results (the JSON that is written)."""
    machine = _stats.machine()
    log(f"machine: {_stats.describe_machine(machine)}")
    if warning := _stats.busy_warning(machine):
        log(warning)
    counter = _CallCounter()
    outcomes: dict[str, Resolution] = {}
    rss = _stats.RssSampler()
    async with (
        FakeServerProcess(settle_delay=args.settle_delay) as server,
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=SDK_CONNECTION_LIMIT),
            timeout=aiohttp.ClientTimeout(total=None),
            trace_configs=[counter.trace_config()],
        ) as http,
        CalypsoClient.from_env(server.env, session=http) as client,
    ):
        log(f"fake server: pid {server.pid}, settle delay {args.settle_delay:g} s")
        ids = await create_invoices(client, args.interventions)
        random.Random(args.seed).shuffle(ids)
        overpaid = round(args.interventions * args.overpay_share)
        amounts = {
            invoice_id: OVERPAY if i < overpaid else UNDERPAY for i, invoice_id in enumerate(ids)
        }
        random.Random(args.seed + 1).shuffle(ids)
        refused = await _pay_all(server, amounts)
        if refused:
            raise RuntimeError(f"payments did not open interventions: {refused[:3]}")
        log(f"{len(ids)} invoices in PENDING_INTERVENTION ({overpaid} overpaid)")

        counter.wrap(client)
        resolver = InterventionResolver(
            client,
            poll_interval=args.poll_interval,
            completion_timeout=args.completion_timeout,
            max_concurrency=args.max_concurrency,
            max_queue=max(args.interventions, 1),
            on_outcome=lambda resolution: outcomes.__setitem__(
                resolution.invoice_id or "", resolution
            ),
        )
        gc.collect()
        async with rss.running():
            before = rss.restart()
            counter.counting = True
            cpu = _stats.cpu_seconds()
            server_cpu = server.cpu_seconds()
            started = time.perf_counter()
            async with resolver:
                for invoice_id in ids:
                    resolver.submit(invoice_id)
                await resolver.join()
            wall = time.perf_counter() - started
            cpu = _stats.cpu_seconds() - cpu
            server_after = server.cpu_seconds()
            counter.counting = False
        final = {invoice_id: await client.invoices.get(invoice_id) for invoice_id in ids}

    wrong = _check(amounts, outcomes, final)
    by_outcome = collections.Counter(str(r.outcome) for r in outcomes.values())
    resolved = [i for i, r in outcomes.items() if r.outcome is Outcome.RESOLVED]
    held = [i for i, r in outcomes.items() if r.outcome is Outcome.HELD]
    calls = sum(counter.by_invoice.values())
    per_resolved = (
        sum(counter.by_invoice[i] for i in resolved) / len(resolved) if resolved else None
    )
    per_held = sum(counter.by_invoice[i] for i in held) / len(held) if held else None
    n = args.interventions
    data: dict[str, Any] = {
        "benchmark": "resolver",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "load_average_at_end": _stats.machine()["load_average"],
        "settings": {
            "interventions": n,
            "overpaid": overpaid,
            "settle_delay_s": args.settle_delay,
            "poll_interval_s": args.poll_interval,
            "max_concurrency": args.max_concurrency,
            "completion_timeout_s": args.completion_timeout,
            "connection_limit": SDK_CONNECTION_LIMIT,
            "seed": args.seed,
        },
        "interventions_per_s": _stats.finite(n / wall),
        "wall_s": _stats.finite(wall),
        "outcomes": dict(sorted(by_outcome.items())),
        "http_requests": counter.http_requests,
        "calls": calls,
        "retries": counter.http_requests - calls,
        "requests_per_resolved": None if per_resolved is None else _stats.finite(per_resolved),
        "requests_per_held": None if per_held is None else _stats.finite(per_held),
        "requests_per_intervention": _stats.finite(counter.http_requests / n),
        "client_cpu_s": _stats.finite(cpu),
        "client_cpu_us_per_intervention": _stats.finite(cpu / n * 1e6),
        "server_cpu_s": (
            None
            if server_cpu is None or server_after is None
            else _stats.finite(server_after - server_cpu)
        ),
        "rss_before_mb": _stats.finite(before),
        "peak_rss_mb": _stats.finite(rss.peak),
        "rss_growth_mb": _stats.finite(rss.peak - before),
        "outcomes_right": n - len(wrong),
        "wrong": wrong[:20],
    }
    data["targets"] = [
        {
            "name": f"<= {REQUESTS_TARGET:g} HTTP requests per resolved intervention on average",
            "value": data["requests_per_resolved"],
            "ok": per_resolved is not None and per_resolved <= REQUESTS_TARGET,
        }
    ]
    met = sum(1 for t in data["targets"] if t["ok"])
    data["summary"] = (
        f"SUMMARY resolver: {met} of {len(data['targets'])} targets met; "
        f"outcomes {data['outcomes_right']}/{n} right"
    )
    return data


def report(data: dict[str, Any]) -> str:
    """The readable results, the target and the summary line."""
    settings = data["settings"]
    rows = [
        ["interventions", f"{settings['interventions']} ({settings['overpaid']} overpaid)"],
        ["outcomes", ", ".join(f"{k} {v}" for k, v in data["outcomes"].items())],
        ["interventions/s", f"{data['interventions_per_s']:,.0f}"],
        ["wall time to drain", f"{data['wall_s']:.2f} s"],
        ["HTTP requests", f"{data['http_requests']} ({data['retries']} retries)"],
        ["requests per resolved", _fmt(data["requests_per_resolved"])],
        ["requests per held", _fmt(data["requests_per_held"])],
        ["requests per intervention", _fmt(data["requests_per_intervention"])],
        [
            "client CPU",
            f"{data['client_cpu_s']:.2f} s ({data['client_cpu_us_per_intervention']:,.0f} us each)",
        ],
        ["peak RSS", f"{data['peak_rss_mb']:.1f} MB (+{data['rss_growth_mb']:.1f} MB)"],
        ["outcomes right", f"{data['outcomes_right']}/{settings['interventions']}"],
    ]
    lines = [
        f"resolver: settle delay {settings['settle_delay_s']:g} s, poll_interval "
        f"{settings['poll_interval_s']:g} s, max_concurrency {settings['max_concurrency']}",
        _stats.table(["measure", "value"], rows),
        "",
    ]
    lines += [f"wrong: {line}" for line in data["wrong"]]
    for target in data["targets"]:
        lines.append(
            f"[{'PASS' if target['ok'] else 'MISS'}] {target['name']}: {_fmt(target['value'])}"
        )
    lines.append(data["summary"])
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 when an outcome is wrong (timings never fail it)."""
    args = parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    output: Path = args.output
    if args.store is not None:
        data = asyncio.run(_stores.run(args, log))
        _stats.write_json(output, data)
        print(_stores.report(data))
        print(f"results: {output}")
        return 0 if all(r["outcomes_right"] == r["interventions"] for r in data["runs"]) else 1
    data = asyncio.run(run(args, log))
    _stats.write_json(output, data)
    print(report(data))
    print(f"results: {output}")
    return 0 if data["outcomes_right"] == data["settings"]["interventions"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the fake server has been stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
