"""The calypso-async command line: demo, fake server subprocess, read-only API calls."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

from calypso_async import CalypsoClient
from calypso_async._cli import main
from calypso_async._cli.demo import run_demo
from calypso_async.testing import FakeCalypso
from calypso_async.testing._delivery import Deliverer
from tests.cli.conftest import FIRST_LINE

ENV_VARS = ("CALYPSO_API_KEY", "CALYPSO_SECRET_KEY", "CALYPSO_ACCOUNT", "CALYPSO_BASE_URL")


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def steps_of(story: str) -> list[str]:
    return [line[len("   - ") :] for line in story.splitlines() if line.startswith("   - ")]


def test_demo_tells_three_stories(capsys: pytest.CaptureFixture[str]) -> None:
    """`calypso-async demo` exits 0 and explains the exact, short and over payments."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    header, exact, short, over, balance = out.split("\n\n")
    assert "paid / amount below 0.995 is an UNDERPAY" in header
    assert "overpay tolerance (0 here)" in header
    assert exact.startswith("1. Paid exactly: 10.234 of 10.234 USDT")
    assert "rule: 10.234 / 10.234 = 1.000, from 0.995 to 1 -> PAID" in exact
    assert "- webhook INVOICE_PAID" in exact
    assert "now COMPLETED\n" in exact
    assert "Completed by itself" in exact
    assert short.startswith("2. Paid short: 10.00 of 10.234 USDT")
    assert "rule: 10.00 / 10.234 = 0.977 < 0.995 -> UNDERPAY intervention" in short
    assert "- webhook INVOICE_PENDING_INTERVENTION" in short
    assert "resolver:" not in short
    assert "now PENDING_INTERVENTION, UNDERPAY intervention open" in short
    assert "HELD: UNDERPAY is held for a human" in short
    assert over.startswith("3. Paid over: 10.50 of 10.234 USDT")
    assert "rule: 10.50 / 10.234 = 1.026 > 1 -> OVERPAY intervention" in over
    # Causes before effects: the intervention, the write answering it, the PAID it
    # caused; close-intervention only once the money reached the account.
    steps = steps_of(over)
    order = [
        "webhook INVOICE_PENDING_INTERVENTION",
        "resolver: return-to-paid",
        "webhook INVOICE_PAID",
        "webhook INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED",
        "resolver: close-intervention",
    ]
    assert [step for step in steps if step in order] == order
    assert over.rstrip().endswith(
        "   now COMPLETED, OVERPAY intervention closed\n"
        "   RESOLVED: OVERPAY resolved: returned to paid, completed and closed."
    )
    assert balance.splitlines() == [
        "Account balance after settlement: 20.734 USDT",
        "   = 10.234 from invoice 1 (completed by itself)",
        "   + 10.50 from invoice 3 (OVERPAY taken by return-to-paid, then completed)",
        "   Not invoice 2's 10.00 USDT: its UNDERPAY intervention is held for a human;",
        "   only a COMPLETED invoice credits the account.",
    ]


EXPECTED_STEPS = [
    [
        "webhook INVOICE_CREATE_INVOICE",
        "webhook INVOICE_FUNDS_RECEIVED_FOR_INVOICE",
        "webhook INVOICE_PAID",
        "webhook INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED",
    ],
    [
        "webhook INVOICE_CREATE_INVOICE",
        "webhook INVOICE_FUNDS_RECEIVED_FOR_INVOICE",
        "webhook INVOICE_PENDING_INTERVENTION",
    ],
    [
        "webhook INVOICE_CREATE_INVOICE",
        "webhook INVOICE_FUNDS_RECEIVED_FOR_INVOICE",
        "webhook INVOICE_PENDING_INTERVENTION",
        "resolver: return-to-paid",
        "webhook INVOICE_PAID",
        "webhook INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED",
        "resolver: close-intervention",
    ],
]


