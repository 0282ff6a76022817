"""The operators' commands on a store: held, failed, status, requeue, forget; and the
worker's refusals before it starts."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from calypso_async import Outcome
from calypso_async._cli import main
from calypso_async._resolver.ports import OutcomeRecord
from calypso_async.stores import SQLiteStore


def prepare(path: Path) -> None:
    """A store with one held invoice, one failed, one pending."""

    async def fill() -> None:
        async with SQLiteStore(path) as store:
            for invoice_id, kind in (("held-1", Outcome.HELD), ("failed-1", Outcome.FAILED)):
                await store.accept(invoice_id)
                claim = await store.claim(invoice_id, "worker", 30)
                assert claim is not None
                record = OutcomeRecord(invoice_id, kind, f"{kind} for a test", 0.0)
                await store.release(claim, record)
            await store.accept("pending-1")

    asyncio.run(fill())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_held_and_failed_list_what_needs_a_human(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json gives id, reason and since; the plain form one line each."""
    path = tmp_path / "resolver.db"
    prepare(path)
    url = f"sqlite:///{path}"
    code, out, _ = run(capsys, "held", "--store", url, "--json")
    assert code == 0
    (held,) = json.loads(out)
    assert held["invoice_id"] == "held-1"
    assert held["reason"] == "HELD for a test"
    assert held["since"].endswith("Z")
    code, out, _ = run(capsys, "failed", "--store", url)
    assert code == 0
    assert re.match(r"failed-1  since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  ", out)
    code, out, _ = run(capsys, "status", "--store", url, "--json")
    assert json.loads(out) == {"pending": 1, "running": 0, "held": 1, "failed": 1}


def test_requeue_and_forget_change_what_the_workers_see(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """requeue queues an invoice again; forget drops a kept outcome."""
    path = tmp_path / "resolver.db"
    prepare(path)
    url = f"sqlite:///{path}"
    assert run(capsys, "requeue", "--store", url, "failed-1", "pending-1")[1].split() == [
        "queued",
        "failed-1",
        "merged",
        "pending-1",
    ]
    assert run(capsys, "forget", "--store", url, "held-1", "nope")[1].split() == [
        "forgotten",
        "held-1",
        "not",
        "kept",
        "nope",
    ]
    _, out, _ = run(capsys, "status", "--store", url, "--json")
    assert json.loads(out) == {"pending": 2, "running": 0, "held": 0, "failed": 1}


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["held", "--store", "sqlite:///{tmp}/typo.db"], 1, "no store at"),
        (["status", "--store", "memory://"], 2, "memory:// holds nothing"),
        (["held", "--store", "postgres://db/shop"], 2, "unknown store scheme"),
        (["status", "--store", "redis://127.0.0.1:1/0"], 1, "cannot be used"),
        (["worker", "--store", "sqlite:///{tmp}/w.db"], 2, "CALYPSO_WEBHOOK_SECRET"),
        (["worker", "--no-listen", "--store", "sqlite:///{tmp}/no/such.db"], 1, "does not exist"),
        (["worker", "--no-listen", "--store", "bogus"], 2, "a store URL looks like"),
    ],
)
def test_mistakes_fail_fast_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
    said: str,
) -> None:
    """A bad URL (2), a store that cannot be used (1), a missing secret (2): one line on
    stderr, and no store file made by a typo."""
    monkeypatch.delenv("CALYPSO_WEBHOOK_SECRET", raising=False)
    for name, value in (
        ("CALYPSO_API_KEY", "k"),
        ("CALYPSO_SECRET_KEY", "s"),
        ("CALYPSO_ACCOUNT", "a"),
        ("CALYPSO_BASE_URL", "http://127.0.0.1:9"),
    ):
        monkeypatch.setenv(name, value)
    got, _, err = run(capsys, *(arg.format(tmp=tmp_path) for arg in args))
    assert got == code, err
    assert said in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "typo.db").exists()
