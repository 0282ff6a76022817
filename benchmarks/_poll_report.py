"""Turning rounds into figures: aggregates, sdk/raw ratios, targets, tables, a chart."""

from __future__ import annotations

import importlib
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _stats
from ._rounds import Round

THROUGHPUT_TARGET = 0.90
CPU_TARGET = 1.25
WATCH_RSS_TARGET_MB = 100.0


def _ms(seconds: float) -> float:
    return seconds * 1000


def summarise(rounds: Sequence[Round]) -> dict[str, Any]:
    """Aggregate the rounds of one variant at one level into the reported figures."""
    first = rounds[0]
    latencies = [value for r in rounds for value in r.latencies]
    lags = [value for r in rounds for value in r.lags]
    polls = sum(r.polls for r in rounds)
    seconds = sum(r.seconds for r in rounds)
    cpu = sum(r.cpu_seconds for r in rounds)
    server_cpu = [r.server_cpu_seconds for r in rounds]
    summary: dict[str, Any] = {
        "variant": first.variant,
        "concurrency": first.concurrency,
        "rounds": len(rounds),
        "polls": polls,
        "seconds": _stats.finite(seconds),
        "polls_per_s": _stats.finite(polls / seconds if seconds else math.nan),
        "p50_ms": _stats.finite(_ms(_stats.percentile(latencies, 50))),
        "p95_ms": _stats.finite(_ms(_stats.percentile(latencies, 95))),
        "p99_ms": _stats.finite(_ms(_stats.percentile(latencies, 99))),
        "oldest_waiting_ms": _stats.finite(
            _ms(max((r.oldest_waiting for r in rounds), default=math.nan))
        ),
        "cpu_us_per_poll": _stats.finite(cpu / polls * 1e6 if polls else math.nan),
        "peak_rss_mb": _stats.finite(max(r.peak_rss_mb for r in rounds)),
        "errors": sum(r.errors for r in rounds),
        "error_samples": [s for r in rounds for s in r.error_samples][:3],
        "server_cpu_util": _utilisation(server_cpu, seconds),
        "client_cpu_util": _stats.finite(cpu / seconds if seconds else math.nan),
        "others_cpu_util": _utilisation([r.others_cpu_seconds for r in rounds], seconds),
        "round_polls_per_s": [_stats.finite(r.polls_per_second) for r in rounds],
        "round_cpu_us_per_poll": [_stats.finite(r.cpu_us_per_poll) for r in rounds],
    }
    if first.invoices:
        summary["invoices"] = sum(r.invoices for r in rounds)
        summary["polls_per_invoice"] = _stats.finite(
            polls / summary["invoices"] if summary["invoices"] else math.nan
        )
        summary["lag_p50_ms"] = _stats.finite(_ms(_stats.percentile(lags, 50)))
        summary["lag_p95_ms"] = _stats.finite(_ms(_stats.percentile(lags, 95)))
    return summary


def _utilisation(cpu_seconds: Sequence[float | None], seconds: float) -> float | None:
    if not seconds or any(value is None for value in cpu_seconds):
        return None
    return _stats.finite(sum(value or 0.0 for value in cpu_seconds) / seconds)


def ratios(by_variant: dict[str, list[Round]], level: int) -> dict[str, Any] | None:
    """sdk/raw at one level: the median over rounds of each round pair's ratio.

    Each pair ran back to back, so noise that hits a pair hits both of its variants.
    """
    raw, sdk = by_variant.get("raw"), by_variant.get("sdk")
    if not raw or not sdk:
        return None
    pairs = list(zip(raw, sdk, strict=True))
    throughput = [s.polls_per_second / r.polls_per_second for r, s in pairs]
    cpu = [s.cpu_us_per_poll / r.cpu_us_per_poll for r, s in pairs]
    return {
        "concurrency": level,
        "throughput_sdk_over_raw": _stats.finite(statistics.median(throughput)),
        "cpu_per_poll_sdk_over_raw": _stats.finite(statistics.median(cpu)),
        "round_throughput_ratios": [_stats.finite(x) for x in throughput],
        "round_cpu_ratios": [_stats.finite(x) for x in cpu],
    }


