"""calypso-async payout get|create against a funded FakeCalypso in a thread of its own."""

from __future__ import annotations

import json

import pytest

from calypso_async._cli import main
from tests.cli.conftest import ThreadedFake

ADDRESS = "0x8f1b2c3d4e5f60718293a4b5c6d7e8f901234567"


def test_payout_create_then_get_show_the_wire_fields(
    threaded: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """create pays and shows the payout as invoice get shows an invoice; get shows it again."""
    argv = ["payout", "create", ADDRESS, "10.000000000000000001", "ETH", "--comment", "rent"]
    assert main([*argv, "--idempotency-key", "cli-1"]) == 0
    created = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert created["state"] == "CONFIRMED"
    assert created["amount"] == "10.000000000000000001"
    assert (created["comment"], created["transactionHash"]) == ("rent", "null")
    assert main(["payout", "get", created["id"]]) == 0
    shown = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert shown["id"] == created["id"]
    assert shown["createdDate"] == created["createdDate"]


def test_payout_get_json_prints_the_payout_object(
    threaded: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json prints one JSON object, exact amounts as JSON numbers."""
    assert main(["payout", "create", ADDRESS, "2.50", "USDT", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    threaded.run(threaded.fake.advance_payout(created["id"]))
    assert main(["payout", "get", created["id"], "--json"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["state"] == "IN_PROGRESS"
    assert '"amount":2.50' in out


def test_a_refused_payout_exits_1_and_prints_its_key(
    threaded: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """More than the balance: exit 1, the 016 error, and the key to try again with."""
    assert main(["payout", "create", ADDRESS, "1000", "USDT", "--idempotency-key", "big"]) == 1
    err = capsys.readouterr().err
    assert "BadRequestError" in err
    assert "[016]" in err
    assert "--idempotency-key big" in err
    assert "Traceback" not in err


def test_a_float_like_or_bad_amount_is_a_usage_error(
    threaded: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad amount is exit 2 before any call; an unknown payout is exit 1 (004)."""
    assert main(["payout", "create", ADDRESS, "ten", "USDT"]) == 2
    assert "amount must be a decimal number" in capsys.readouterr().err
    assert main(["payout", "get", "no-such-payout"]) == 1
    assert "[004]" in capsys.readouterr().err
    assert threaded.fake.calls_to("/api/v1/payout/create") == []
