"""Many tracked invoices on one worker, within a request budget, against ``wait_for``.

``python -m benchmarks.watch`` runs each variant in a process of its own with its own
fake server (``benchmarks._tracking``): an ``InvoiceTracker`` on a store (SQLite file by
default) with a ``RequestBudget`` of ``--max-rps``, without webhooks and with them, and
the same invoices watched by one ``client.invoices.wait_for`` each. Every invoice is
polled once an interval, sized so that the polls ask ``--load`` times what the budget
lets polls take: the budget, not the schedule, sets the pace. A sample is overpaid
during the run and timed from payment to resolution. It reports the worker's RSS growth,
client CPU per poll, requests per second and the busiest second as the fake saw them,
the sample's waits, and polls per invoice; a missed target never fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from . import _stats, _stores
from ._tracking import VARIANTS

RSS_TARGET_MB = 300.0
RATE_TOLERANCE = 0.05
_CHILD_TIMEOUT_SHARE = 4.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line (``--help`` lists every option and its default)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.watch",
        description="Tracked invoices on one worker within a request budget, against wait_for.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--invoices", type=int, default=10_000, help="invoices watched")
    parser.add_argument("--max-rps", type=int, default=200, help="the request budget")
    parser.add_argument(
        "--poll-share", type=float, default=0.8, help="RequestBudget poll_share (its default)"
    )
    parser.add_argument(
        "--load",
        type=float,
        default=1.05,
        help="polls asked for, as a multiple of what the budget lets polls take",
    )
    parser.add_argument("--cycles", type=float, default=1.25, help="run length, in poll intervals")
    parser.add_argument("--pay", type=int, default=100, help="invoices overpaid during the run")
    parser.add_argument(
        "--store",
        default="sqlite",
        help="the tracker's store: sqlite (a file), memory, redis (a redis-server of its "
        "own, or --redis-url), or a redis:// URL",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("CALYPSO_TEST_REDIS_URL"),
        help="with --store redis: the server",
    )
    parser.add_argument("--concurrency", type=int, default=10, help="tracker polls in flight")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="a comma list of " + ", ".join(VARIANTS)
    )
    parser.add_argument("--seed", type=int, default=42, help="picks the invoices paid")
    parser.add_argument(
        "--output", type=Path, default=_stats.default_output("watch"), help="JSON path"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the results")
    args = parser.parse_args(argv)
    args.variant_list = args.variants.split(",")
    if not args.variant_list or not set(args.variant_list) <= set(VARIANTS):
        parser.error("--variants takes " + ", ".join(VARIANTS) + " (comma-separated)")
    if args.invoices < 1 or args.max_rps < 1 or args.concurrency < 1 or args.pay < 0:
        parser.error("--invoices, --max-rps and --concurrency must be at least 1, --pay 0 or more")
    if not 0 < args.poll_share <= 1:
        parser.error("--poll-share is a fraction above 0, at most 1")
    if not (args.load > 0 and args.cycles > 1):
        parser.error("--load must be positive and --cycles above 1")
    args.interval = args.invoices / (args.max_rps * args.poll_share * args.load)
    args.duration = args.interval * args.cycles
    args.pay_window = args.interval * (args.cycles - 1)
    return args


@contextlib.asynccontextmanager
async def _store(args: argparse.Namespace, log: Callable[[str], None]) -> AsyncIterator[str]:
    if args.store != "redis":
        yield args.store
        return
    async with _stores._redis(args.redis_url, log) as url:
        if url is None:
            raise SystemExit("--store redis: no Redis to run on (see above)")
        yield f"{url}?namespace=bench-watch-{uuid.uuid4().hex[:8]}"


async def _child(variant: str, store: str, args: argparse.Namespace) -> dict[str, Any]:
    argv = [variant, "--invoices", str(args.invoices), "--max-rps", str(args.max_rps)]
    argv += ["--poll-share", repr(args.poll_share), "--interval", repr(args.interval)]
    argv += ["--duration", repr(args.duration), "--pay", str(args.pay)]
    argv += ["--pay-window", repr(args.pay_window), "--store", store]
    argv += ["--concurrency", str(args.concurrency), "--seed", str(args.seed)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks._tracking", *argv, stdout=asyncio.subprocess.PIPE
    )
    try:
        out, _ = await asyncio.wait_for(
            process.communicate(), args.duration * _CHILD_TIMEOUT_SHARE + 120
        )
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"benchmarks._tracking {variant} exited with {process.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Run every variant in turn and return the results (the JSON that is written)."""
    machine = _stats.machine()
    log(f"machine: {_stats.describe_machine(machine)}")
    if warning := _stats.busy_warning(machine):
        log(warning)
    log(
        f"{args.invoices} invoices, one poll each every {args.interval:.1f} s, runs of "
        f"{args.duration:.1f} s; budget {args.max_rps}/s, polls at most "
        f"{args.max_rps * args.poll_share:g}/s"
    )
    results = []
    async with _store(args, log) as store:
        for variant in args.variant_list:
            log(f"{variant} ...")
            result = await _child(variant, store, args)
            log(
                f"  {result['requests_per_s']:.1f} requests/s, busiest second "
                f"{result['busiest_second']}, {result['done']}/{result['paid']} paid seen"
            )
            results.append(result)
    data: dict[str, Any] = {
        "benchmark": "watch",
        "machine": machine,
        "settings": {
            "invoices": args.invoices,
            "max_rps": args.max_rps,
            "poll_share": args.poll_share,
            "load": args.load,
            "interval_s": args.interval,
            "duration_s": args.duration,
            "pay": args.pay,
            "pay_window_s": args.pay_window,
            "store": args.store,
            "concurrency": args.concurrency,
        },
        "results": results,
    }
    data["targets"] = _targets(results, args)
    met = sum(1 for t in data["targets"] if t["ok"])
    data["summary"] = f"SUMMARY watch: {met} of {len(data['targets'])} targets met"
    return data


