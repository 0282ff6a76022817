"""Measuring helpers shared by the benchmarks: percentiles, memory, CPU, machine, tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import sys
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) of ``values``, linearly interpolated.

    ``NaN`` for an empty sequence, so a variant that never answered shows as such.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rss_mb() -> float:
    """The resident memory of this process now, in MB (``VmRSS``; the peak elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    """The highest resident memory this process has had, in MB (``ru_maxrss``)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def child_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid``; ``None`` off Linux."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used, steal included; ``None`` off Linux.

    Less this benchmark's own processes, it says how much other work ran alongside.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples ``VmRSS`` every ``interval`` seconds; :meth:`restart` begins a new window.

    ``ru_maxrss`` only ever grows for the whole process, so per-phase peaks need sampling.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self._interval = interval
        self.peak = rss_mb()

    def restart(self) -> float:
        """Begin a new window at the current RSS and return that RSS."""
        self.peak = now = rss_mb()
        return now

    def sample(self) -> None:
        """Take one sample now."""
        self.peak = max(self.peak, rss_mb())

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RssSampler]:
        """Sample in a background task for as long as the block runs."""

        async def loop() -> None:
            while True:
                self.sample()
                await asyncio.sleep(self._interval)

        task = asyncio.create_task(loop(), name="rss sampler")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.sample()


def cpu_seconds() -> float:
    """CPU seconds (user + system, all threads) this process has used."""
    return time.process_time()


def machine() -> dict[str, Any]:
    """Describe where a benchmark ran: CPUs, model, Python, aiohttp, load."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "aiohttp": version("aiohttp"),
        "cattrs": version("cattrs"),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }


def describe_machine(info: dict[str, Any]) -> str:
    """One line for the top of a report."""
    load = info.get("load_average")
    return (
        f"{info['cpus']} CPU(s), {info['cpu_model']}; {info['implementation']} "
        f"{info['python']}, aiohttp {info['aiohttp']}, cattrs {info['cattrs']}; "
        f"load average at start {load[0] if load else '?'}"
    )


def busy_warning(info: dict[str, Any]) -> str | None:
    """A warning when other work was already loading the machine at the start."""
    load = info.get("load_average")
    cpus = info.get("cpus") or 1
    if load and load[0] > 0.5 * cpus:
        return (
            f"warning: load average {load[0]} on {cpus} CPU(s) at the start: other work "
            "is running and the figures will be noisy"
        )
    return None


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table, right-aligned except the first column."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def default_output(name: str) -> Path:
    """``benchmarks/results/<name>-<UTC time>.json`` (the folder is git-ignored)."""
    return RESULTS_DIR / f"{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(data, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8"
    )


def finite(value: float) -> float | None:
    """``value`` rounded for JSON, or ``None`` where it is not a number (JSON has no NaN)."""
    return None if math.isnan(value) or math.isinf(value) else round(value, 4)
