"""The benchmarks run end to end at a tiny size and report every field (never their speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import instructions, micro, poll, resolver, watch

ROW_FIELDS = {
    "variant",
    "concurrency",
    "polls",
    "polls_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "cpu_us_per_poll",
    "peak_rss_mb",
    "errors",
}


def test_poll_benchmark_reports_every_variant_level_ratio_and_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny poll run: a row per variant and level, sdk/raw ratios, the watch, targets."""
    output = tmp_path / "poll.json"
    argv = ["--invoices", "4", "--levels", "1,2", "--rounds", "1", "--duration", "0.1"]
    argv += ["--wait-window", "0.1", "--watch", "20", "--watch-window", "0.1"]
    argv += ["--output", str(output), "--chart", str(tmp_path / "poll.png"), "--quiet"]

    assert poll.main(argv) == 0

    data = json.loads(output.read_text())
    rows = {(row["variant"], row["concurrency"]): row for row in data["results"]}
    assert set(rows) == {(v, c) for v in ("raw", "sdk", "sdk-wait") for c in (1, 2)}
    for row in rows.values():
        assert set(row) >= ROW_FIELDS
        assert row["polls"] > 0
        assert row["errors"] == 0
    for variant in ("raw", "sdk"):
        assert rows[variant, 2]["oldest_waiting_ms"] is not None
    assert rows["sdk-wait", 2]["invoices"] == 2
    assert [r["concurrency"] for r in data["ratios"]] == [1, 2]
    for ratio in data["ratios"]:
        assert ratio["throughput_sdk_over_raw"] > 0
        assert ratio["cpu_per_poll_sdk_over_raw"] > 0
    assert data["watch"]["completed"] == data["watch"]["invoices"] == 20
    assert "rss_growth_mb" in data["watch"]
    assert len(data["targets"]) == 3
    assert data["machine"]["cpus"] >= 1
    out = capsys.readouterr().out
    assert "sdk/raw" in out
    assert "SUMMARY poll: " in out
    assert "chart: " in out


def test_resolver_benchmark_resolves_over_and_holds_under(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny resolver run: every outcome right, requests counted, the target reported."""
    output = tmp_path / "resolver.json"
    argv = ["-n", "6", "--settle-delay", "0.05", "--poll-interval", "0.1"]
    argv += ["--output", str(output), "--quiet"]

    assert resolver.main(argv) == 0

    data = json.loads(output.read_text())
    assert data["outcomes"] == {"HELD": 3, "RESOLVED": 3}
    assert data["outcomes_right"] == 6
    assert data["requests_per_resolved"] >= 4
    assert data["requests_per_held"] == 1
    for field in ("interventions_per_s", "wall_s", "http_requests", "peak_rss_mb"):
        assert data[field] is not None
    assert "SUMMARY resolver: " in capsys.readouterr().out


def test_store_benchmark_runs_worker_processes_on_each_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny run on memory and SQLite with two worker processes: a row per store and
    worker count, every outcome right, and the targets judged against memory."""
    output = tmp_path / "stores.json"
    argv = ["-n", "6", "--settle-delay", "0.05", "--poll-interval", "0.1"]
    argv += ["--store", "memory,sqlite", "--workers", "2", "--output", str(output), "--quiet"]

    assert resolver.main(argv) == 0

    data = json.loads(output.read_text())
    runs = {(run["store"], run["workers"]): run for run in data["runs"]}
    assert set(runs) == {("memory", 1), ("sqlite", 2)}
    for run in runs.values():
        assert run["outcomes_right"] == 6
        assert run["interventions_per_s"] is not None
    assert runs["sqlite", 2]["store_operations_per_resolution"] > 0
    assert "SUMMARY resolver-stores: " in capsys.readouterr().out


def test_watch_benchmark_tracks_within_the_budget_and_watches_with_wait_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny watch run: the tracker with and without webhooks and wait_for, every
    figure reported, the paid sample seen, the targets judged."""
    output = tmp_path / "watch.json"
    argv = ["--invoices", "30", "--max-rps", "50", "--pay", "2", "--cycles", "1.5"]
    argv += ["--output", str(output), "--quiet"]

    assert watch.main(argv) == 0

    data = json.loads(output.read_text())
    results = {result["variant"]: result for result in data["results"]}
    assert set(results) == {"tracker", "tracker-webhooks", "wait-for"}
    for result in results.values():
        assert result["requests"] > 0
        assert result["done"] == result["paid"] == 2
        for field in ("cpu_us_per_poll", "rss_growth_mb", "wait_p50_s", "wait_p95_s"):
            assert result[field] is not None
    assert results["tracker"]["polls"] >= 30
    assert results["tracker"]["busiest_second"] <= 50
    assert len(data["targets"]) == 6
    assert "SUMMARY watch: " in capsys.readouterr().out


def test_micro_benchmark_times_every_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny micro run: every step timed for the SDK, and for raw where it has one."""
    output = tmp_path / "micro.json"

    assert micro.main(["--iterations", "20", "--repeat", "1", "--output", str(output)]) == 0

    steps = {step["step"]: step for step in json.loads(output.read_text())["steps"]}
    assert set(steps) == {
        "envelope + serialise",
        "sign",
        "parse",
        "structure an Invoice",
        "all of the above",
        "whole get, stub transport",
        "whole get, a hook on each event",
        "whole get, telemetry=True, no SDK set up",
        "whole get, telemetry, SDK tracer and meter",
    }
    assert all(step["sdk_us"] > 0 for step in steps.values())
    assert steps["whole get, stub transport"]["raw_us"] > 0
    assert "SUMMARY micro: " in capsys.readouterr().out


def test_instruction_benchmark_counts_every_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny instruction count, with valgrind stood in for: every child mode runs."""
    ran: list[str] = []

    def without_valgrind(env: dict[str, str], mode: str, count: str, *rest: str) -> int:
        ran.append(mode)
        for name, value in env.items():
            if name.startswith("CALYPSO_"):
                monkeypatch.setenv(name, value)  # the child reads the fake's credentials
        assert instructions.child([mode, count, *rest]) == 0  # the real measured program
        return 1000 * int(count) + (7 if mode == "sdk" else 0)

    monkeypatch.setattr(instructions, "_collected", without_valgrind)
    output = tmp_path / "instructions.json"
    argv = ["--polls", "2", "4", "--structures", "2", "4", "--output", str(output)]
    args = instructions.parse_args(argv)
    data = instructions.run(args)
    instructions._stats.write_json(output, data)
    print(instructions.report(data))

    assert sorted(set(ran)) == ["raw", "sdk", "structure"]
    saved = json.loads(output.read_text())
    assert saved["raw_per_poll"] == saved["sdk_per_poll"] == 1000
    assert saved["structure_invoice"] == 1000
    assert "SUMMARY instructions: " in capsys.readouterr().out
