"""Starting and stopping the fake: credentials, ports, and nothing left running."""

from __future__ import annotations

import asyncio
import math
import re
from decimal import Decimal

import pytest

from calypso_async import ConfigurationError
from calypso_async.testing import FakeCalypso


async def test_generated_credentials_look_like_calypso_ones() -> None:
    """Without arguments the fake makes random hex keys and a 0x account."""
    async with FakeCalypso() as fake:
        assert re.fullmatch(r"[0-9a-f]{32}", fake.api_key)
        assert re.fullmatch(r"[0-9a-f]{32}", fake.secret_key)
        assert re.fullmatch(r"0x[0-9a-f]{40}", fake.account)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.base_url)
        assert fake.secret_key not in repr(fake)
    assert FakeCalypso().api_key != FakeCalypso().api_key


async def test_given_credentials_are_used() -> None:
    """Fixed credentials make the fake reachable by a client configured elsewhere."""
    async with (
        FakeCalypso(api_key="k", secret_key="s", account="acc") as fake,
        fake.client() as client,
    ):
        balances = await client.account.balances()
    assert balances.account == "acc"


async def test_close_leaves_no_task_behind() -> None:
    """Settlement timers, delivery retries and the worker are all gone after close."""
    fake = FakeCalypso(settle_delay=60, webhook_retry_delays=(60,))
    await fake.start()
    async with fake.client() as client:
        await client.webhooks.create(url="http://127.0.0.1:9/x", event_types=["INVOICE_PAID"])
        invoice = await client.invoices.create_single(
            amount=Decimal(1), currency="USDT", description="a"
        )
        await fake.pay(invoice.id, 1)
        await asyncio.sleep(0.05)
    await fake.close()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    await fake.close()  # idempotent


async def test_close_does_not_wait_for_a_delayed_answer() -> None:
    """A request sleeping in a delay fault is woken up by close, not waited for."""
    loop = asyncio.get_running_loop()
    async with FakeCalypso() as fake:
        fake.delay("/api/v1/account", 30)
        async with fake.client(max_retries=0) as client:
            pending = asyncio.ensure_future(client.account.balances())
            await asyncio.sleep(0.05)
            started = loop.time()
            await fake.close()
            assert loop.time() - started < 2
            await asyncio.wait_for(pending, 2)


async def test_misuse_is_reported_clearly() -> None:
    """base_url before start, pay before start, a second start: clear errors."""
    fake = FakeCalypso()
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.base_url
    with pytest.raises(RuntimeError, match="not running"):
        await fake.pay("x", 1)
    async with fake:
        with pytest.raises(RuntimeError, match="already started"):
            await fake.start()


async def test_settings_are_checked() -> None:
    """Negative delays and float tolerances are refused at construction."""
    with pytest.raises(ValueError, match="settle_delay"):
        FakeCalypso(settle_delay=-1)
    with pytest.raises(TypeError, match="float"):
        FakeCalypso(overpay_tolerance=0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timestamp_window"):
        FakeCalypso(timestamp_window=0)


@pytest.mark.parametrize("skew", [math.nan, math.inf, -math.inf, "10", True])
async def test_clock_skew_must_be_a_finite_number(skew: object) -> None:
    """NaN or infinity would break every request: refused when built and when set."""
    with pytest.raises(ConfigurationError, match="clock_skew"):
        FakeCalypso(clock_skew=skew)  # type: ignore[arg-type]
    async with FakeCalypso(clock_skew=-30) as fake, fake.client() as client:
        with pytest.raises(ConfigurationError, match="clock_skew"):
            fake.clock_skew = skew  # type: ignore[assignment]
        assert fake.clock_skew == -30
        assert (await client.account.balances()).account == fake.account


async def test_a_taken_port_is_an_os_error() -> None:
    """Two fakes cannot share a port; the second one fails to start cleanly."""
    async with FakeCalypso() as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        with pytest.raises(OSError, match="address already in use"):
            await FakeCalypso(port=port).start()


def test_public_names_are_sorted_and_documented() -> None:
    """calypso_async.testing exports a sorted __all__, each class with a docstring."""
    import calypso_async.testing as testing

    def kind(name: str) -> tuple[int, str]:  # ruff's order: CONSTANTS, Classes, functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2), name

    assert testing.__all__ == sorted(testing.__all__, key=kind)
    for name in testing.__all__:
        obj = getattr(testing, name)
        if isinstance(obj, type):
            assert obj.__doc__, name


async def test_recorded_headers_are_case_insensitive(fake: FakeCalypso) -> None:
    """calls[...].headers answers 'sign' as well as 'Sign'."""
    async with fake.client() as client:
        await client.account.balances()
    (call,) = fake.calls
    assert call.headers["sign"] == call.headers["Sign"]
    assert call.headers["key"] == fake.api_key


async def test_on_every_interface_the_base_url_is_still_usable() -> None:
    """host='0.0.0.0' serves all interfaces; base_url names 127.0.0.1, which clients accept."""
    async with FakeCalypso(host="0.0.0.0") as fake, fake.client() as client:  # noqa: S104
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.base_url)
        assert (await client.account.balances()).account == fake.account
