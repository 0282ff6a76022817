"""InvoiceTracker against FakeCalypso: polls find what webhooks did not bring, hand it
to the resolver's intake, and stop tracking once an invoice is final for the merchant.

The tracker is driven by hand (``poll_due`` then ``join``) on the client's fake clock,
which the store shares: nothing really waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from calypso_async import (
    ConfigurationError,
    Decision,
    EventData,
    EventType,
    InterventionResolver,
    InvoiceChange,
    InvoiceState,
    InvoiceTracker,
    PollSchedule,
    Resolution,
    StoreError,
    WebhookEvent,
)
from calypso_async.stores import MemoryStore, SQLiteStore
from calypso_async.testing import FakeCalypso
from tests.resolver.test_resolver import World

AMOUNT = Decimal("10.234")


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with FakeCalypso(settle_delay=None, accept_repeated_return_to_paid=True) as fake:
        w = World(fake)
        async with w.client:
            yield w


class Seen:
    """Records what the hooks are given."""

    def __init__(self) -> None:
        self.changes: list[InvoiceChange] = []
        self.outcomes: list[Resolution] = []


async def settle_all(tracker: InvoiceTracker, resolver: InterventionResolver) -> None:
    """Poll what is due, then let the resolver finish what the polls handed it."""
    await tracker.poll_due()
    await tracker.join()
    await resolver.join()


def event(invoice_id: str, event_type: EventType, event_id: int = 1) -> WebhookEvent:
    return WebhookEvent(
        request_id="sub",
        id=event_id,
        event_type=event_type,
        data=EventData(parent_external_id=invoice_id),
    )


async def test_an_overpay_no_webhook_announced_is_found_resolved_and_untracked(
    world: World,
) -> None:
    """Polling finds PENDING_INTERVENTION, the resolver takes the money once, tracking ends."""
    seen = Seen()
    resolver = InterventionResolver(
        world.client, store=MemoryStore(), on_outcome=seen.outcomes.append
    )
    tracker = InvoiceTracker(resolver, on_change=seen.changes.append)
    invoice = await world.intervention("10.50")
    async with resolver:
        assert await tracker.track(invoice.id) == 1
        await settle_all(tracker, resolver)
    assert world.fake.returns_to_paid == {invoice.id: 1}
    assert [str(r.outcome) for r in seen.outcomes] == ["RESOLVED"]
    assert await tracker.tracked() == []
    assert [(c.previous, c.state) for c in seen.changes] == [
        (None, InvoiceState.PENDING_INTERVENTION)
    ]


async def test_an_underpay_is_held_for_a_human_and_untracked(world: World) -> None:
    """Nothing is written; the held invoice is no longer polled."""
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver)
    invoice = await world.intervention("10.00")
    async with resolver:
        await tracker.track(invoice.id)
        await settle_all(tracker, resolver)
    assert world.fake.returns_to_paid == {}
    assert await tracker.tracked() == []


async def test_a_poll_and_a_webhook_for_one_invoice_make_one_write(world: World) -> None:
    """The webhook and the poll share the resolver's intake: one return-to-paid."""
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver)
    invoice = await world.intervention("10.50")
    async with resolver:
        await tracker.track(invoice.id)
        await resolver.accept(event(invoice.id, EventType.INVOICE_PENDING_INTERVENTION))
        await settle_all(tracker, resolver)
        await resolver.accept(event(invoice.id, EventType.INVOICE_PENDING_INTERVENTION, 2))
        await resolver.join()
    assert world.fake.returns_to_paid == {invoice.id: 1}


async def test_an_unknown_invoice_is_reported_and_not_tracked(world: World) -> None:
    """A 404 is final: tracking ends at once and on_change hears of it."""
    seen = Seen()
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver, on_change=seen.changes.append)
    await tracker.track("no-such-invoice")
    async with resolver:
        await settle_all(tracker, resolver)
    assert await tracker.tracked() == []
    (change,) = seen.changes
    assert (change.invoice_id, change.invoice, change.final) == ("no-such-invoice", None, True)


async def test_a_quiet_invoice_is_polled_again_later_and_an_expired_one_dropped(
    world: World,
) -> None:
    """PENDING_PAYMENT comes back after the fresh interval; ARCHIVED ends tracking."""
    schedule = PollSchedule(fresh=7.0)
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver, schedule=schedule)
    invoice = await world.client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="quiet"
    )
    await tracker.track(invoice.id)
    await tracker.poll_due()
    await tracker.join()
    (tracked,) = await tracker.tracked()
    assert (tracked.state, tracked.polls) == ("PENDING_PAYMENT", 1)
    assert await tracker.poll_due() == 0, "not due again before 7 s"
    world.now += 7.0
    await world.fake.expire(invoice.id)
    assert await tracker.poll_due() == 1
    await tracker.join()
    assert await tracker.tracked() == []