def check_targets(
    level_ratios: Sequence[dict[str, Any]], watch: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The README's targets, each with the measured value and whether it is met."""
    targets: list[dict[str, Any]] = []
    if level_ratios:
        worst = min(level_ratios, key=lambda r: r["throughput_sdk_over_raw"] or 0.0)
        value = worst["throughput_sdk_over_raw"]
        targets.append(
            {
                "name": f"sdk throughput >= {THROUGHPUT_TARGET:.2f} x raw at every level",
                "value": value,
                "at_concurrency": worst["concurrency"],
                "ok": value is not None and value >= THROUGHPUT_TARGET,
            }
        )
        worst = max(level_ratios, key=lambda r: r["cpu_per_poll_sdk_over_raw"] or math.inf)
        value = worst["cpu_per_poll_sdk_over_raw"]
        targets.append(
            {
                "name": f"sdk client CPU per poll <= {CPU_TARGET:.2f} x raw at every level",
                "value": value,
                "at_concurrency": worst["concurrency"],
                "ok": value is not None and value <= CPU_TARGET,
            }
        )
    if watch is not None:
        targets.append(
            {
                "name": (
                    f"{watch['invoices']} invoices watched at once with wait_for: no errors, "
                    f"RSS growth < {WATCH_RSS_TARGET_MB:g} MB"
                ),
                "value": watch["rss_growth_mb"],
                "errors": watch["errors"],
                "ok": watch["errors"] == 0
                and watch["completed"] == watch["invoices"]
                and watch["rss_growth_mb"] < WATCH_RSS_TARGET_MB,
            }
        )
    return targets


def summary_line(targets: Sequence[dict[str, Any]]) -> str:
    """``SUMMARY poll: n of m targets met``."""
    met = sum(1 for t in targets if t["ok"])
    return f"SUMMARY poll: {met} of {len(targets)} targets met"


def report(data: dict[str, Any]) -> str:
    """The readable tables, the targets and the summary line."""
    rows = [
        [
            r["variant"],
            r["concurrency"],
            r["polls_per_s"],
            r["p50_ms"],
            r["p95_ms"],
            r["p99_ms"],
            r["oldest_waiting_ms"],
            r["cpu_us_per_poll"],
            r["peak_rss_mb"],
            r["errors"],
            _percent(r["server_cpu_util"]),
            _percent(r["others_cpu_util"]),
        ]
        for r in data["results"]
    ]
    parts = [
        _stats.table(
            [
                "variant",
                "in flight",
                "polls/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "oldest ms",
                "CPU us/poll",
                "peak RSS MB",
                "errors",
                "server CPU",
                "others CPU",
            ],
            [[_float(v) for v in row] for row in rows],
        )
    ]
    waits = [r for r in data["results"] if r["variant"] == "sdk-wait"]
    if data["watch"]:
        waits.append({**data["watch"], "concurrency": f"{data['watch']['invoices']} (watch)"})
    if waits:
        parts.append(
            _stats.table(
                ["sdk-wait", "invoices", "polls/invoice", "lag p50 ms", "lag p95 ms", "errors"],
                [
                    [
                        r["concurrency"],
                        r["invoices"],
                        _float(r["polls_per_invoice"]),
                        _float(r["lag_p50_ms"]),
                        _float(r["lag_p95_ms"]),
                        r["errors"],
                    ]
                    for r in waits
                ],
            )
        )
    if data["ratios"]:
        parts.append(
            _stats.table(
                ["sdk/raw", "throughput", "(rounds)", "CPU per poll", "(rounds)"],
                [
                    [
                        f"{r['concurrency']} in flight",
                        _float(r["throughput_sdk_over_raw"]),
                        _spread(r["round_throughput_ratios"]),
                        _float(r["cpu_per_poll_sdk_over_raw"]),
                        _spread(r["round_cpu_ratios"]),
                    ]
                    for r in data["ratios"]
                ],
            )
        )
    lines = []
    for target in data["targets"]:
        value = target["value"]
        where = f" at {target['at_concurrency']} in flight" if "at_concurrency" in target else ""
        extra = f", {target['errors']} errors" if "errors" in target else ""
        shown = "-" if value is None else f"{value:.2f}"
        lines.append(
            f"[{'PASS' if target['ok'] else 'MISS'}] {target['name']}: {shown}{where}{extra}"
        )
    watch = data["watch"]
    if watch:
        lines.append(
            f"watch: RSS {watch['rss_before_mb']:.1f} MB before, peak +{watch['rss_growth_mb']:.1f}"
            f" MB; {watch['completed']}/{watch['invoices']} completed"
        )
    parts.append("\n".join(lines))
    parts.append(data["summary"])
    return "\n\n".join(parts)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _spread(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{min(known):.2f}-{max(known):.2f}" if known else "-"


def _float(value: Any) -> Any:
    return math.nan if value is None else value


def draw_chart(data: dict[str, Any], path: Path) -> bool:
    """Draw throughput and latency against concurrency; ``False`` without matplotlib."""
    try:
        matplotlib = importlib.import_module("matplotlib")
        matplotlib.use("Agg")
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for variant in data["settings"]["variants"]:
        rows = [r for r in data["results"] if r["variant"] == variant]
        levels = [r["concurrency"] for r in rows]
        (line,) = left.plot(levels, [r["polls_per_s"] for r in rows], marker="o", label=variant)
        color = line.get_color()
        right.plot(
            levels, [r["p50_ms"] for r in rows], marker="o", color=color, label=f"{variant} p50"
        )
        right.plot(
            levels,
            [r["p99_ms"] for r in rows],
            marker="x",
            ls="--",
            color=color,
            label=f"{variant} p99",
        )
    left.set(
        xscale="log", yscale="log", xlabel="polls in flight", ylabel="polls/s", title="Throughput"
    )
    right.set(xscale="log", yscale="log", xlabel="polls in flight", ylabel="ms", title="Latency")
    for axes in (left, right):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle(_stats.describe_machine(data["machine"]), fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
