"""The store conformance suite: what every store promises, run on memory, SQLite and Redis.

Each test is about processes sharing one store: ``stores.store()`` is another handle on
the same state (the same file, the same Redis namespace; for memory, the same object,
since its sharing ends at the process). Time is the store's clock, moved by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from calypso_async import Outcome, Write
from calypso_async._resolver.ports import Intake, OutcomeRecord, WriteRefused
from tests.stores import KINDS, Stores, stores_of, take

RTP = Write.RETURN_TO_PAID
LEASE = 30.0
HOLD = 120.0


@pytest.fixture(params=KINDS)
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    async for made in stores_of(request.param, tmp_path):
        yield made


def shared_only(stores: Stores) -> None:
    if not stores.shared:
        pytest.skip("the memory store is shared by one process only: no leases to run out")


def outcome(invoice_id: str, kind: Outcome, reason: str = "why") -> OutcomeRecord:
    return OutcomeRecord(invoice_id, kind, reason, 0.0, (RTP,), 1)


# -- intake ----------------------------------------------------------------------------


async def test_an_invoice_is_pending_once_however_many_copies_arrive(stores: Stores) -> None:
    """The first copy queues it; every later copy, at any process, is merged into it."""
    first, second = stores.store(), stores.store()
    assert await first.accept("inv-1") is Intake.QUEUED
    assert await second.accept("inv-1") is Intake.MERGED
    assert await first.accept("inv-1") is Intake.MERGED
    assert await second.counts() == (1, 0)


async def test_an_event_seen_once_is_a_replay_for_every_process(stores: Stores) -> None:
    """The same delivery (subscription and event id) arriving at another process is a
    replay there, even once the invoice is no longer pending."""
    first, second = stores.store(), stores.store()
    assert await first.accept("inv-1", event_key="sub/7") is Intake.QUEUED
    assert await second.accept("inv-1", event_key="sub/7") is Intake.REPLAY
    claim = await take(second, "worker-b")
    assert claim is not None
    await second.release(claim, outcome("inv-1", Outcome.RESOLVED))
    assert await first.accept("inv-1", event_key="sub/7") is Intake.REPLAY
    assert await first.accept("inv-1", event_key="sub/8") is Intake.QUEUED


async def test_an_event_id_is_forgotten_after_the_replay_window(stores: Stores) -> None:
    """Replays are remembered for a window, not for ever (bounded storage)."""
    store = stores.store(replay_window=60)
    assert await store.accept("inv-1", event_key="sub/7") is Intake.QUEUED
    stores.clock.advance(61)
    if stores.kind == "redis":
        pytest.skip("Redis expires the key on its own clock; pinned by the TTL it sets")
    assert await store.accept("inv-1", event_key="sub/7") is Intake.MERGED


async def test_an_invoice_accepted_while_it_runs_runs_once_more_after(stores: Stores) -> None:
    """A copy arriving mid-run marks it; the end of the run queues it again, once."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    assert await store.counts() == (0, 1)
    assert await stores.store().accept("inv-1") is Intake.AGAIN
    assert await store.accept("inv-1") is Intake.MERGED
    await store.release(claim, outcome("inv-1", Outcome.RESOLVED))
    again = await take(store, "worker-b")
    assert again is not None
    assert again.invoice_id == "inv-1"
    assert again.token != claim.token
    assert await take(store, "worker-c") is None


# -- claims ----------------------------------------------------------------------------


async def test_a_pending_invoice_is_claimed_by_one_worker_only(stores: Stores) -> None:
    """Workers racing for one pending invoice: exactly one gets it."""
    await stores.store().accept("inv-1")
    handles = [stores.store() for _ in range(4)]
    claims = await asyncio.gather(*(take(h, f"worker-{i}") for i, h in enumerate(handles * 3)))
    assert len([claim for claim in claims if claim is not None]) == 1


