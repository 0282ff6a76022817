"""calypso-async track and tracked, against a FakeCalypso in a thread of its own."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from calypso_async._cli import main
from calypso_async.stores import SQLiteStore
from tests.cli.conftest import ThreadedFake


def invoice_id(threaded: ThreadedFake) -> str:
    async def create() -> str:
        async with threaded.fake.client() as client:
            invoice = await client.invoices.create_single(
                amount=Decimal("10.234"), currency="USDT", description="tracked"
            )
            return invoice.id

    return threaded.run(create())


def test_track_reports_an_unknown_id_and_tracks_the_known_ones(
    threaded: ThreadedFake,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Known ids are tracked (from arguments and standard input); an unknown one is
    printed as such, not tracked, and the command exits 1."""
    store = f"sqlite:///{tmp_path}/resolver.db"
    known = [invoice_id(threaded), invoice_id(threaded)]
    monkeypatch.setattr("sys.stdin", io.StringIO(known[1] + "\n\n"))
    threaded.run(_make_store(tmp_path / "resolver.db"))  # a worker made it
    code = main(["track", "--store", store, known[0], "no-such-invoice", "-", "--max-rps", "5"])
    out = capsys.readouterr().out
    assert code == 1
    assert "unknown  no-such-invoice: Calypso does not know it; not tracked" in out
    assert out.endswith("tracked 2, already tracked 0\n")
    assert main(["tracked", "--store", store, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(row["invoice_id"] for row in rows) == sorted(known)
    assert all(row["state"] is None and row["polls"] == 0 for row in rows)
    assert all(row["due"].endswith("Z") for row in rows)
    assert main(["track", "--store", store, "--no-check", known[0]]) == 0
    assert capsys.readouterr().out == "tracked 0, already tracked 1\n"
    assert main(["tracked", "--store", store]) == 0
    assert "(not polled yet)" in capsys.readouterr().out


def test_track_refuses_an_empty_id_and_a_memory_store(capsys: pytest.CaptureFixture[str]) -> None:
    """Usage errors exit 2 before any I/O."""
    assert main(["track", "--store", "memory://", "--no-check", "x"]) == 2
    assert "memory://" in capsys.readouterr().err
    assert main(["track", "--no-check", " "]) == 2
    assert "may not be empty" in capsys.readouterr().err


async def _make_store(path: Path) -> None:
    async with SQLiteStore(path):
        pass
