"""Webhook subscriptions on the fake, and the signed deliveries it makes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calypso_async import (
    CalypsoClient,
    EventType,
    NotFoundError,
    ServiceType,
    verify_signature,
)
from calypso_async._inbound import parse_event
from calypso_async.testing import FakeCalypso

from .conftest import Receiver

AMOUNT = Decimal("10.234")


async def test_subscriptions_can_be_created_listed_and_deleted(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """create answers keys and a date; the same requestId twice is one subscription."""
    sub = await client.webhooks.create(
        url="http://127.0.0.1:9/hook",
        event_types=[EventType.INVOICE_PENDING_INTERVENTION],
        request_id="sub-1",
    )
    again = await client.webhooks.create(
        url="http://127.0.0.1:9/hook", service_types=[ServiceType.INVOICE], request_id="sub-1"
    )
    assert again.secret_key == sub.secret_key
    assert sub.public_key
    assert sub.created_date is not None
    assert sub.blocked_by_error_count == 0
    listed = await client.webhooks.list()
    assert [s.request_id for s in listed] == ["sub-1"]
    assert listed[0].notification_event_types == (EventType.INVOICE_PENDING_INTERVENTION,)
    await client.webhooks.delete("sub-1")
    assert await client.webhooks.list() == []
    with pytest.raises(NotFoundError):
        await client.webhooks.delete("sub-1")


async def test_delete_answers_an_empty_200(fake: FakeCalypso, client: CalypsoClient) -> None:
    """Deleting is documented as 'no content': the fake answers 200 with no body."""
    await client.webhooks.create(url="http://127.0.0.1:9/h", event_types=["X"], request_id="s")
    await client.webhooks.delete("s")
    (call,) = fake.calls_to("/api/v1/subscription/webhook")
    assert (call.method, call.status, call.payload) == ("DELETE", 200, {"requestId": "s"})


async def test_delivery_is_signed_with_the_subscription_secret(
    client: CalypsoClient, fake: FakeCalypso, receiver: Receiver
) -> None:
    """Key is the subscription's public key; Sign verifies with its secret over the body."""
    sub = await client.webhooks.create(url=receiver.url, service_types=[ServiceType.INVOICE])
    assert sub.secret_key is not None
    invoice = await client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="a", idempotency_key="key-7"
    )
    await fake.pay(invoice.id, "10.00")
    await fake.wait_for_deliveries()
    body, headers = receiver.requests[-1]
    assert headers["Key"] == sub.public_key
    assert verify_signature(body, headers["Sign"], sub.secret_key)
    assert not verify_signature(body, headers["Sign"], fake.secret_key)
    event = parse_event(body, headers, sub.secret_key)
    assert event.event_type is EventType.INVOICE_PENDING_INTERVENTION
    assert event.invoice_id == invoice.id
    assert event.data.idempotency_key == "key-7"
    assert event.request_id == sub.request_id
    assert [e["eventType"] for e in receiver.events()] == [
        "INVOICE_CREATE_INVOICE",
        "INVOICE_FUNDS_RECEIVED_FOR_INVOICE",
        "INVOICE_PENDING_INTERVENTION",
    ]
    assert [d.body for d in fake.deliveries] == [b for b, _ in receiver.requests]


async def test_event_type_subscription_gets_only_its_types(
    client: CalypsoClient, fake: FakeCalypso, receiver: Receiver
) -> None:
    """A subscription to INVOICE_PAID hears about payment, not creation or settlement."""
    await client.webhooks.create(url=receiver.url, event_types=[EventType.INVOICE_PAID])
    invoice = await client.invoices.create_single(amount=AMOUNT, currency="USDT", description="a")
    await fake.pay(invoice.id, AMOUNT)
    await fake.settle(invoice.id)
    await fake.wait_for_deliveries()
    assert [e["eventType"] for e in receiver.events()] == ["INVOICE_PAID"]
    event = receiver.events()[0]
    assert event["service"] == "INVOICE"
    assert event["level"] == "SUCCESS"
    assert event["data"]["type"] == "INVOICE_PAID"
    assert event["data"]["parentExternalId"] == invoice.id


async def test_failed_delivery_is_retried_until_accepted(
    client: CalypsoClient, fake: FakeCalypso, receiver: Receiver
) -> None:
    """Two 500s, then 200: three attempts of the same bytes; the error count resets."""
    await client.webhooks.create(url=receiver.url, event_types=[EventType.INVOICE_EXPIRED])
    invoice = await client.invoices.create_single(amount=AMOUNT, currency="USDT", description="a")
    receiver.statuses = [500, 500]
    await fake.expire(invoice.id)
    await fake.wait_for_deliveries()
    assert [(d.attempt, d.status) for d in fake.deliveries] == [(1, 500), (2, 500), (3, 200)]
    assert fake.deliveries[0].error == "the receiver answered 500 (only a 200 counts)"
    assert len({d.body for d in fake.deliveries}) == 1
    assert fake.deliveries[-1].ok
    assert fake.subscriptions[0]["blockedByErrorCount"] == 0