async def test_a_claimed_invoice_cannot_be_claimed_by_another_run(stores: Stores) -> None:
    """A live claim holds off direct claims and the queue alike."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    assert await stores.store().claim("inv-1", "worker-b", LEASE) is None
    assert await take(stores.store(), "worker-b") is None
    assert await store.renew(claim, LEASE)


async def test_a_dead_workers_claim_is_taken_over_after_its_lease(stores: Stores) -> None:
    """Past its lease a claim is free; the new one has another token, and the old
    holder can neither renew, nor release, nor record a write any more."""
    shared_only(stores)
    a, b = stores.store(), stores.store()
    await a.accept("inv-1")
    old = await take(a, "worker-a", LEASE)
    assert old is not None
    stores.clock.advance(LEASE - 1)
    assert await b.claim("inv-1", "worker-b", LEASE) is None, "still alive"
    stores.clock.advance(2)
    new = await b.claim("inv-1", "worker-b", LEASE)
    assert new is not None
    assert new.token != old.token
    assert new.attempt == old.attempt + 1
    assert not await a.renew(old, LEASE)
    assert await a.begin_write(old, RTP, HOLD) == WriteRefused(claim_lost=True)
    await a.release(old, outcome("inv-1", Outcome.FAILED))
    assert await b.outcomes(Outcome.FAILED) == [], "a stale release is ignored"
    assert await b.counts() == (0, 1)


async def test_renewing_keeps_a_claim_alive_past_its_first_lease(stores: Stores) -> None:
    """A worker that renews in time is never taken over."""
    shared_only(stores)
    a, b = stores.store(), stores.store()
    await a.accept("inv-1")
    claim = await take(a, "worker-a", LEASE)
    assert claim is not None
    for _ in range(5):
        stores.clock.advance(LEASE / 2)
        assert await a.renew(claim, LEASE)
    assert await b.claim("inv-1", "worker-b", LEASE) is None


async def test_an_expired_claim_is_handed_out_by_the_queue_too(stores: Stores) -> None:
    """A worker asking for work gets a dead worker's invoice once its lease ran out."""
    shared_only(stores)
    if stores.kind == "redis":
        pytest.skip(
            "Redis finds dead entries by their idle time (XAUTOCLAIM), in real "
            "time: the multi-process tests kill a worker for it"
        )
    a, b = stores.store(), stores.store()
    await a.accept("inv-1")
    assert await take(a, "worker-a", LEASE) is not None
    assert await take(b, "worker-b", LEASE) is None
    stores.clock.advance(LEASE + 1)
    taken = await take(b, "worker-b", LEASE)
    assert taken is not None
    assert taken.invoice_id == "inv-1"


async def test_an_invoice_given_back_is_pending_again_in_a_durable_store(stores: Stores) -> None:
    """A shutdown gives its running invoices back: a durable store has them pending for
    any worker; the memory store forgets them (the resolver hands their ids back)."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    await store.release(claim, None)
    if stores.shared:
        assert await store.counts() == (1, 0)
        assert (await take(stores.store(), "worker-b")) is not None
    else:
        assert await store.counts() == (0, 0)


# -- the write-ahead record --------------------------------------------------------------


async def test_a_return_to_paid_that_may_land_holds_every_other_back(stores: Stores) -> None:
    """Recorded, sent, no answer: no run of any process records another until the hold
    has run out from when the answer was lost; then one may."""
    a, b = stores.store(), stores.store()
    await a.accept("inv-1")
    first = await take(a, "worker-a", LEASE)
    assert first is not None
    assert await a.begin_write(first, RTP, HOLD) is None
    stores.clock.advance(10)
    await a.settle_write(first, RTP, None, HOLD)  # timed out: it may still land
    await a.release(first, outcome("inv-1", Outcome.FAILED))
    await b.accept("inv-1")
    second = await take(b, "worker-b", LEASE)
    assert second is not None
    refused = await b.begin_write(second, RTP, HOLD)
    assert refused is not None
    assert not refused.landed
    assert refused.hold == pytest.approx(HOLD, abs=0.01)
    assert await b.write_hold("inv-1", RTP) == pytest.approx(HOLD, abs=0.01)
    stores.clock.advance(HOLD + 1)
    await b.release(second, None)  # its lease ran out meanwhile: a new claim
    third = await b.claim("inv-1", "worker-b", LEASE)
    assert third is not None
    assert await b.begin_write(third, RTP, HOLD) is None


async def test_a_recorded_intent_holds_others_back_even_before_it_is_settled(
    stores: Stores,
) -> None:
    """The record exists before the request is sent: a worker paused right after
    recording (and taken over) still holds every other back."""
    shared_only(stores)
    a, b = stores.store(), stores.store()
    await a.accept("inv-1")
    paused = await take(a, "worker-a", LEASE)
    assert paused is not None
    assert await a.begin_write(paused, RTP, HOLD) is None
    stores.clock.advance(LEASE + 1)
    takeover = await b.claim("inv-1", "worker-b", LEASE)
    assert takeover is not None
    refused = await b.begin_write(takeover, RTP, HOLD)
    assert refused is not None
    assert refused.hold == pytest.approx(HOLD - LEASE - 1, abs=0.01)


async def test_a_landed_return_to_paid_is_never_recorded_again(stores: Stores) -> None:
    """Once one landed, a durable store refuses every later intent for the invoice."""
    shared_only(stores)
    a, b = stores.store(), stores.store()
    await a.accept("inv-1")
    first = await take(a, "worker-a")
    assert first is not None
    assert await a.begin_write(first, RTP, HOLD) is None
    await a.settle_write(first, RTP, True, HOLD)
    await a.release(first, outcome("inv-1", Outcome.RESOLVED))
    second = await b.claim("inv-1", "worker-b", LEASE)
    assert second is not None
    assert await b.begin_write(second, RTP, HOLD) == WriteRefused(landed=True)
    stores.clock.advance(HOLD * 10)
    later = await stores.store().claim("inv-1", "worker-c", LEASE)
    assert later is not None
    assert await b.begin_write(later, RTP, HOLD) == WriteRefused(landed=True)


async def test_one_that_did_not_land_frees_the_next_at_once(stores: Stores) -> None:
    """Refused by the server before it acted: the next run may send at once."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    assert await store.begin_write(claim, RTP, HOLD) is None
    await store.settle_write(claim, RTP, False, HOLD)
    assert await store.write_hold("inv-1", RTP) == 0
    assert await store.begin_write(claim, RTP, HOLD) is None


