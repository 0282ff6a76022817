"""Webhook delivery as Calypso publishes it: its retry schedule on the fake's clock, only
a 200 counting, and blocking after more than 100 failures in 10 minutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from calypso_async import ConfigurationError, EventType, InvoiceState
from calypso_async.testing import CALYPSO_WEBHOOK_RETRY_DELAYS, FakeCalypso, FakeCalypsoError

from .conftest import Receiver

AMOUNT = Decimal("10.234")


async def arrived(fake: FakeCalypso, count: int) -> None:
    """Wait (for the loopback I/O, at most 5 s) until ``count`` attempts were made."""
    async with asyncio.timeout(5):
        # The fake's own tasks fill the list: there is no event to wait on.
        while len(fake.deliveries) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def expire_one(fake: FakeCalypso) -> str:
    """Create an invoice through the API and expire it: one INVOICE_EXPIRED event."""
    async with fake.client() as client:
        invoice = await client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="a"
        )
    await fake.expire(invoice.id)
    return invoice.id


@pytest.fixture
async def slow_fake() -> AsyncIterator[FakeCalypso]:
    """A fake retrying on Calypso's own schedule."""
    async with FakeCalypso(
        settle_delay=None, webhook_retry_delays=CALYPSO_WEBHOOK_RETRY_DELAYS
    ) as fake:
        yield fake


def test_calypsos_schedule_is_19_growing_retries_over_about_a_day_and_a_half() -> None:
    """30, 60, 90, 150, 240 s ... as published; 19 retries spanning 30 to 36 hours."""
    delays = CALYPSO_WEBHOOK_RETRY_DELAYS
    assert delays[:5] == (30, 60, 90, 150, 240)
    assert len(delays) == 19
    assert list(delays) == sorted(delays)
    assert 30 * 3600 < sum(delays) < 36 * 3600


async def test_a_retry_waits_for_the_fakes_clock_and_advance_brings_it(
    slow_fake: FakeCalypso, receiver: Receiver
) -> None:
    """The first retry comes 30 s after the failure on the fake's clock, not before."""
    fake = slow_fake
    async with fake.client() as client:
        await client.webhooks.create(url=receiver.url, event_types=[EventType.INVOICE_EXPIRED])
    receiver.statuses = [500, 500]
    await expire_one(fake)
    await arrived(fake, 1)
    await fake.advance(29.5)
    await asyncio.sleep(0.05)
    assert len(fake.deliveries) == 1, "no retry before 30 s have passed"
    await fake.advance(0.5)
    await arrived(fake, 2)
    await fake.advance(60)
    await fake.wait_for_deliveries(timeout=5)
    assert [(d.attempt, d.status) for d in fake.deliveries] == [(1, 500), (2, 500), (3, 200)]


async def test_requests_are_still_checked_against_the_real_clock_after_advance(
    slow_fake: FakeCalypso,
) -> None:
    """Advancing 31 days makes no request stale, yet an invoice's expiration passes."""
    async with slow_fake.client(sync_clock=False) as client:
        invoice = await client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="a"
        )
        await slow_fake.advance(31 * 86_400)
        assert (await client.account.balances()).account == slow_fake.account
        assert (await client.invoices.get(invoice.id)).state is InvoiceState.ARCHIVED


async def test_only_a_200_counts_as_delivered(fake: FakeCalypso, receiver: Receiver) -> None:
    """A 204 is a failure to Calypso: the event is sent again until a 200."""
    async with fake.client() as client:
        await client.webhooks.create(url=receiver.url, event_types=[EventType.INVOICE_EXPIRED])
    receiver.statuses = [204]
    await expire_one(fake)
    await fake.wait_for_deliveries()
    assert [(d.attempt, d.status, d.ok) for d in fake.deliveries] == [
        (1, 204, False),
        (2, 200, True),
    ]


async def test_101_failures_in_ten_minutes_block_and_unblocking_sends_them_again(
    receiver: Receiver,
) -> None:
    """The 101st failure blocks; later events wait too; unblock sends every one, once."""
    async with FakeCalypso(settle_delay=None, webhook_retry_delays=[0.0] * 150) as fake:
        async with fake.client() as client:
            sub = await client.webhooks.create(
                url=receiver.url, event_types=[EventType.INVOICE_EXPIRED]
            )
        receiver.statuses = [500] * 101
        first = await expire_one(fake)
        await fake.wait_for_deliveries()
        assert len(fake.deliveries) == 101
        assert fake.subscription_blocked(sub.request_id)
        second = await expire_one(fake)
        await fake.wait_for_deliveries()
        assert len(receiver.requests) == 101, "nothing is sent to a blocked subscription"
        assert fake.held_deliveries(sub.request_id) == 2
        assert fake.subscriptions[0]["blockedByErrorCount"] == 101

        assert await fake.unblock_subscription(sub.request_id) == 2
        await fake.wait_for_deliveries()
        delivered = [e["data"]["parentExternalId"] for e in receiver.events()[101:]]
        assert sorted(delivered) == sorted([first, second])
        assert not fake.subscription_blocked(sub.request_id)
        assert fake.held_deliveries(sub.request_id) == 0
        assert fake.subscriptions[0]["blockedByErrorCount"] == 0


async def test_failures_spread_over_more_than_ten_minutes_do_not_block(
    receiver: Receiver,
) -> None:
    """60 failures, 601 s of quiet, 61 more: never more than 100 within the window."""
    delays = [0.0] * 59 + [601.0] + [0.0] * 60
    async with FakeCalypso(settle_delay=None, webhook_retry_delays=delays) as fake:
        async with fake.client() as client:
            sub = await client.webhooks.create(
                url=receiver.url, event_types=[EventType.INVOICE_EXPIRED]
            )
        receiver.statuses = [500] * 200
        await expire_one(fake)
        await arrived(fake, 60)
        await fake.advance(601)
        await fake.wait_for_deliveries()
        assert len(fake.deliveries) == 121
        assert not fake.subscription_blocked(sub.request_id)
        assert fake.subscriptions[0]["blockedByErrorCount"] == 121


async def test_a_blocked_subscription_hears_nothing_until_unblocked(
    fake: FakeCalypso, receiver: Receiver
) -> None:
    """block_subscription stands in for a block by Calypso: events wait, then arrive."""
    async with fake.client() as client:
        sub = await client.webhooks.create(
            url=receiver.url, event_types=[EventType.INVOICE_PENDING_INTERVENTION]
        )
        fake.block_subscription(sub.request_id)
        invoice = await client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="a"
        )
    await fake.pay(invoice.id, "11")
    await fake.wait_for_deliveries()
    assert receiver.requests == []
    assert await fake.unblock_subscription(sub.request_id) == 1
    await fake.wait_for_deliveries()
    assert [e["data"]["parentExternalId"] for e in receiver.events()] == [invoice.id]


async def test_levers_refuse_unknown_subscriptions_and_time_going_back(
    fake: FakeCalypso,
) -> None:
    """An unknown request id is a 404 with code 004; advance takes no negative time."""
    with pytest.raises(FakeCalypsoError) as caught:
        fake.block_subscription("nope")
    assert (caught.value.status, caught.value.error_code) == (404, "004")
    with pytest.raises(FakeCalypsoError):
        await fake.unblock_subscription("nope")
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ConfigurationError):
            await fake.advance(bad)