async def test_delivery_is_given_up_after_the_last_retry() -> None:
    """An unreachable receiver gets 1 + len(webhook_retry_delays) attempts, then none."""
    async with FakeCalypso(webhook_retry_delays=(0.0, 0.01)) as fake, fake.client() as client:
        await client.webhooks.create(
            url="http://127.0.0.1:9/closed", service_types=[ServiceType.INVOICE]
        )
        await client.invoices.create_single(amount=AMOUNT, currency="USDT", description="a")
        await fake.wait_for_deliveries()
        deliveries = fake.deliveries
        assert [d.attempt for d in deliveries] == [1, 2, 3]
        assert all(d.status is None and d.error for d in deliveries)
        assert fake.subscriptions[0]["blockedByErrorCount"] == 3


async def test_duplicate_deliveries_repeat_the_same_event(
    client: CalypsoClient, fake: FakeCalypso, receiver: Receiver
) -> None:
    """Each event arrives 1 + duplicate_deliveries times with the same id and bytes."""
    fake.duplicate_deliveries = 2
    await client.webhooks.create(url=receiver.url, event_types=[EventType.INVOICE_EXPIRED])
    invoice = await client.invoices.create_single(amount=AMOUNT, currency="USDT", description="a")
    await fake.expire(invoice.id)
    await fake.wait_for_deliveries()
    assert len(receiver.requests) == 3
    assert len({body for body, _ in receiver.requests}) == 1


async def test_reordered_deliveries_shuffle_events_caused_together(receiver: Receiver) -> None:
    """With reorder on and a fixed seed, a batch arrives in a different, repeatable order."""
    orders = []
    for _ in range(2):
        async with FakeCalypso(settle_delay=None, seed=3) as fake, fake.client() as c:
            fake.reorder_deliveries = True
            fake.duplicate_deliveries = 3
            await c.webhooks.create(url=receiver.url, service_types=[ServiceType.INVOICE])
            invoice = await c.invoices.create_single(
                amount=AMOUNT, currency="USDT", description="a"
            )
            await fake.wait_for_deliveries()
            receiver.requests.clear()
            await fake.pay(invoice.id, "10.00")
            await fake.wait_for_deliveries()
            orders.append([e["eventType"] for e in receiver.events()])
    sent_in_order = ["INVOICE_FUNDS_RECEIVED_FOR_INVOICE"] * 4 + [
        "INVOICE_PENDING_INTERVENTION"
    ] * 4
    assert sorted(orders[0]) == sorted(sent_in_order)
    assert orders[0] != sent_in_order
    assert orders[0] == orders[1]


async def test_wait_for_deliveries_times_out_while_retries_are_pending() -> None:
    """A retry scheduled far away keeps deliveries pending: the wait says so."""
    async with FakeCalypso(webhook_retry_delays=(30,)) as fake, fake.client() as client:
        await client.webhooks.create(
            url="http://127.0.0.1:9/closed", service_types=[ServiceType.INVOICE]
        )
        await client.invoices.create_single(amount=AMOUNT, currency="USDT", description="a")
        with pytest.raises(TimeoutError, match="1 webhook deliveries still pending"):
            await fake.wait_for_deliveries(timeout=0.05)
    # Closing cancelled the retry: nothing is left running (warnings are errors here).


@pytest.mark.parametrize("settlements", [True, False])
async def test_wait_for_deliveries_waits_for_pending_settlements(
    receiver: Receiver, settlements: bool
) -> None:
    """An exact payment: the wait also covers COMPLETED and its webhook, unless told not to."""
    async with FakeCalypso(settle_delay=0.1) as fake, fake.client() as client:
        await client.webhooks.create(url=receiver.url, service_types=[ServiceType.INVOICE])
        invoice = await client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="a"
        )
        await fake.pay(invoice.id, AMOUNT)
        await fake.wait_for_deliveries(settlements=settlements)
        state = fake.invoice(invoice.id)["state"]
        received = [e["eventType"] for e in receiver.events()]
    expected = [
        "INVOICE_CREATE_INVOICE",
        "INVOICE_FUNDS_RECEIVED_FOR_INVOICE",
        "INVOICE_PAID",
    ]
    if settlements:
        assert (state, received) == (
            "COMPLETED",
            [*expected, "INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED"],
        )
    else:
        assert (state, received) == ("PAID", expected)


async def test_wait_for_deliveries_times_out_on_a_long_settlement() -> None:
    """A settle timer beyond the timeout keeps the wait pending, and it says what is left."""
    async with FakeCalypso(settle_delay=30) as fake, fake.client() as client:
        invoice = await client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="a"
        )
        await fake.pay(invoice.id, AMOUNT)
        with pytest.raises(TimeoutError, match=r"1 settlement\(s\) still pending"):
            await fake.wait_for_deliveries(timeout=0.05)
        await fake.wait_for_deliveries(timeout=0.05, settlements=False)
