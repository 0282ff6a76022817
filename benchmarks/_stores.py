"""``benchmarks.resolver --store``: the resolver on memory, SQLite and Redis, side by side.

For each store (and each worker count on the durable ones), N invoices are created and
paid over or under on a fake Calypso in a child process, then handed to worker
processes (``benchmarks._store_worker``): each accepts its share through the store, as
the webhook receiver of its replica would, and every worker resolves from the store
until it is empty. The memory store runs one worker (it cannot be shared). Measured per
run: interventions per second, p50/p95 from accept to the reported outcome, store
operations and the time awaited in them per resolution, client CPU per resolution (all
workers together), and, from the fake, that every overpaid invoice was returned to paid
exactly once and closed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from calypso_async import CalypsoClient, InvoiceState

from . import _stats
from ._rounds import create_invoices
from ._server import FakeServerProcess

OVERPAY = "10.50"
UNDERPAY = "10.00"
SPEED_TARGET = 0.75
STORE_TIME_TARGET = 0.10


@contextlib.asynccontextmanager
async def _redis(url: str | None, log: Callable[[str], None]) -> AsyncIterator[str | None]:
    """The Redis to use: ``url``, or a redis-server of the benchmark's own, or none."""
    if importlib.util.find_spec("redis") is None:
        log("the redis package is missing (pip install -e '.[redis]'): the Redis runs are skipped")
        yield None
        return
    if url:
        yield url
        return
    program = shutil.which("redis-server")
    if program is None:
        log("no redis-server and no --redis-url: the Redis runs are skipped")
        yield None
        return
    folder = tempfile.mkdtemp(prefix="calypso-bench-redis-")
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        program,
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", folder),
        *("--appendonly", "yes", "--save", ""),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                break
            await asyncio.sleep(0.05)
        log(f"redis-server {port} started for the benchmark (appendonly yes)")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        await process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _spawn(env: dict[str, str], store: str, args: argparse.Namespace) -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks._store_worker",
        "--store",
        store,
        "--concurrency",
        str(args.max_concurrency),
        "--poll-interval",
        repr(args.poll_interval),
        "--completion-timeout",
        repr(args.completion_timeout),
        env={**os.environ, **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def _drive(processes: list[Any], ids: list[str], args: argparse.Namespace) -> list[Any]:
    """Hand each worker its share, start them together, and collect what they report."""
    workers = len(processes)
    for process, index in zip(processes, range(workers), strict=True):
        process.stdin.write(json.dumps({"ids": ids[index::workers]}).encode() + b"\n")
        await process.stdin.drain()
    for process in processes:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"a worker did not start: {line!r}")
    for process in processes:
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    results = []
    for process in processes:
        out, _ = await asyncio.wait_for(process.communicate(), args.completion_timeout * 3)
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed (exit {process.returncode})")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


async def _one_run(
    server: FakeServerProcess,
    client: CalypsoClient,
    kind: str,
    store: str,
    workers: int,
    args: argparse.Namespace,
    log: Callable[[str], None],
) -> dict[str, Any]:
    ids = await create_invoices(client, args.interventions)
    overpaid = set(ids[: round(len(ids) * args.overpay_share)])
    random.Random(args.seed).shuffle(ids)
    replies = [server.command(f"pay {i} {OVERPAY if i in overpaid else UNDERPAY}") for i in ids]
    await server.drain()
    await asyncio.gather(*replies)
    processes: list[Any] = []
    try:
        for _ in range(workers):
            processes.append(await _spawn(server.env, store, args))
        results = await _drive(processes, ids, args)
    finally:
        # A failed or interrupted run must not leave a worker behind.
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    wrong = await _check(server, client, ids, overpaid)
    accepted = {k: v for r in results for k, v in r["accepted"].items()}
    closed = {k: v for r in results for k, v in r["closed"].items()}
    latencies = [closed[i] - accepted[i] for i in ids if i in closed and i in accepted]
    # From the first accept to the last outcome reported: join()'s own polling is not work.
    wall = max(closed.values()) - min(accepted.values())
    n = len(ids)
    cpu = sum(r["cpu_s"] for r in results)
    operations = sum(r["store_operations"] for r in results)
    seconds = sum(r["store_seconds"] for r in results)
    data = {
        "store": kind,
        "workers": workers,
        "interventions": n,
        "interventions_per_s": _stats.finite(n / wall),
        "wall_s": _stats.finite(wall),
        "p50_ms": _stats.finite(_stats.percentile(latencies, 50) * 1000),
        "p95_ms": _stats.finite(_stats.percentile(latencies, 95) * 1000),
        "client_cpu_ms_per_resolution": _stats.finite(cpu / n * 1000),
        "store_operations_per_resolution": _stats.finite(operations / n),
        "store_ms_per_resolution": _stats.finite(seconds / n * 1000),
        "store_share_of_cpu": _stats.finite(seconds / cpu) if cpu else None,
        "wrong": wrong[:10],
        "outcomes_right": n - len(wrong),
    }
    log(
        f"{kind:>6} x{workers}: {data['interventions_per_s']:.0f} interventions/s, "
        f"{data['store_operations_per_resolution']:.1f} store ops each, "
        f"{len(wrong)} wrong"
    )
    return data


async def _check(
    server: FakeServerProcess, client: CalypsoClient, ids: list[str], overpaid: set[str]
) -> list[str]:
    wrong = []
    for invoice_id in ids:
        invoice = await client.invoices.get(invoice_id)
        returns = (await server.command(f"returns {invoice_id}")).rsplit(" ", 1)[-1]
        if invoice_id in overpaid:
            done = invoice.state is InvoiceState.COMPLETED and invoice.is_intervention_resolved
            if not done or returns != "1":
                wrong.append(f"{invoice_id}: {invoice.state}, returned to paid {returns} times")
        elif invoice.state is not InvoiceState.PENDING_INTERVENTION or returns != "0":
            wrong.append(f"{invoice_id}: underpaid, yet {invoice.state} ({returns} returns)")
    return wrong


