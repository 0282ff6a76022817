"""calypso-async exchange pairs|rate: reads against a fake server in a subprocess."""

from __future__ import annotations

import json
import subprocess

import pytest

from calypso_async._cli import main
from calypso_async.testing import FAKE_EXCHANGE_RATES


@pytest.fixture
def env(
    fake_process: tuple[subprocess.Popen[str], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    _, variables = fake_process
    for var, value in variables.items():
        monkeypatch.setenv(var, value)
    return variables


def test_pairs_prints_one_line_per_source_currency(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`exchange pairs`: `SOURCE -> DEST, DEST`, sorted, for every pair the server has."""
    assert main(["exchange", "pairs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    sources = sorted({source for source, _ in FAKE_EXCHANGE_RATES})
    assert [line.split(" -> ")[0] for line in lines] == sources
    assert "BTC -> ETH, USDT" in lines


def test_pairs_json_is_the_wire_objects_with_exact_numbers(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`exchange pairs --json`: source -> the Currency objects, as Calypso names them."""
    assert main(["exchange", "pairs", "--json"]) == 0
    out = capsys.readouterr().out
    pairs = json.loads(out)
    usdt = next(c for c in pairs["BTC"] if c["name"] == "USDT")
    assert usdt["scale"] == 6
    assert usdt["networkData"] == {"frontName": "Ethereum", "type": "ERC20"}
    assert '"garbageAmount":0.0001' in out


def test_rate_prints_the_rate_exactly(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`exchange rate USDT BTC`: `1 USDT = 0.0000165 BTC`; --json the answer's JSON."""
    assert main(["exchange", "rate", "USDT", "BTC"]) == 0
    assert capsys.readouterr().out == "1 USDT = 0.0000165 BTC\n"
    assert main(["exchange", "rate", "BTC", "USDT", "--json"]) == 0
    assert capsys.readouterr().out == '{"rate":60000}\n'


def test_rate_errors_are_one_line_and_bad_arguments_exit_2(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unserved pair is exit 1 with the typed error; the same currency twice exit 2."""
    assert main(["exchange", "rate", "TRX", "BTC"]) == 1
    err = capsys.readouterr().err
    assert "BadRequestError" in err
    assert "001" in err
    assert "Traceback" not in err
    assert main(["exchange", "rate", "BTC", "BTC"]) == 2
    assert "must differ" in capsys.readouterr().err
