"""Many invoices watched at once with ``wait_for``, in a process of its own.

A fresh process has a fresh heap: memory that earlier rounds freed but kept would hide
the growth being measured, and the watch's own growth would inflate every later peak.
It starts its own fake server, creates the invoices, then waits on all of them while
they are paid one by one across ``--window`` seconds, and prints one JSON object.
``benchmarks.poll`` runs it; ``python -m benchmarks._watch --help`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import sys
from collections.abc import Sequence
from typing import Any

from calypso_async import CalypsoClient

from . import _stats
from ._poll_report import summarise
from ._rounds import Measure, TimedGets, create_invoices, wait_round
from ._server import FakeServerProcess


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line (``--help`` lists every option and its default)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks._watch",
        description="Watch many invoices at once with wait_for; print the figures as JSON.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--count", type=int, default=10_000, help="invoices watched at once")
    parser.add_argument("--window", type=float, default=2.0, help="seconds over which they pay")
    parser.add_argument("--interval", type=float, default=0.1, help="wait_for interval")
    parser.add_argument("--max-interval", type=float, default=0.5, help="wait_for max_interval")
    parser.add_argument("--settle-delay", type=float, default=0.05, help="PAID to COMPLETED")
    parser.add_argument("--seed", type=int, default=42, help="orders the payments")
    return parser.parse_args(argv)


async def watch(args: argparse.Namespace) -> dict[str, Any]:
    """Create ``args.count`` invoices, watch them all at once, and measure."""
    rss = _stats.RssSampler()
    async with (
        FakeServerProcess(settle_delay=args.settle_delay) as server,
        CalypsoClient.from_env(server.env) as client,
    ):
        ids = await create_invoices(client, args.count)
        timed = TimedGets(client)
        gc.collect()
        async with rss.running():
            before = rss.restart()
            result = await wait_round(
                client,
                timed,
                server,
                ids,
                window=args.window,
                interval=args.interval,
                max_interval=args.max_interval,
                settle_delay=args.settle_delay,
                rng=random.Random(args.seed),
                measure=Measure(server, rss),
                variant="watch",
            )
    summary = summarise([result])
    summary.update(
        completed=len(result.lags),
        rss_before_mb=_stats.finite(before),
        rss_growth_mb=_stats.finite(result.peak_rss_mb - before),
        rss_after_mb=_stats.finite(_stats.rss_mb()),
    )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Run the watch and print its figures as one JSON object on stdout."""
    print(json.dumps(asyncio.run(watch(parse_args(argv)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