@pytest.mark.parametrize("trouble", ["late webhooks", "shuffled and repeated webhooks"])
async def test_demo_story_does_not_depend_on_when_webhooks_arrive(
    monkeypatch: pytest.MonkeyPatch, trouble: str
) -> None:
    """Webhooks arriving 30 ms late, or shuffled and twice, still tell the same stories."""
    if trouble == "late webhooks":
        attempt = Deliverer._attempt

        async def late(self: Deliverer, *args: Any) -> None:
            await asyncio.sleep(0.03)  # a loaded machine: the resolver polls meanwhile
            await attempt(self, *args)

        monkeypatch.setattr(Deliverer, "_attempt", late)
    else:
        start = FakeCalypso.start

        async def misbehaving(self: FakeCalypso) -> None:
            await start(self)
            self.reorder_deliveries = True
            self.duplicate_deliveries = 1

        monkeypatch.setattr(FakeCalypso, "start", misbehaving)
    out = io.StringIO()
    assert await run_demo(out) == 0, out.getvalue()
    stories = out.getvalue().split("\n\n")[1:4]
    assert [steps_of(story) for story in stories] == EXPECTED_STEPS


async def test_run_demo_writes_to_the_stream_it_is_given() -> None:
    """run_demo is usable on its own, writing only to `out`."""
    out = io.StringIO()
    assert await run_demo(out) == 0
    assert len(re.findall(r"^   invoice [0-9a-f-]{36}$", out.getvalue(), re.MULTILINE)) == 3


