"""Lifecycle: nothing leaks anywhere in the suite, and a closed or foreign-loop client
says so plainly instead of failing somewhere inside aiohttp.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from calypso_async import CalypsoClient, InterventionResolver, LifecycleError, Outcome
from calypso_async.testing import FakeCalypso
from tests.reliability.harness import AMOUNT, GET, OVERPAID, RTP, Clock

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_leak_check_is_on_for_every_test_of_the_run(request: pytest.FixtureRequest) -> None:
    """pyproject.toml loads the leak check as a plugin: it guards every test run."""
    assert request.config.pluginmanager.has_plugin("tests.reliability.leakcheck")


LEAKY_TESTS = """
import asyncio
import aiohttp

async def test_leaves_a_task():
    asyncio.get_running_loop().create_task(asyncio.sleep(30))

async def test_leaves_a_session_in_a_cycle():
    http = aiohttp.ClientSession()
    http.me = http

def test_last():
    pass
"""


def test_the_leak_check_catches_a_pending_task_and_an_unclosed_session(tmp_path: Path) -> None:
    """The check itself works: a pending task and a cyclic unclosed session both fail."""
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY_TESTS))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n"
    )
    result = run_pytest(
        "-p", "tests.reliability.leakcheck", "--rootdir", str(tmp_path), str(tmp_path)
    )
    output = result.stdout
    assert result.returncode != 0
    assert "ERROR at teardown of test_leaves_a_task" in output, output
    assert "the test left 1 pending task" in output, output
    assert "leaked: ResourceWarning: Unclosed client session" in output, output


# -- a closed client ------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeCalypso]:
    async with FakeCalypso(settle_delay=None) as server:
        yield server


async def test_client_used_after_aclose_says_it_is_closed_and_sends_nothing(
    fake: FakeCalypso,
) -> None:
    """Every resource refuses with LifecycleError once the client is closed."""
    client = fake.client()
    invoice = await client.invoices.create_unlimited(currency="ETH", description="x")
    await client.aclose()
    calls = len(fake.calls)
    for call in (
        client.invoices.get(invoice.id),
        client.invoices.return_to_paid(invoice.id),
        client.webhooks.list(),
        client.account.balances(),
    ):
        with pytest.raises(LifecycleError, match="closed"):
            await call
    assert len(fake.calls) == calls


async def test_client_closed_during_a_backoff_says_so_instead_of_crashing(
    fake: FakeCalypso,
) -> None:
    """aclose() while a retry waits: LifecycleError, not aiohttp's RuntimeError."""
    clients: list[CalypsoClient] = []

    async def close_instead_of_waiting(seconds: float) -> None:
        await clients[0].aclose()

    client = fake.client(sleep=close_instead_of_waiting)
    clients.append(client)
    fake.fail(GET, 503)
    with pytest.raises(LifecycleError, match="closed"):
        await client.invoices.get("any")
    assert len(fake.calls_to(GET)) == 1


async def test_client_closed_while_a_write_is_in_flight_says_the_outcome_is_unknown(
    fake: FakeCalypso,
) -> None:
    """aclose() during return-to-paid: LifecycleError saying whether it acted is unknown."""
    async with fake.client() as client:
        invoice = await client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="x"
        )
        await fake.pay(invoice.id, OVERPAID)
        fake.delay(RTP, 0.3, after_action=False)
        write = asyncio.create_task(client.invoices.return_to_paid(invoice.id))
        while not fake.calls_to(RTP):  # noqa: ASYNC110 - the fake's records are the signal
            await asyncio.sleep(0.005)
        await client.aclose()
        with pytest.raises(LifecycleError, match="unknown"):
            await write


async def test_resolver_on_a_closed_client_fails_plainly_without_writing(
    fake: FakeCalypso,
) -> None:
    """A resolver whose client was closed reports FAILED with the LifecycleError."""
    clock = Clock()
    client = fake.client(sleep=clock.sleep, clock=clock)
    invoice = await client.invoices.create_single(amount=AMOUNT, currency="USDT", description="x")
    await fake.pay(invoice.id, OVERPAID)
    await client.aclose()
    resolution = await InterventionResolver(client).resolve(invoice.id)
    assert resolution.outcome is Outcome.FAILED
    assert isinstance(resolution.error, LifecycleError)
    assert fake.calls_to(RTP) == []


async def test_client_used_from_another_event_loop_says_so_and_sends_nothing(
    fake: FakeCalypso,
) -> None:
    """A client belongs to the loop it first ran in; a thread's own loop is refused."""
    async with fake.client() as client:
        invoice = await client.invoices.create_unlimited(currency="ETH", description="x")
        calls = len(fake.calls)

        def elsewhere() -> None:
            asyncio.run(client.invoices.get(invoice.id))

        with pytest.raises(LifecycleError, match="another event loop"):
            await asyncio.to_thread(elsewhere)
        assert len(fake.calls) == calls
        assert (await client.invoices.get(invoice.id)).id == invoice.id  # still fine here