async def test_webhooks_bring_the_next_poll_forward(world: World) -> None:
    """INVOICE_PAID and INVOICE_EXPIRED make the invoice due soon, to read it final;
    other events change nothing."""
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver, schedule=PollSchedule(after_event=1.0))
    await tracker.track("inv-a", "inv-b", "inv-c", first_poll=600.0)
    await tracker.heard(event("inv-a", EventType.INVOICE_EXPIRED))
    await tracker.heard(event("inv-b", EventType.INVOICE_PAID))
    await tracker.heard(event("inv-c", EventType.INVOICE_CREATE_INVOICE))
    due = {t.invoice_id: t.due - world.now for t in await tracker.tracked()}
    assert due == {"inv-a": pytest.approx(1.0), "inv-b": pytest.approx(1.0), "inv-c": 600.0}


async def test_a_store_failure_never_fails_a_webhook_delivery(world: World) -> None:
    """heard() is a hint: a store that cannot answer is logged, not raised."""

    class Broken(MemoryStore):
        async def hurry(self, invoice_id: str, delay: float) -> bool:
            raise StoreError("memory://: away")

    tracker = InvoiceTracker(InterventionResolver(world.client, store=Broken()))
    await tracker.heard(event("inv-a", EventType.INVOICE_PAID))


async def test_an_intervention_that_failed_for_good_is_left_for_a_human(world: World) -> None:
    """A parked FAILED run is not started again by every poll: tracking ends."""

    def broken(_: object) -> Decision:
        raise RuntimeError("the policy is broken")

    store = MemoryStore()
    seen = Seen()
    resolver = InterventionResolver(
        world.client, broken, store=store, retry_failed=0, on_outcome=seen.outcomes.append
    )
    tracker = InvoiceTracker(resolver, schedule=PollSchedule(intervention=1.0))
    invoice = await world.intervention("10.50")
    async with resolver:
        await tracker.track(invoice.id)
        await settle_all(tracker, resolver)
        world.now += 1.0
        await settle_all(tracker, resolver)
    assert [str(r.outcome) for r in seen.outcomes] == ["FAILED"]
    assert await tracker.tracked() == []


async def test_a_completed_invoice_with_its_intervention_open_is_closed(world: World) -> None:
    """Returned to paid, then the worker died before closing: a poll hands it over."""
    invoice = await world.intervention("10.50")
    await world.client.invoices.return_to_paid(invoice.id)
    await world.fake.settle(invoice.id)
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver)
    async with resolver:
        await tracker.track(invoice.id)
        await settle_all(tracker, resolver)
    assert world.writes(invoice.id) == (1, 1)
    assert world.fake.returns_to_paid == {invoice.id: 1}
    assert await tracker.tracked() == []


async def test_a_bare_404_is_an_outage_not_an_unknown_invoice(world: World) -> None:
    """Only Calypso's 004 ends tracking: a proxy's 404 keeps the invoice, for later."""
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver)
    invoice = await world.client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="x"
    )
    await tracker.track(invoice.id)
    world.fake.fail("/api/v1/invoice", 404, body=b"<html>Not Found</html>")
    await tracker.poll_due()
    await tracker.join()
    (kept,) = await tracker.tracked()
    assert kept.due - world.now >= 30.0


async def test_refused_credentials_pause_every_poll(world: World) -> None:
    """A 401 is logged once and no poll is sent until the pause is over."""
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver)
    await tracker.track("inv-a", "inv-b")
    world.fake.fail("/api/v1/invoice", 401)
    tracker._concurrency = 1  # one poll meets the 401 before the other is taken
    assert await tracker.poll_due() == 1
    await tracker.join()
    assert await tracker.poll_due() == 0, "paused"
    assert len(world.fake.calls_to("/api/v1/invoice")) == 1


async def test_an_invoice_type_without_interventions_is_not_tracked(world: World) -> None:
    """An UNLIMITED invoice never has an intervention: its first poll ends tracking."""
    seen = Seen()
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver, on_change=seen.changes.append)
    invoice = await world.client.invoices.create_unlimited(currency="USDT", description="x")
    await tracker.track(invoice.id)
    await tracker.poll_due()
    await tracker.join()
    assert await tracker.tracked() == []
    assert [c.final for c in seen.changes] == [True]