def _targets(results: Sequence[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    by = {r["variant"]: r for r in results}
    targets = []
    if (tracker := by.get("tracker")) is not None:
        poll_cap = args.max_rps * args.poll_share
        rate = tracker["requests_per_s"] / poll_cap
        targets += [
            {
                "name": f"tracker: RSS growth <= {RSS_TARGET_MB:g} MB",
                "value": tracker["rss_growth_mb"],
                "ok": tracker["rss_growth_mb"] <= RSS_TARGET_MB,
            },
            {
                "name": f"tracker: requests/s within {RATE_TOLERANCE:.0%} of the polls' "
                f"share of the budget ({poll_cap:g}/s)",
                "value": rate,
                "ok": rate >= 1 - RATE_TOLERANCE,
            },
        ]
    for variant in ("tracker", "tracker-webhooks"):
        if (result := by.get(variant)) is not None:
            targets += [
                {
                    "name": f"{variant}: busiest second <= the budget ({args.max_rps})",
                    "value": result["busiest_second"],
                    "ok": result["busiest_second"] <= args.max_rps,
                },
                {
                    "name": f"{variant}: every paid intervention resolved",
                    "value": result["done"],
                    "ok": result["done"] == result["paid"] and not result["pay_errors"],
                },
            ]
    return targets


_COLUMNS = [
    ("variant", "variant", str),
    ("requests/s", "requests_per_s", lambda v: f"{v:,.1f}"),
    ("busiest s", "busiest_second", lambda v: f"{v:,}"),
    ("polls/inv", "polls_per_invoice", lambda v: f"{v:.2f}"),
    ("later/inv/int", "later_polls_per_invoice_per_interval", lambda v: f"{v:.2f}"),
    ("CPU us/poll", "cpu_us_per_poll", lambda v: f"{v:,.0f}"),
    ("RSS +MB", "rss_growth_mb", lambda v: f"{v:.1f}"),
    ("wait p50 s", "wait_p50_s", lambda v: f"{v:.2f}"),
    ("wait p95 s", "wait_p95_s", lambda v: f"{v:.2f}"),
    ("seen/paid", None, None),
    ("server CPU", None, None),
]


def report(data: dict[str, Any]) -> str:
    """The readable results, the targets and the summary line."""
    settings = data["settings"]
    rows = []
    for result in data["results"]:
        row = []
        for _, key, fmt in _COLUMNS:
            if key is None:
                continue
            value = result.get(key)
            row.append("-" if value is None else fmt(value))  # type: ignore[operator]
        row.append(f"{result['done']}/{result['paid']}")
        server = result["server_cpu_s"]
        share = None if server is None else server / result["seconds"]
        row.append("-" if share is None else f"{share:.0%}")
        rows.append(row)
    lines = [
        f"watch: {settings['invoices']:,} invoices, polled every {settings['interval_s']:.1f} s "
        f"for {settings['duration_s']:.1f} s; budget {settings['max_rps']}/s "
        f"(polls {settings['poll_share']:g} of it), store {settings['store']}",
        _stats.table([name for name, _, _ in _COLUMNS], rows),
        "",
    ]
    for target in data["targets"]:
        value = target["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(f"[{'PASS' if target['ok'] else 'MISS'}] {target['name']}: {shown}")
    by = {r["variant"]: r for r in data["results"]}
    if (waits := by.get("wait-for")) is not None:
        under = waits["busiest_second"] <= settings["max_rps"]
        lines.append(
            f"wait-for: busiest second {waits['busiest_second']:,} against a budget of "
            f"{settings['max_rps']}: {'under' if under else 'above'} it"
        )
    lines.append(data["summary"])
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (missed targets never fail it)."""
    args = parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    data = asyncio.run(run(args, log))
    _stats.write_json(args.output, data)
    print(report(data))
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