async def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    """Run every store and worker count asked for; return the results to write."""
    machine = _stats.machine()
    log(f"machine: {_stats.describe_machine(machine)}")
    if warning := _stats.busy_warning(machine):
        log(warning)
    folder = Path(tempfile.mkdtemp(prefix="calypso-bench-sqlite-"))
    runs: list[dict[str, Any]] = []
    try:
        async with (
            _redis(args.redis_url, log) as redis_url,
            FakeServerProcess(
                settle_delay=args.settle_delay, accept_repeated_return_to_paid=True
            ) as server,
            CalypsoClient.from_env(server.env) as client,
        ):
            for kind in args.stores:
                for workers in [1] if kind == "memory" else args.worker_counts:
                    if kind == "memory":
                        url = "memory://"
                    elif kind == "sqlite":
                        url = f"sqlite:///{folder}/run-{len(runs)}.db"
                    elif redis_url is None:
                        continue
                    else:
                        url = f"{redis_url}?namespace=bench-{uuid.uuid4().hex[:8]}"
                    runs.append(await _one_run(server, client, kind, url, workers, args, log))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _store_cpu(runs)
    return {
        "benchmark": "resolver-stores",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "settings": {
            "interventions": args.interventions,
            "overpay_share": args.overpay_share,
            "settle_delay_s": args.settle_delay,
            "poll_interval_s": args.poll_interval,
            "max_concurrency": args.max_concurrency,
        },
        "runs": runs,
        "targets": _targets(runs),
    }


def _store_cpu(runs: Sequence[dict[str, Any]]) -> None:
    """What the store costs in CPU: a run's CPU per resolution beyond memory's.

    The time awaited in store calls is no measure of it under load: with a hundred runs
    in flight it is mostly the event loop serving the others first.
    """
    memory = next((r for r in runs if r["store"] == "memory"), None)
    for run in runs:
        if memory is None or run["store"] == "memory":
            run["store_cpu_ms_per_resolution"] = None
            run["store_cpu_share"] = None
            continue
        extra = run["client_cpu_ms_per_resolution"] - memory["client_cpu_ms_per_resolution"]
        run["store_cpu_ms_per_resolution"] = extra
        run["store_cpu_share"] = extra / run["client_cpu_ms_per_resolution"]


def _targets(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    one = {run["store"]: run for run in runs if run["workers"] == 1}
    targets = []
    memory = one.get("memory")
    for kind in ("sqlite", "redis"):
        run = one.get(kind)
        if run is None:
            continue
        if memory is not None:
            ratio = run["interventions_per_s"] / memory["interventions_per_s"]
            targets.append(
                {
                    "name": f"{kind}, one worker: >= {SPEED_TARGET:g} x memory's interventions/s",
                    "value": ratio,
                    "ok": ratio >= SPEED_TARGET,
                }
            )
        share = run.get("store_cpu_share")
        if memory is None:
            continue  # the store's CPU is what it adds to memory's run: none to compare
        targets.append(
            {
                "name": f"{kind}, one worker: store's CPU <= {STORE_TIME_TARGET:.0%} of a "
                "resolution's client CPU",
                "value": share,
                "ok": share is not None and share <= STORE_TIME_TARGET,
            }
        )
    return targets


def report(data: dict[str, Any]) -> str:
    """The table, the targets and the summary line."""
    rows = [
        [
            run["store"],
            run["workers"],
            f"{run['interventions_per_s']:,.0f}",
            f"{run['p50_ms']:,.0f}",
            f"{run['p95_ms']:,.0f}",
            f"{run['store_operations_per_resolution']:.1f}",
            f"{run['store_ms_per_resolution']:.2f}",
            f"{run['client_cpu_ms_per_resolution']:.2f}",
            "-"
            if run["store_cpu_ms_per_resolution"] is None
            else f"{run['store_cpu_ms_per_resolution']:.2f} ({run['store_cpu_share']:.0%})",
            f"{run['outcomes_right']}/{run['interventions']}",
        ]
        for run in data["runs"]
    ]
    headers = [
        "store",
        "workers",
        "interv./s",
        "p50 ms",
        "p95 ms",
        "store ops",
        "awaited ms",
        "CPU ms",
        "store CPU ms",
        "right",
    ]
    settings = data["settings"]
    lines = [
        f"resolver on stores: {settings['interventions']} interventions a run, "
        f"max_concurrency {settings['max_concurrency']} per worker, settle delay "
        f"{settings['settle_delay_s']:g} s, poll_interval {settings['poll_interval_s']:g} s",
        "(per resolution: store operations, ms awaited in them, client CPU of every worker, "
        "and the store's CPU: the CPU beyond memory's run)",
        _stats.table(headers, rows),
        "",
    ]
    for run in data["runs"]:
        lines += [f"wrong ({run['store']} x{run['workers']}): {w}" for w in run["wrong"]]
    for target in data["targets"]:
        value = "-" if target["value"] is None else f"{target['value']:.2f}"
        lines.append(f"[{'PASS' if target['ok'] else 'MISS'}] {target['name']}: {value}")
    if not data["targets"]:
        lines.append("(the targets compare a store with memory: run memory too, or --store all)")
    met = sum(1 for target in data["targets"] if target["ok"])
    right = all(run["outcomes_right"] == run["interventions"] for run in data["runs"])
    lines.append(
        f"SUMMARY resolver-stores: {met} of {len(data['targets'])} targets met; "
        f"outcomes {'all right' if right else 'WRONG'}"
    )
    return "\n".join(lines)
