"""examples/metrics.py as a user runs it: a process of its own, its table checked."""

from __future__ import annotations

import subprocess
import sys

from tests.examples.helpers import EXAMPLES


def test_metrics_example_prints_requests_retries_and_durations_per_path() -> None:
    """Three creates, one 503 retried on the read path, one return-to-paid and one close;
    a mean duration for each path; the resolver's outcomes; a clean exit."""
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / "metrics.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    header, *rows, outcomes = result.stdout.strip().splitlines()
    assert header.split() == ["path", "requests", "retries", "mean", "ms", "statuses"]
    table = {row.split()[0]: row.split()[1:] for row in rows}
    assert sorted(table) == [
        "/api/v1/invoice",
        "/api/v1/invoice/close-intervention",
        "/api/v1/invoice/return-to-paid",
        "/api/v1/invoice/single/create",
    ]
    assert table["/api/v1/invoice/single/create"][:2] == ["3", "0"]
    assert table["/api/v1/invoice/return-to-paid"][:2] == ["1", "0"]
    assert table["/api/v1/invoice/close-intervention"][:2] == ["1", "0"]
    reads, retries, mean_ms, *statuses = table["/api/v1/invoice"]
    assert retries == "1"
    assert "503x1" in statuses
    assert int(reads) == sum(int(seen.split("x")[1]) for seen in statuses)
    assert all(0 < float(cells[2]) < 5000 for cells in table.values())
    assert float(mean_ms) > 0
    assert outcomes == "resolver outcomes: HELD 1, RESOLVED 1"
    # The held invoice is logged at WARNING, as held invoices are; nothing else.
    assert [line.split(":")[0] for line in result.stderr.splitlines()] == [
        "WARNING calypso_async.resolver"
    ]