def test_missing_variables_give_a_friendly_exit_2(
    no_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """No CALYPSO_* variables: one line on stderr naming them, exit code 2."""
    assert main(["invoice", "get", "abc"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "CALYPSO_API_KEY" in lines[0]
    assert lines[0].endswith("; set them to your Calypso credentials")
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("CALYPSO_BASE_URL", "http://calypso.example", "CALYPSO_BASE_URL must use https: "),
        ("CALYPSO_API_KEY", "key with spaces", "CALYPSO_API_KEY must not contain whitespace"),
    ],
)
def test_a_bad_variable_is_named_without_the_missing_variables_hint(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    var: str,
    value: str,
    expected: str,
) -> None:
    """A refused value names its CALYPSO_* variable; nothing claims a variable is missing."""
    for name, good in zip(ENV_VARS[:3], ("key", "secret", "0xabc"), strict=True):
        monkeypatch.setenv(name, good)
    monkeypatch.setenv(var, value)
    assert main(["invoice", "get", "abc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"calypso-async: {expected}")
    assert "set them to your Calypso credentials" not in err
    assert value not in err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A bare `calypso-async` shows what it can do."""
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err


def test_fake_subcommand_prints_its_credentials_first(
    fake_process: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    """The first line carries every CALYPSO_* variable; --api-key fixes the key."""
    process, env = fake_process
    assert process.poll() is None
    assert env["CALYPSO_API_KEY"] == "cli-key"
    assert re.fullmatch(r"0x[0-9a-f]{40}", env["CALYPSO_ACCOUNT"])


def test_api_commands_talk_to_the_fake(
    fake_process: tuple[subprocess.Popen[str], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With the printed variables exported, the read-only commands work; no secret shown."""
    _, env = fake_process
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert main(["account", "balances"]) == 0
    assert main(["webhooks", "list"]) == 0
    out = capsys.readouterr().out
    assert f"account {env['CALYPSO_ACCOUNT']}" in out
    assert "no webhook subscriptions" in out
    assert env["CALYPSO_SECRET_KEY"] not in out


def test_webhooks_create_prints_the_secret_once_and_delete_removes_it(
    fake_process: tuple[subprocess.Popen[str], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """create subscribes a URL for what the worker needs and prints the secret as the
    variable the worker reads; list never shows it; delete removes the subscription."""
    _, env = fake_process
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert main(["webhooks", "create", "https://shop.example/calypso/webhooks"]) == 0
    created = capsys.readouterr().out.splitlines()
    request_id = created[0].split()[0]
    assert "events=INVOICE_PENDING_INTERVENTION" in created[0]
    secret = created[1].removeprefix("CALYPSO_WEBHOOK_SECRET=")
    assert created[1].startswith("CALYPSO_WEBHOOK_SECRET=")
    assert secret
    assert main(["webhooks", "list"]) == 0
    listed = capsys.readouterr().out
    assert request_id in listed
    assert secret not in listed
    assert main(["webhooks", "delete", request_id]) == 0
    assert main(["webhooks", "list"]) == 0
    assert "no webhook subscriptions" in capsys.readouterr().out


def test_api_errors_are_one_line_without_traceback(
    fake_process: tuple[subprocess.Popen[str], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An unknown invoice is exit 1 with the typed error on stderr."""
    _, env = fake_process
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert main(["invoice", "get", "no-such-invoice"]) == 1
    err = capsys.readouterr().err
    assert "NotFoundError" in err
    assert "[004]" in err
    assert "Traceback" not in err


def test_invoice_get_shows_every_field_as_json_writes_it(
    fake_process: tuple[subprocess.Popen[str], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Wire names with JSON values: true, null and exact amounts, never True or None."""
    _, env = fake_process
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    invoice_id = asyncio.run(_create_invoice(env))
    assert main(["invoice", "get", invoice_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"id: {invoice_id}" in lines
    assert "amount: 10.234" in lines
    assert "isInterventionResolved: true" in lines
    assert "subscriptionEnabled: false" in lines
    assert "interventionType: null" in lines
    assert not any(word in line for line in lines for word in ("True", "False", "None"))


@pytest.mark.skipif(os.name != "posix", reason="signals are POSIX")
def test_fake_subcommand_stops_cleanly_on_sigterm() -> None:
    """SIGTERM ends `calypso-async fake` with exit code 0 and a goodbye line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "calypso_async", "fake", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("CALYPSO_BASE_URL=")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "FakeCalypso stopped." in out


async def _create_invoice(env: dict[str, str]) -> str:
    async with CalypsoClient.from_env(env) as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("10.234"), currency="USDT", description="order 42"
        )
    return invoice.id


def test_fake_commands_pay_invoices_until_the_input_ends() -> None:
    """--commands: `pay` moves an invoice, a bad line is one error line, EOF stops the fake."""
    process = subprocess.Popen(
        [sys.executable, "-m", "calypso_async", "fake", "--port", "0", "--commands"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = FIRST_LINE.fullmatch(process.stdout.readline().strip())
        assert match, "no credentials line"
        invoice_id = asyncio.run(_create_invoice(match.groupdict()))
        commands = f"pay {invoice_id} 10.00\n\nfrob {invoice_id}\npay nope 1\npay {invoice_id}\n"
        out, err = process.communicate(commands, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    replies = [line for line in out.splitlines() if line.startswith(("ok ", "error "))]
    assert replies[0] == f"ok {invoice_id} PENDING_INTERVENTION"
    assert replies[1].startswith("error unknown command 'frob")
    assert replies[2] == "error 004: invoice nope not found"
    assert replies[3] == "error pay takes 2 argument(s): pay ID AMOUNT"
    assert len(replies) == 4
    assert "FakeCalypso stopped." in out


async def _get_invoice(env: dict[str, str], invoice_id: str) -> str:
    async with CalypsoClient.from_env(env) as client:
        return str((await client.invoices.get(invoice_id)).state)


def test_fake_commands_create_many_invoices_and_count_arrivals() -> None:
    """--commands: `create N AMOUNT` answers N ids the API serves; `arrivals` counts calls."""
    process = subprocess.Popen(
        [sys.executable, "-m", "calypso_async", "fake", "--port", "0", "--commands"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        match = FIRST_LINE.fullmatch(process.stdout.readline().strip())
        assert match, "no credentials line"
        process.stdout.readline()  # the banner
        process.stdin.write("create 3 10.234\n")
        process.stdin.flush()
        ok, *ids = process.stdout.readline().split()
        assert ok == "ok"
        assert len(set(ids)) == 3
        states = [asyncio.run(_get_invoice(match.groupdict(), i)) for i in ids[:2]]
        commands = "arrivals 0\narrivals 1\ncreate 0 1\ncreate 2 -1\ncreate 2 x\n"
        out, err = process.communicate(commands, timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert states == ["PENDING_PAYMENT", "PENDING_PAYMENT"]
    replies = [line for line in out.splitlines() if line.startswith(("ok ", "error "))]
    total, count, busiest, span = replies[0].split()[1:]
    assert (total, count, busiest) == ("2", "2", "2")
    assert 0 <= float(span) < 10
    assert replies[1].split()[1:4] == ["2", "1", "1"]
    assert replies[2] == "error create needs a COUNT of 1 or more, not 0"
    assert replies[3] == "error create needs an AMOUNT above 0, not -1"
    assert replies[4].startswith("error create needs an AMOUNT such as")


def test_invalid_argument_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ConfigurationError (an id with a space) is a usage error: exit 2, one line."""
    for var, value in zip(ENV_VARS[:3], ("key", "secret", "0xabc"), strict=True):
        monkeypatch.setenv(var, value)
    assert main(["invoice", "get", "a b"]) == 2
    assert "whitespace" in capsys.readouterr().err


def test_fake_on_every_interface_prints_a_loopback_url_and_warns() -> None:
    """--host 0.0.0.0: the printed CALYPSO_BASE_URL works with from_env; stderr warns."""
    everywhere = "0.0.0.0"  # noqa: S104 - what the test is about, for a second or so
    process = subprocess.Popen(
        [sys.executable, "-m", "calypso_async", "fake", "--host", everywhere, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = FIRST_LINE.fullmatch(process.stdout.readline().strip())
        assert match, "the first line does not carry a loopback CALYPSO_BASE_URL"
        assert asyncio.run(_create_invoice(match.groupdict()))
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "warning: listening on 0.0.0.0" in err
    assert "anyone who can reach this machine" in err


@pytest.mark.parametrize(
    "argument", [["--settle-delay", "nan"], ["--latency", "inf"], ["--port", "70000"]]
)
def test_fake_refuses_impossible_settings_as_usage_errors(
    argument: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """NaN, infinity or a port beyond 65535: exit 2 with a usage line, no traceback."""
    with pytest.raises(SystemExit) as exited:
        main(["fake", "--port", "0", *argument])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {argument[0]}" in err
    assert "Traceback" not in err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`calypso-async --version` prints the installed version and exits 0."""
    from calypso_async import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"calypso-async {__version__}"


def test_verbose_logs_the_sdks_work_on_stderr() -> None:
    """-v, before or after the command, shows the resolver's outcomes on stderr."""
    for argv in (["-v", "demo"], ["demo", "-v"]):
        done = subprocess.run(
            [sys.executable, "-m", "calypso_async", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "INFO calypso_async.resolver: invoice" in done.stderr
        assert "RESOLVED" in done.stderr
        assert "DEBUG" not in done.stderr


def test_a_closed_stdout_ends_the_command_quietly() -> None:
    """`calypso-async demo | head -1`: no traceback, the SIGPIPE exit status (141)."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "calypso_async", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    assert demo.stderr is not None
    first = demo.stdout.readline()
    demo.stdout.close()  # what `head -1` does after its line
    try:
        assert demo.wait(timeout=60) == 141
    finally:
        demo.kill()
    assert first.startswith("calypso-async demo against an in-process FakeCalypso")
    assert demo.stderr.read() == ""
    demo.stderr.close()


def test_invoice_create_shows_the_invoice_and_its_key_gives_it_back(
    fake_process: tuple[subprocess.Popen[str], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An invoice to pay from the shell (to try a worker); the same key, the same invoice;
    a bad amount is a usage error before any call."""
    _, env = fake_process
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    argv = ["invoice", "create", "10.234", "USDT", "order 42", "--idempotency-key", "o-42"]
    assert main(argv) == 0
    first = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert (first["amount"], first["currency"], first["state"]) == (
        "10.234",
        "USDT",
        "PENDING_PAYMENT",
    )
    assert main(argv) == 0
    again = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert again["id"] == first["id"]
    assert main(["invoice", "create", "ten", "USDT", "order 43"]) == 2
    assert "amount must be a decimal number" in capsys.readouterr().err
