"""One worker process of ``benchmarks.resolver --store``: intake and resolution on a store.

Started by the benchmark with the fake's ``CALYPSO_*`` variables. It reads one JSON line
on stdin (the invoice ids this worker accepts, as the webhook receiver of its replica
would), opens the store, starts an ``InterventionResolver`` and prints ``ready``; on
``go`` it accepts its ids, waits until the store holds nothing pending or running
(every worker's share is done), and prints one JSON line: its CPU time, when each of its
accepts happened and when each resolution it ran was reported, and how many store
operations it made and how long they took.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from calypso_async import CalypsoClient, InterventionResolver, Resolution
from calypso_async.stores import store_from_url

# The store operations a resolution makes, by the methods that send them: for Redis
# every Lua script (each one round trip: intake, claims, the write-ahead record,
# release) and the one plain read; for SQLite each operation and each claim attempt;
# memory's are dictionary lookups. Waiting for work (a blocking read, a sleep between
# polls) is not timed, and counts() only serves join().
_OPERATIONS = {
    "RedisStore": ("_script", "write_hold"),
    "SQLiteStore": (
        "accept",
        "renew",
        "release",
        "begin_write",
        "settle_write",
        "write_landed",
        "write_hold",
        "_claim",
    ),
    "MemoryStore": ("accept", "release", "begin_write", "settle_write", "write_landed"),
}


class StoreMeter:
    """Counts a store's operations and the time awaited in them, by patching its class."""

    def __init__(self) -> None:
        self.operations = 0
        self.seconds = 0.0

    def install(self, store: Any) -> None:
        cls = type(store)
        for name in _OPERATIONS[cls.__name__]:
            original = getattr(cls, name, None)
            if original is not None:
                setattr(cls, name, self._wrap(original))

    def _wrap(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self.operations += 1
                self.seconds += time.perf_counter() - started

        return timed


async def work(args: argparse.Namespace) -> dict[str, Any]:
    ids: list[str] = json.loads(sys.stdin.readline())["ids"]
    meter = StoreMeter()
    store = store_from_url(args.store)
    meter.install(store)
    closed: dict[str, float] = {}
    accepted: dict[str, float] = {}

    def on_outcome(resolution: Resolution) -> None:
        if resolution.invoice_id is not None:
            closed[resolution.invoice_id] = time.time()

    async with store, CalypsoClient.from_env() as client:
        resolver = InterventionResolver(
            client,
            store=store,
            max_concurrency=args.concurrency,
            poll_interval=args.poll_interval,
            completion_timeout=args.completion_timeout,
            max_queue=max(len(ids), 1),
            on_outcome=on_outcome,
        )
        async with resolver:
            print("ready", flush=True)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, sys.stdin.readline)  # "go"
            cpu = time.process_time()
            started = time.time()
            for invoice_id in ids:
                accepted[invoice_id] = time.time()
                await resolver.accept(invoice_id)
            await resolver.join()
            finished = time.time()
            cpu = time.process_time() - cpu
    return {
        "started": started,
        "finished": finished,
        "cpu_s": cpu,
        "accepted": accepted,
        "closed": closed,
        "store_operations": meter.operations,
        "store_seconds": meter.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._store_worker")
    parser.add_argument("--store", required=True)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--completion-timeout", type=float, default=60.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(work(args))), flush=True)


if __name__ == "__main__":
    main()
