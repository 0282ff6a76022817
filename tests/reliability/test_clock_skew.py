"""Clock skew against FakeCalypso: the session learns the server's clock from ``Date`` and
stays inside the ±3 minute window; with learning off, the error says so plainly.
"""

from __future__ import annotations

import json
import time

import pytest

from calypso_async import AuthenticationError, InterventionResolver, Outcome
from calypso_async.testing import FakeCalypso, RecordedCall
from tests.reliability.harness import AMOUNT, CREATE, OVERPAID, RTP, Clock, settler, writes

ACCOUNT = "/api/v1/account"


def timestamp_error(call: RecordedCall, skew: float) -> float:
    """Seconds between a request's timestamp and the fake's clock when it was checked."""
    sent: float = json.loads(call.body)["timestamp"] / 1000
    return abs(sent - (time.time() + skew))


@pytest.mark.parametrize("skew", [600, -600, 3600])
async def test_session_learns_a_skewed_server_clock_and_then_stays_in_the_window(
    skew: float,
) -> None:
    """One refusal teaches the offset; the retry and every later call are on time."""
    async with FakeCalypso(clock_skew=skew) as fake, fake.client() as client:
        await client.account.balances()
        for _ in range(3):
            await client.account.balances()
        offset = client.session.clock_offset
    statuses = [call.status for call in fake.calls_to(ACCOUNT)]
    assert statuses == [401, 200, 200, 200, 200]
    assert fake.calls_to(ACCOUNT)[0].error_code == "011"
    assert abs(offset - skew) < 2
    assert all(timestamp_error(call, skew) < 3 for call in fake.calls_to(ACCOUNT)[1:])


@pytest.mark.parametrize("skew", [600, -600])
async def test_without_clock_sync_the_error_says_to_check_the_system_clock(skew: float) -> None:
    """sync_clock=False: one call, refused, and the message names the timestamp and the fix."""
    async with FakeCalypso(clock_skew=skew) as fake, fake.client(sync_clock=False) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.account.balances()
    error = caught.value
    assert (error.status, error.error_code) == (401, "011")
    assert "timestamp" in str(error).lower()
    assert "check the system clock" in str(error)
    assert len(fake.calls) == 1, "nothing learned, so nothing retried"


async def test_skew_within_the_window_is_corrected_before_it_becomes_a_refusal() -> None:
    """A server 100 s ahead accepts us, and the first Date already corrects our timestamps."""
    async with FakeCalypso(clock_skew=100) as fake, fake.client() as client:
        await client.account.balances()
        await client.account.balances()
        offset = client.session.clock_offset
    assert [call.status for call in fake.calls] == [200, 200]
    assert abs(offset - 100) < 2
    assert timestamp_error(fake.calls[1], 100) < 3


async def test_a_second_of_skew_is_noise_and_left_alone() -> None:
    """Date has one-second resolution: an offset that small is not acted on."""
    async with FakeCalypso(clock_skew=0.4) as fake, fake.client() as client:
        await client.account.balances()
        assert client.session.clock_offset == 0


async def test_server_clock_jumping_mid_session_is_learned_again() -> None:
    """Skew appearing (and going) while running costs one refusal each time, then passes."""
    async with FakeCalypso() as fake, fake.client() as client:
        await client.account.balances()
        fake.clock_skew = 900
        await client.account.balances()
        fake.clock_skew = 0
        await client.account.balances()
        offset = client.session.clock_offset
    assert [call.status for call in fake.calls] == [200, 401, 200, 401, 200]
    assert abs(offset) < 2


async def test_writes_refused_for_their_timestamp_are_carried_out_once() -> None:
    """A refused timestamp means not acted on: create and return-to-paid each happen once."""
    async with FakeCalypso(clock_skew=-600, settle_delay=None) as fake, fake.client() as client:
        invoice = await client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="skewed"
        )
        await fake.pay(invoice.id, OVERPAID)
        fake.clock_skew = 600  # the server's clock moves again before the write
        paid = await client.invoices.return_to_paid(invoice.id)
    assert [call.status for call in fake.calls_to(CREATE)] == [401, 200]
    assert len(fake.invoices) == 1
    assert paid.state == "PAID"
    assert [call.status for call in fake.calls_to(RTP)] == [401, 200]
    assert writes(fake, RTP, invoice.id) == (2, 1, 1)  # the refusal was the timestamp check
    assert fake.calls_to(RTP)[0].processed_error_code == "011"


async def test_resolver_under_a_skewed_server_clock_resolves_with_one_return_to_paid() -> None:
    """End to end with a server 10 minutes ahead: RESOLVED, each write carried out once."""
    async with FakeCalypso(clock_skew=600, settle_delay=None) as fake:
        clock = Clock(settler(fake))
        async with fake.client(sleep=clock.sleep, clock=clock) as client:
            invoice = await client.invoices.create_single(
                amount=AMOUNT, currency="USDT", description="skewed"
            )
            await fake.pay(invoice.id, OVERPAID)
            resolution = await InterventionResolver(client, poll_interval=1).resolve(invoice.id)
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert writes(fake, RTP, invoice.id).carried_out == 1
    assert fake.invoice(invoice.id)["isInterventionResolved"] is True


async def test_resolver_without_clock_sync_fails_saying_to_check_the_clock() -> None:
    """The FAILED resolution's reason carries the plain advice, and nothing is written."""
    async with FakeCalypso(clock_skew=600, settle_delay=None) as fake:
        async with fake.client() as setup:
            invoice = await setup.invoices.create_single(
                amount=AMOUNT, currency="USDT", description="skewed"
            )
        await fake.pay(invoice.id, OVERPAID)
        async with fake.client(sync_clock=False) as client:
            resolution = await InterventionResolver(client).resolve(invoice.id)
    assert resolution.outcome is Outcome.FAILED
    assert "check the system clock" in resolution.reason
    assert fake.calls_to(RTP) == []
