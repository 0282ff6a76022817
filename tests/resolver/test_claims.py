"""ClaimGuard: a run whose claim may have lapsed sends nothing, whatever stalled it.

The guard counts the lease on a local monotonic clock, from before the claim was asked
for; here that clock is moved by hand, and the store is a real SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from calypso_async import Write
from calypso_async._resolver.claims import ClaimGuard
from calypso_async._resolver.ports import Claim, WriteRefused
from calypso_async.stores import SQLiteStore
from tests.stores import StoreClock

RTP = Write.RETURN_TO_PAID
LEASE = 30.0
HOLD = 120.0


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    async with SQLiteStore(tmp_path / "resolver.db", clock=StoreClock()) as opened:
        yield opened


async def claimed(store: SQLiteStore, monotonic: Monotonic) -> tuple[Claim, ClaimGuard]:
    await store.accept("inv-1")
    claim = await store.claim("inv-1", "worker-a", LEASE)
    assert claim is not None
    claim = Claim(claim.invoice_id, claim.token, claim.owner, claim.attempt, monotonic())
    guard = ClaimGuard(store, claim, lease=LEASE, resend_hold=HOLD, monotonic=monotonic)
    return claim, guard


async def test_a_write_is_recorded_while_the_lease_is_in_hand(store: SQLiteStore) -> None:
    """Fresh claim: the intent is recorded, and the claim checks out."""
    monotonic = Monotonic()
    _, guard = await claimed(store, monotonic)
    assert await guard.begin(RTP) is None
    assert await guard.check()
    assert not guard.lost


async def test_a_close_is_not_started_in_the_last_fifth_of_the_lease(
    store: SQLiteStore,
) -> None:
    """The check before close-intervention gives the claim up the same way."""
    monotonic = Monotonic()
    _, guard = await claimed(store, monotonic)
    monotonic.now += LEASE * 0.85
    assert not await guard.check()
    assert guard.lost


async def test_no_write_starts_in_the_last_fifth_of_the_lease(store: SQLiteStore) -> None:
    """A run that stalled until near the end of its lease sends nothing: the store may
    hand the invoice to another worker before the request would arrive."""
    monotonic = Monotonic()
    _, guard = await claimed(store, monotonic)
    monotonic.now += LEASE * 0.85
    assert await guard.begin(RTP) == WriteRefused(claim_lost=True)
    assert not await guard.check()
    assert await store.write_hold("inv-1", RTP) == 0, "nothing was recorded"
    assert guard.lost, "given up: the invoice goes back to the queue, not parked"


async def test_a_record_that_took_too_long_is_withdrawn_and_nothing_is_sent(
    store: SQLiteStore,
) -> None:
    """Paused while recording (the record made it, the process did not come back in
    time): the run sends nothing and settles its record as "did not land", so another
    worker need not wait out the hold."""
    monotonic = Monotonic()
    _, guard = await claimed(store, monotonic)
    begin_write = store.begin_write

    async def slow_begin_write(*args: object, **kwargs: object) -> WriteRefused | None:
        result = await begin_write(*args, **kwargs)  # type: ignore[arg-type]
        monotonic.now += LEASE * 0.5  # the process was stopped right after it
        return result

    store.begin_write = slow_begin_write  # type: ignore[method-assign]
    assert await guard.begin(RTP) == WriteRefused(claim_lost=True)
    assert await store.write_hold("inv-1", RTP) == 0
    assert guard.lost, "given up: the invoice goes back to the queue, not parked"


async def test_the_lease_counts_from_before_the_claim_was_asked_for(
    store: SQLiteStore,
) -> None:
    """A guard built late (its execution waited for the previous one) still counts the
    lease from when the claim was taken: it does not believe in a claim that ran out."""
    monotonic = Monotonic()
    claim, _ = await claimed(store, monotonic)
    monotonic.now += LEASE + 1
    late = ClaimGuard(store, claim, lease=LEASE, resend_hold=HOLD, monotonic=monotonic)
    assert late.lost
    assert not await late.check()
    assert await late.begin(RTP) == WriteRefused(claim_lost=True)


async def test_stopping_the_renewals_passes_the_callers_cancellation_on(
    store: SQLiteStore,
) -> None:
    """stop() waits for the renewing task without taking its CancelledError for the
    caller's own: a caller cancelled meanwhile is cancelled."""
    monotonic = Monotonic()
    _, guard = await claimed(store, monotonic)
    guard.keep_alive()
    stopping = asyncio.create_task(guard.stop())
    await asyncio.sleep(0)  # stopping waits for the renewing task to end
    stopping.cancel()
    await asyncio.wait([stopping])
    assert stopping.cancelled()