async def test_track_refuses_bad_ids_before_any_io(world: World) -> None:
    """An empty id is a ConfigurationError; so is a store that cannot track."""
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver)
    with pytest.raises(ConfigurationError):
        await tracker.track("")
    assert world.fake.calls == []


def test_schedule_polls_fresh_invoices_often_and_quiet_ones_rarely() -> None:
    """Fresh, quiet, near expiry, on the way, final: each gets its interval."""
    schedule = PollSchedule()
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def invoice(state: str, created: timedelta, expires: timedelta) -> object:
        from calypso_async import Invoice
        from calypso_async._types import structure

        return structure(
            {
                "id": "i",
                "type": "SINGLE",
                "currency": "USDT",
                "state": state,
                "createdDate": (now - created).isoformat(),
                "expiration": (now + expires).isoformat(),
            },
            Invoice,
        )

    fresh = invoice("PENDING_PAYMENT", timedelta(minutes=1), timedelta(days=1))
    quiet = invoice("PENDING_PAYMENT", timedelta(hours=2), timedelta(days=1))
    near = invoice("PENDING_PAYMENT", timedelta(hours=2), timedelta(minutes=5))
    paid = invoice("PAID", timedelta(hours=2), timedelta(days=1))
    done = invoice("COMPLETED", timedelta(hours=2), timedelta(days=1))
    archived = invoice("ARCHIVED", timedelta(days=31), timedelta(days=-1))
    assert schedule.next_poll(fresh, now) == 15.0  # type: ignore[arg-type]
    assert schedule.next_poll(fresh, now, heard=True) == 150.0  # type: ignore[arg-type]
    assert schedule.next_poll(quiet, now) == 300.0  # type: ignore[arg-type]
    assert schedule.next_poll(near, now) == 30.0  # type: ignore[arg-type]
    assert schedule.next_poll(paid, now) == 20.0  # type: ignore[arg-type]
    assert schedule.next_poll(done, now) is None  # type: ignore[arg-type]
    assert schedule.next_poll(archived, now) is None  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        PollSchedule(fresh=0)


async def test_two_trackers_on_one_store_never_poll_an_invoice_twice_at_once(
    world: World, tmp_path: Path
) -> None:
    """Two processes' trackers on one SQLite file split the due invoices between them."""
    invoices = [
        await world.client.invoices.create_single(amount=AMOUNT, currency="USDT", description="x")
        for _ in range(20)
    ]
    async with SQLiteStore(tmp_path / "s.db") as one, SQLiteStore(tmp_path / "s.db") as two:
        trackers = [
            InvoiceTracker(InterventionResolver(world.client, store=store), concurrency=7)
            for store in (one, two)
        ]
        await trackers[0].track(*(invoice.id for invoice in invoices))
        taken = [await tracker.poll_due() for tracker in trackers]
        for tracker in trackers:
            await tracker.join()
        taken += [await tracker.poll_due() for tracker in trackers]
        for tracker in trackers:
            await tracker.join()
    assert taken == [7, 7, 6, 0]
    gets = [c for c in world.fake.calls if c.path == "/api/v1/invoice"]
    assert sorted(c.payload["id"] for c in gets if c.payload) == sorted(i.id for i in invoices)


async def test_tracked_by_key_before_the_create_it_is_found_and_resolved(world: World) -> None:
    """Track first, create second: a crash between them cannot leave it untracked."""
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver)
    await tracker.track_key("order-42")
    assert await tracker.poll_due() == 0, "not before the create has had its time"
    invoice = await world.client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="x", idempotency_key="order-42"
    )
    await world.fake.pay(invoice.id, "10.50")
    world.now += 60.0
    async with resolver:
        await settle_all(tracker, resolver)
    assert world.fake.returns_to_paid == {invoice.id: 1}
    assert await tracker.tracked() == []
    gets = [c.payload for c in world.fake.calls_to("/api/v1/invoice")]
    assert {"idempotencyKey": "order-42"} in gets


async def test_a_key_no_invoice_was_made_with_is_reported_and_dropped(world: World) -> None:
    """The create never landed: Calypso's 004 for the key ends tracking, reported."""
    seen = Seen()
    resolver = InterventionResolver(world.client, store=MemoryStore())
    tracker = InvoiceTracker(resolver, on_change=seen.changes.append)
    await tracker.track_key("never-made", first_poll=0.0)
    await tracker.poll_due()
    await tracker.join()
    assert await tracker.tracked() == []
    (change,) = seen.changes
    assert (change.invoice_id, change.invoice, change.final) == (
        "idempotencyKey:never-made",
        None,
        True,
    )
