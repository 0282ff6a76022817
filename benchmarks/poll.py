"""Concurrent invoice polling: the SDK against a hand-written raw aiohttp client.

``python -m benchmarks.poll`` starts ``calypso-async fake`` in a child process (its CPU
is not charged to the client), creates the invoices, then at each concurrency level runs
the variants interleaved round by round, rotating which goes first:

* ``raw``: :class:`benchmarks._raw.RawClient`, the best a user could hand-write;
* ``sdk``: ``client.invoices.get`` through ``CalypsoClient``;
* ``sdk-wait``: ``client.invoices.wait_for`` over fresh invoices that the fake completes
  at staggered times (paid one by one across ``--wait-window`` seconds).

First, ``--watch`` invoices are watched at once with ``wait_for`` in a process of its own
(``benchmarks._watch``, a fresh heap and its own fake), to check errors and RSS growth.
Results go to JSON, a table and a summary line holding the targets; ``--chart`` draws a
PNG when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from calypso_async import CalypsoClient

from . import _stats
from ._poll_report import check_targets, draw_chart, ratios, report, summarise, summary_line
from ._raw import SDK_CONNECTION_LIMIT, RawClient
from ._rounds import Measure, Round, TimedGets, create_invoices, poll_round, wait_round
from ._server import FakeServerProcess

VARIANTS = ("raw", "sdk", "sdk-wait")
_REPOSITORY = Path(__file__).resolve().parent.parent


def _parse_levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("levels must be positive integers")
    return levels


def _parse_variants(text: str) -> list[str]:
    variants = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        raise argparse.ArgumentTypeError(f"variants are among {', '.join(VARIANTS)}")
    return variants


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line (``--help`` lists every option and its default)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.poll",
        description="Concurrent invoice polling: raw aiohttp vs CalypsoClient, interleaved.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--invoices", type=int, default=1000, help="invoices polled by get")
    parser.add_argument(
        "--levels", type=_parse_levels, default="1,10,100,1000", help="polls in flight"
    )
    parser.add_argument("--rounds", type=int, default=10, help="raw/sdk rounds (pairs) per level")
    parser.add_argument(
        "--wait-rounds", type=int, default=3, help="sdk-wait rounds per level, spread among them"
    )
    parser.add_argument(
        "--duration", type=float, default=0.3, help="seconds measured per get round, once steady"
    )
    parser.add_argument(
        "--variants", type=_parse_variants, default=",".join(VARIANTS), help="comma-separated"
    )
    parser.add_argument(
        "--wait-window", type=float, default=0.6, help="sdk-wait: seconds over which invoices pay"
    )
    parser.add_argument(
        "--wait-interval", type=float, default=0.1, help="sdk-wait: wait_for interval"
    )
    parser.add_argument(
        "--wait-max-interval", type=float, default=0.5, help="sdk-wait: wait_for max_interval"
    )
    parser.add_argument(
        "--watch", type=int, default=10_000, help="invoices watched at once (0: skip)"
    )
    parser.add_argument(
        "--watch-window", type=float, default=2.0, help="seconds over which watched ones pay"
    )
    parser.add_argument(
        "--settle-delay", type=float, default=0.05, help="fake: seconds from PAID to COMPLETED"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="fake: seconds added to every answer, to model a remote API's round trip",
    )
    parser.add_argument("--seed", type=int, default=42, help="orders the staggered payments")
    parser.add_argument(
        "--output", type=Path, default=_stats.default_output("poll"), help="JSON path"
    )
    parser.add_argument(
        "--chart",
        nargs="?",
        const="",
        type=str,
        help="also draw a PNG (needs the bench extra: matplotlib); optional path",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the tables")
    args = parser.parse_args(argv)
    for name in ("invoices", "rounds", "wait_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.wait_rounds = min(args.wait_rounds, args.rounds)
    if args.watch < 0 or args.latency < 0:
        parser.error("--watch and --latency must be 0 or more")
    for name in ("duration", "wait_window", "wait_interval", "wait_max_interval"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


async def _run_watch(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    log(f"watching {args.watch} invoices at once with wait_for (own process and server) ...")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks._watch",
        *("--count", str(args.watch), "--window", repr(args.watch_window)),
        *("--interval", repr(args.wait_interval), "--max-interval", repr(args.wait_max_interval)),
        *("--settle-delay", repr(args.settle_delay), "--seed", str(args.seed)),
        cwd=_REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        out, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"the watch process failed with exit code {process.returncode}")
    watch: dict[str, Any] = json.loads(out)
    log(
        f"  {watch['completed']}/{watch['invoices']} completed in {watch['seconds']:.1f} s, "
        f"{watch['errors']} errors, RSS +{watch['rss_growth_mb']:.1f} MB"
    )
    return watch


async def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the whole benchmark and return the results (the JSON that is written)."""
    machine = _stats.machine()
    log(f"machine: {_stats.describe_machine(machine)}")
    if warning := _stats.busy_warning(machine):
        log(warning)
    rng = random.Random(args.seed)
    levels: list[int] = args.levels
    variants: list[str] = args.variants
    get_variants = [v for v in variants if v != "sdk-wait"]
    rss = _stats.RssSampler()
    rounds: dict[int, dict[str, list[Round]]] = {
        level: {v: [] for v in variants} for level in levels
    }
    watch = await _run_watch(args, log) if args.watch else None
    async with (
        FakeServerProcess(settle_delay=args.settle_delay, latency=args.latency) as server,
        CalypsoClient.from_env(server.env) as sdk,
        CalypsoClient.from_env(server.env) as waiting,
        RawClient(
            base_url=server.env["CALYPSO_BASE_URL"],
            api_key=server.env["CALYPSO_API_KEY"],
            secret_key=server.env["CALYPSO_SECRET_KEY"],
            account=server.env["CALYPSO_ACCOUNT"],
        ) as raw,
        rss.running(),
    ):
        log(f"fake server: pid {server.pid} at {server.env['CALYPSO_BASE_URL']}")
        wait_count = args.wait_rounds * sum(levels) if "sdk-wait" in variants else 0
        # sdk-wait is compared with nothing, so a few of its (long) rounds suffice; they
        # are spread evenly among the raw/sdk rounds.
        wait_in = {number * args.rounds // args.wait_rounds for number in range(args.wait_rounds)}
        total = (args.invoices if get_variants else 0) + wait_count
        started = time.perf_counter()
        ids = await create_invoices(sdk, total)
        log(f"created {total} invoices in {time.perf_counter() - started:.1f} s")
        pool = ids[: args.invoices] if get_variants else []
        fresh = ids[len(pool) :]
        timed = TimedGets(waiting)
        measure = Measure(server, rss)
        getters: dict[str, Callable[[str], Awaitable[object]]] = {
            "raw": raw.get_invoice,
            "sdk": sdk.invoices.get,
        }

        for level in levels:
            for variant in get_variants:  # warm-up: connections, caches; not recorded
                await poll_round(
                    variant, getters[variant], pool, level, min(0.2, args.duration), measure
                )
            for number in range(args.rounds):
                order = [v for v in variants if v != "sdk-wait" or number in wait_in]
                # Rotate the order each round, so neither variant always goes first.
                shift = number % len(order)
                for variant in order[shift:] + order[:shift]:
                    if variant == "sdk-wait":
                        batch, fresh = fresh[:level], fresh[level:]
                        result = await wait_round(
                            waiting,
                            timed,
                            server,
                            batch,
                            window=args.wait_window,
                            interval=args.wait_interval,
                            max_interval=args.wait_max_interval,
                            settle_delay=args.settle_delay,
                            rng=rng,
                            measure=measure,
                        )
                    else:
                        result = await poll_round(
                            variant, getters[variant], pool, level, args.duration, measure
                        )
                    rounds[level][variant].append(result)
            log(f"  level {level}: done")

    results = [summarise(rounds[level][v]) for level in levels for v in variants]
    level_ratios = [r for level in levels if (r := ratios(rounds[level], level)) is not None]
    targets = check_targets(level_ratios, watch)
    return {
        "benchmark": "poll",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "load_average_at_end": _stats.machine()["load_average"],
        "settings": {
            "invoices": args.invoices,
            "levels": levels,
            "rounds": args.rounds,
            "wait_rounds": args.wait_rounds,
            "duration_s": args.duration,
            "variants": variants,
            "connection_limit": SDK_CONNECTION_LIMIT,
            "wait_window_s": args.wait_window,
            "wait_interval_s": args.wait_interval,
            "wait_max_interval_s": args.wait_max_interval,
            "watch": args.watch,
            "watch_window_s": args.watch_window,
            "settle_delay_s": args.settle_delay,
            "latency_s": args.latency,
            "seed": args.seed,
        },
        "results": results,
        "ratios": level_ratios,
        "watch": watch,
        "targets": targets,
        "process_peak_rss_mb": _stats.finite(_stats.peak_rss_mb()),
        "summary": summary_line(targets),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 only when polls failed (timings never fail it)."""
    args = parse_args(argv)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    data = asyncio.run(run(args, log))
    output: Path = args.output
    _stats.write_json(output, data)
    print(report(data))
    print(f"results: {output}")
    if args.chart is not None:
        chart = Path(args.chart) if args.chart else output.with_suffix(".png")
        if draw_chart(data, chart):
            print(f"chart: {chart}")
        else:
            print("chart: skipped (matplotlib is not installed: pip install -e '.[bench]')")
    errors = sum(r["errors"] for r in data["results"]) + (
        data["watch"]["errors"] if data["watch"] else 0
    )
    return 1 if errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the fake server has been stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
