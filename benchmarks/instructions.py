"""Client CPU instructions per poll, counted by valgrind: figures that noise cannot move.

``python -m benchmarks.instructions`` starts the fake server in a child process, creates
invoices, then runs the raw client and the SDK (``client.invoices.get``) under
``valgrind --tool=callgrind`` for two numbers of polls at the same concurrency. The
difference of the two totals, divided by the difference of polls, is what one poll
costs the client, start-up and import excluded; the same for structuring one
``Invoice`` without a network. Instruction counts repeat to within a fraction of a
percent whatever else the machine does, where the timed benchmarks' ratios move by
0.1 between two runs on a shared 2-CPU VM: this is the benchmark to compare commits
with. It counts instructions, not time: cache misses and memory traffic do not show.

Needs valgrind (Debian's ``valgrind`` package); a run takes three to four minutes, most of it
Python starting six times under valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from calypso_async import CalypsoClient, Invoice
from calypso_async._core import json as _json
from calypso_async._types.converter import structure

from . import _stats
from ._raw import RawClient
from ._server import FakeServerProcess

_COLLECTED = re.compile(rb"Collected : (\d+)")
_REPOSITORY = Path(__file__).resolve().parent.parent


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line (``--help`` lists every option and its default)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions",
        description="Client CPU instructions per poll under callgrind: SDK vs raw.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--concurrency", type=int, default=10, help="polls in flight")
    parser.add_argument("--polls", type=int, nargs=2, default=[200, 700], help="two runs")
    parser.add_argument(
        "--structures", type=int, nargs=2, default=[500, 3000], help="two structure runs"
    )
    parser.add_argument(
        "--output", type=Path, default=_stats.default_output("instructions"), help="JSON path"
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or not 0 < args.polls[0] < args.polls[1]:
        parser.error("--concurrency must be positive and --polls two increasing counts")
    if not 0 < args.structures[0] < args.structures[1]:
        parser.error("--structures must be two increasing counts")
    return args


# -- the child: what runs under valgrind ------------------------------------------------


async def _poll(variant: str, concurrency: int, polls: int, ids: list[str]) -> None:
    env = os.environ
    if variant == "raw":
        async with RawClient(
            base_url=env["CALYPSO_BASE_URL"],
            api_key=env["CALYPSO_API_KEY"],
            secret_key=env["CALYPSO_SECRET_KEY"],
            account=env["CALYPSO_ACCOUNT"],
        ) as raw:
            await _keep_in_flight(raw.get_invoice, concurrency, polls, ids)
    else:
        async with CalypsoClient.from_env() as client:
            await _keep_in_flight(client.invoices.get, concurrency, polls, ids)


async def _keep_in_flight(get: Any, concurrency: int, polls: int, ids: list[str]) -> None:
    started = 0

    async def worker() -> None:
        nonlocal started
        while started < polls:
            started += 1
            await get(ids[started % len(ids)])

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _structure(count: int, answer: bytes) -> None:
    data = _json.loads(answer)
    for _ in range(count):
        structure(data, Invoice)


def child(argv: Sequence[str]) -> int:
    """``python -m benchmarks.instructions --child MODE ...``: the measured program."""
    mode, count, concurrency, data_file = argv[0], int(argv[1]), int(argv[2]), argv[3]
    data = json.loads(Path(data_file).read_text())
    if mode == "structure":
        _structure(count, data["answer"].encode())
    else:
        asyncio.run(_poll(mode, concurrency, count, data["ids"]))
    return 0


# -- the parent --------------------------------------------------------------------------


def _collected(env: dict[str, str], *args: str) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, "-m", "benchmarks.instructions", "--child", *args]
    done = subprocess.run(command, cwd=_REPOSITORY, env=env, capture_output=True, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        tail = done.stderr.decode(errors="replace")[-800:]
        raise RuntimeError(f"the measured run failed ({done.returncode}):\n{tail}")
    return int(found.group(1))


def _per_item(env: dict[str, str], mode: str, counts: Sequence[int], *rest: str) -> float:
    low, high = (_collected(env, mode, str(count), *rest) for count in counts)
    return (high - low) / (counts[1] - counts[0])


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Count, and return the results (the JSON written)."""
    with tempfile.TemporaryDirectory() as scratch:
        data_file = Path(scratch) / "data.json"
        measured: dict[str, float] = {}

        async def measure_live() -> None:
            async with FakeServerProcess(settle_delay=None) as server:
                async with CalypsoClient.from_env(server.env) as client:
                    ids = []
                    for number in range(100):
                        invoice = await client.invoices.create_single(
                            amount="10.234", currency="USDT", description=f"i{number}"
                        )
                        ids.append(invoice.id)
                    answer = await client.session.call(
                        "/api/v1/invoice", {"id": ids[0]}, retry=True
                    )
                data_file.write_text(
                    json.dumps({"ids": ids, "answer": _json.dumps(answer).decode()})
                )
                env = {**os.environ, **server.env}
                rest = (str(args.concurrency), str(data_file))
                for variant in ("raw", "sdk"):
                    print(f"counting {variant} ...", file=sys.stderr, flush=True)
                    measured[variant] = await asyncio.to_thread(
                        _per_item, env, variant, args.polls, *rest
                    )

        asyncio.run(measure_live())
        print("counting structure ...", file=sys.stderr, flush=True)
        measured["structure"] = _per_item(
            dict(os.environ), "structure", args.structures, "1", str(data_file)
        )
    raw, sdk = measured["raw"], measured["sdk"]
    return {
        "benchmark": "instructions",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _stats.machine(),
        "settings": {
            "concurrency": args.concurrency,
            "polls": args.polls,
            "structures": args.structures,
        },
        "raw_per_poll": round(raw),
        "sdk_per_poll": round(sdk),
        "sdk_over_raw": round(sdk / raw, 4),
        "structure_invoice": round(measured["structure"]),
        "summary": (
            f"SUMMARY instructions: a poll costs the client {sdk:,.0f} instructions in the "
            f"SDK and {raw:,.0f} raw ({sdk / raw:.3f} x), of which {measured['structure']:,.0f} "
            "structure the Invoice"
        ),
    }


def report(data: dict[str, Any]) -> str:
    """The readable table and the summary line."""
    rows = [
        ["poll (raw)", f"{data['raw_per_poll']:,}"],
        ["poll (sdk)", f"{data['sdk_per_poll']:,}"],
        ["sdk/raw", f"{data['sdk_over_raw']:.3f}"],
        ["structure an Invoice (sdk)", f"{data['structure_invoice']:,}"],
    ]
    return "\n".join([_stats.table(["instructions per call", "count"], rows), "", data["summary"]])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the counts and print the table; exit 2 without valgrind."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    args = parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt install valgrind)", file=sys.stderr)
        return 2
    data = run(args)
    _stats.write_json(args.output, data)
    print(report(data))
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