async def test_only_the_recording_run_settles_its_record(stores: Stores) -> None:
    """A run with another token cannot settle (or clear) someone else's intent."""
    shared_only(stores)
    a, b = stores.store(), stores.store()
    await a.accept("inv-1")
    first = await take(a, "worker-a", LEASE)
    assert first is not None
    assert await a.begin_write(first, RTP, HOLD) is None
    stores.clock.advance(LEASE + 1)
    second = await b.claim("inv-1", "worker-b", LEASE)
    assert second is not None
    await b.settle_write(second, RTP, False, HOLD)
    assert await b.write_hold("inv-1", RTP) > 0


async def test_a_write_the_server_shows_landed_clears_any_hold(stores: Stores) -> None:
    """Reading the invoice PAID settles the question, whoever sent it."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    assert await store.begin_write(claim, RTP, HOLD) is None
    await store.settle_write(claim, RTP, None, HOLD)
    await store.write_landed("inv-1", RTP)
    assert await store.write_hold("inv-1", RTP) == 0


async def test_a_write_needs_the_claim(stores: Stores) -> None:
    """No intent is recorded under a claim that was released."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    await store.release(claim, outcome("inv-1", Outcome.RESOLVED))
    assert await store.begin_write(claim, RTP, HOLD) == WriteRefused(claim_lost=True)


# -- outcomes ----------------------------------------------------------------------------


async def test_outcomes_are_kept_and_listed_by_kind_oldest_first(stores: Stores) -> None:
    """Held and failed invoices stay listed for operators; the latest outcome counts."""
    store = stores.store()
    for number, kind in enumerate((Outcome.HELD, Outcome.HELD, Outcome.FAILED)):
        invoice_id = f"inv-{number}"
        await store.accept(invoice_id)
        claim = await take(store, "worker-a")
        assert claim is not None
        stores.clock.advance(1)
        await store.release(claim, outcome(invoice_id, kind, f"reason {number}"))
    held = await stores.store().outcomes(Outcome.HELD)
    assert [(r.invoice_id, r.reason) for r in held] == [
        ("inv-0", "reason 0"),
        ("inv-1", "reason 1"),
    ]
    assert held[0].at < held[1].at
    assert held[0].writes == (RTP,)
    assert await store.requeue("inv-0") is Intake.QUEUED
    claim = await take(store, "worker-b")
    assert claim is not None
    await store.release(claim, outcome("inv-0", Outcome.RESOLVED))
    assert [r.invoice_id for r in await store.outcomes(Outcome.HELD)] == ["inv-1"]
    assert [r.invoice_id for r in await store.outcomes(Outcome.FAILED)] == ["inv-2"]
    assert await store.counts() == (0, 0)


async def test_a_landed_write_refuses_every_later_intent(stores: Stores) -> None:
    """Once the server showed it landed, no run records that write again (a stale read
    of PENDING_INTERVENTION cannot lead to a second one)."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    await store.write_landed("inv-1", RTP)
    assert await store.begin_write(claim, RTP, HOLD) == WriteRefused(landed=True)


async def test_an_invoice_held_again_keeps_the_time_it_was_first_held(stores: Stores) -> None:
    """An operator's requeue runs it again; held again, it is still held "since" then."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    await store.release(claim, outcome("inv-1", Outcome.HELD))
    (first,) = await store.outcomes(Outcome.HELD)
    stores.clock.advance(3600)
    await store.requeue("inv-1")
    again = await take(store, "worker-a")
    assert again is not None
    await store.release(again, outcome("inv-1", Outcome.HELD, "still short"))
    (second,) = await store.outcomes(Outcome.HELD)
    assert second.reason == "still short"
    assert second.at == pytest.approx(first.at)


async def test_an_operator_can_forget_a_kept_outcome(stores: Stores) -> None:
    """A human dealt with it elsewhere: it leaves the list."""
    store = stores.store()
    await store.accept("inv-1")
    claim = await take(store, "worker-a")
    assert claim is not None
    await store.release(claim, outcome("inv-1", Outcome.FAILED))
    assert await store.forget("inv-1")
    assert not await store.forget("inv-1")
    assert await store.outcomes(Outcome.FAILED) == []
