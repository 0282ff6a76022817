"""The tracking conformance suite: the poll schedule and the request budget that every
store keeps, run on memory, SQLite and Redis, with two handles on one store's state as
two processes would have."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from calypso_async import Outcome
from calypso_async._resolver.ports import OutcomeRecord
from calypso_async._resolver.tracking import TrackingStore
from tests.stores import KINDS, Stores, stores_of, take


@pytest.fixture(params=KINDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    async for made in stores_of(request.param, tmp_path):
        yield made


def two(stores: Stores) -> tuple[TrackingStore, TrackingStore]:
    first: Any = stores.store()
    second: Any = stores.store()
    return first, second


async def test_an_invoice_is_tracked_once_and_keeps_its_schedule(stores: Stores) -> None:
    """Tracking it again, from any process, adds nothing and moves nothing."""
    first, second = two(stores)
    assert await first.track(["inv-1", "inv-2"], 0.0) == 2
    assert await second.track(["inv-2", "inv-3"], 50.0) == 1
    listed = await second.tracked()
    assert [t.invoice_id for t in listed] == ["inv-1", "inv-2", "inv-3"]
    assert await first.tracked_count() == 3
    assert listed[0].state is None
    assert listed[0].polls == 0


async def test_a_due_invoice_is_taken_by_one_worker_until_its_lease_passes(
    stores: Stores,
) -> None:
    """Taking pushes it a lease ahead: the other process finds nothing until then."""
    first, second = two(stores)
    await first.track(["inv-1"], 0.0)
    assert [t.invoice_id for t in await first.take_due(10, 30.0)] == ["inv-1"]
    assert await second.take_due(10, 30.0) == []
    stores.clock.advance(29.0)
    assert await second.take_due(10, 30.0) == []
    stores.clock.advance(1.5)
    assert [t.invoice_id for t in await second.take_due(10, 30.0)] == ["inv-1"]


async def test_due_invoices_come_earliest_first_up_to_the_limit(stores: Stores) -> None:
    """Three due, two asked: the two that were due first; none before their time."""
    store, _ = two(stores)
    await store.track(["late"], 20.0)
    await store.track(["b"], 2.0)
    await store.track(["a"], 1.0)
    await store.track(["c"], 3.0)
    stores.clock.advance(5.0)
    assert [t.invoice_id for t in await store.take_due(2, 30.0)] == ["a", "b"]
    assert [t.invoice_id for t in await store.take_due(5, 30.0)] == ["c"]
    assert await store.next_due() == pytest.approx(15.0, abs=0.01)


async def test_a_poll_reschedules_and_keeps_what_it_read(stores: Stores) -> None:
    """After a poll: its state and count are kept, and it is due after the delay."""
    first, second = two(stores)
    await first.track(["inv-1"], 0.0)
    await first.take_due(1, 30.0)
    assert await first.reschedule("inv-1", 60.0, "PENDING_PAYMENT")
    (listed,) = await second.tracked()
    assert (listed.state, listed.polls) == ("PENDING_PAYMENT", 1)
    assert await second.next_due() == pytest.approx(60.0, abs=0.01)
    assert not await first.reschedule("never-tracked", 60.0, "PAID")
    assert await first.tracked_count() == 1


async def test_hurry_brings_a_poll_forward_never_back(stores: Stores) -> None:
    """A webhook moves the next poll nearer; a later hurry never pushes it away."""
    first, second = two(stores)
    await first.track(["inv-1"], 600.0)
    assert await second.hurry("inv-1", 5.0)
    assert await first.next_due() == pytest.approx(5.0, abs=0.01)
    assert await second.hurry("inv-1", 100.0)
    assert await first.next_due() == pytest.approx(5.0, abs=0.01)
    assert not await second.hurry("unknown", 1.0)


async def test_untracking_ends_the_schedule_everywhere(stores: Stores) -> None:
    """Untracked in one process: the other never takes it; twice is False."""
    first, second = two(stores)
    await first.track(["inv-1"], 0.0)
    assert await second.untrack("inv-1")
    assert not await second.untrack("inv-1")
    assert await first.take_due(10, 30.0) == []
    assert await first.next_due() is None
    assert await first.tracked() == []


async def test_the_budget_grants_limit_requests_per_window_across_processes(
    stores: Stores,
) -> None:
    """Five per second between two processes; the sixth waits for the first to age."""
    first, second = two(stores)
    for store in (first, second, first, second, first):
        assert await store.grant(5, 1.0) == 0.0
        stores.clock.advance(0.1)
    wait = await second.grant(5, 1.0)
    assert wait == pytest.approx(0.5, abs=0.01)
    stores.clock.advance(wait)
    assert await second.grant(5, 1.0) == 0.0


async def test_grants_are_spaced_when_asked(stores: Stores) -> None:
    """With a spacing of 0.2 s, a second request within it waits for the rest of it."""
    first, second = two(stores)
    assert await first.grant(10, 1.0, 0.2) == 0.0
    stores.clock.advance(0.05)
    assert await second.grant(10, 1.0, 0.2) == pytest.approx(0.15, abs=0.01)
    stores.clock.advance(0.15)
    assert await second.grant(10, 1.0, 0.2) == 0.0


async def test_a_lower_limit_stops_short_leaving_the_rest_to_others(stores: Stores) -> None:
    """Polls asking with limit 3 stop at 3; a write asking with limit 5 still gets in."""
    store, _ = two(stores)
    for _ in range(3):
        assert await store.grant(3, 1.0) == 0.0
    assert await store.grant(3, 1.0) > 0
    assert await store.grant(5, 1.0) == 0.0
    assert await store.grant(5, 1.0) == 0.0
    assert await store.grant(5, 1.0) > 0


async def test_tracking_survives_a_restart(stores: Stores) -> None:
    """What a worker tracked is still there for the next process to open the store."""
    if not stores.shared:
        pytest.skip("the memory store lives and dies with its process")
    first: Any = stores.store()
    await first.track(["inv-1"], 5.0)
    await first.aclose()
    later: Any = stores.store()
    assert [t.invoice_id for t in await later.tracked()] == ["inv-1"]


async def test_a_clock_set_back_does_not_stall_the_budget(stores: Stores) -> None:
    """Grants stamped ahead of the clock are forgotten, not waited for."""
    store, _ = two(stores)
    for _ in range(3):
        assert await store.grant(3, 1.0, 0.01) == 0.0
        stores.clock.advance(0.02)
    stores.clock.advance(-600.0)
    assert await store.grant(3, 1.0, 0.01) == 0.0


async def test_the_last_outcome_of_an_invoice_is_read_by_any_process(stores: Stores) -> None:
    """What a run left (HELD here) is what a tracker elsewhere reads; none before."""
    first, second = two(stores)
    resolver_store: Any = first
    assert await second.last_outcome("inv-1") is None
    await resolver_store.accept("inv-1")
    claim = await take(resolver_store, "worker-a")
    assert claim is not None
    record = OutcomeRecord("inv-1", Outcome.HELD, "UNDERPAY held", 0.0, (), 1)
    await resolver_store.release(claim, record)
    assert await second.last_outcome("inv-1") == "HELD"


async def test_the_rate_ceiling_is_shared_halved_once_a_window_and_recovers(
    stores: Stores,
) -> None:
    """A 429 in one process lowers the ceiling for all; one more request per second."""
    first, second = two(stores)
    assert await second.ceiling(10) == 10
    assert await first.lower_ceiling(10, 1.0) == 5
    assert await second.lower_ceiling(10, 1.0) == 5, "the same window: one signal"
    assert await second.ceiling(10) == 5
    stores.clock.advance(2.0)
    assert await second.ceiling(10) == 7
    assert await second.lower_ceiling(10, 1.0) == 3.5
    stores.clock.advance(60.0)
    assert await first.ceiling(10) == 10
