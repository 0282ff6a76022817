"""Tracked invoices resolved by polling when webhooks fail, within the request budget,
by real ``calypso-async worker`` processes sharing a store (SQLite, Redis).

The webhook subscription is blocked at the fake, as Calypso blocks one after a burst
of failed deliveries: no event reaches the workers. Two workers track 300 invoices (200
overpaid, 100 underpaid, paid after tracking starts) with ``--max-rps``: every overpaid
one is returned to paid exactly once (against a fake that would take a second one),
every underpaid one is held, and no second of arrivals at the fake holds more requests
than the budget. With webhooks working, the same run polls a small fraction as much.

These tests use real time (processes cannot share a fake clock).
"""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from calypso_async import EventType, ServiceType
from calypso_async.testing import FakeCalypso
from tests.reliability.processes import Balancer, Worker
from tests.reliability.test_many_workers import cli, fake_calypso, store_url, until

pytestmark = pytest.mark.processes

__all__ = ["store_url"]  # the fixture, shared with test_many_workers

OVERPAID = 200
UNDERPAID = 100
MAX_RPS = 200
AMOUNT = Decimal("10.234")
TRACKING = (
    "--max-rps", str(MAX_RPS),
    "--poll-schedule", "fresh=1,quiet=5,moving=0.5,intervention=1,near_expiry=1,after_event=0.5",
)  # fmt: skip


def busiest_second(times: list[float]) -> int:
    """The most arrivals in any window of one second."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def done(fake: FakeCalypso, overpaid: list[str], underpaid: list[str]) -> bool:
    states = {invoice["id"]: invoice for invoice in fake.invoices}
    resolved = all(
        states[i]["state"] == "COMPLETED" and states[i]["isInterventionResolved"] for i in overpaid
    )
    return resolved and all(states[i]["state"] == "PENDING_INTERVENTION" for i in underpaid)


async def run_tracked(
    store: str,
    tmp_path: Path,
    *,
    webhooks: bool,
    overpaid_count: int = OVERPAID,
    underpaid_count: int = UNDERPAID,
    pay_after: float = 2.0,
) -> tuple[FakeCalypso, int]:
    """Two workers track invoices paid ``pay_after`` s after tracking starts; returns
    the fake (to read its calls) and the polls the workers made."""
    async with fake_calypso() as fake, fake.client() as client:
        balancer = Balancer([])
        await balancer.start()
        sub = await client.webhooks.create(
            url=balancer.url,
            event_types=[EventType.INVOICE_PENDING_INTERVENTION],
            service_types=[ServiceType.INVOICE],
        )
        assert sub.secret_key is not None
        if not webhooks:
            fake.block_subscription(sub.request_id)
        workers = [Worker(fake, sub.secret_key, store, tmp_path, *TRACKING) for _ in range(2)]
        balancer.workers = workers
        overpaid: list[str] = []
        underpaid: list[str] = []
        stops: list[tuple[int, str]] = []
        try:
            await asyncio.gather(*(worker.start() for worker in workers))
            invoices = [
                await client.invoices.create_single(
                    amount=AMOUNT, currency="USDT", description="order"
                )
                for _ in range(overpaid_count + underpaid_count)
            ]
            ids = [invoice.id for invoice in invoices]
            first_call = len(fake.calls)
            code, out, err = await cli("track", "--store", store, "--no-check", *ids)
            assert code == 0, out + err
            assert out == f"tracked {len(ids)}, already tracked 0\n"
            await asyncio.sleep(pay_after)  # the customers take a while to pay
            for n, invoice_id in enumerate(ids):
                over = n < overpaid_count
                await fake.pay(invoice_id, "10.50" if over else "10.00")
                await asyncio.sleep(0)  # the fake's clock of arrivals must not stall here
                (overpaid if over else underpaid).append(invoice_id)
            await until(
                lambda: done(fake, overpaid, underpaid),
                90,
                lambda: "\n".join(worker.log()[-2000:] for worker in workers),
            )
            # Held invoices look alike before and after: wait for tracking to end.
            for _ in range(120):
                code, out, err = await cli("tracked", "--store", store, "--json")
                assert code == 0, out + err
                if not json.loads(out):
                    break
                await asyncio.sleep(0.5)
            assert json.loads(out) == [], "every invoice is final for the merchant"
            code, out, err = await cli("held", "--store", store, "--json")
            assert {row["invoice_id"] for row in json.loads(out)} == set(underpaid)
        finally:
            stops = await asyncio.gather(*(worker.terminate() for worker in workers))
            await balancer.close()
        for code, out in stops:
            assert code == 0, out
        worker_calls = [call.at for call in fake.calls[first_call:]]
        busiest = busiest_second(worker_calls)
        print(f"webhooks={webhooks}: {len(worker_calls)} requests, busiest second {busiest}")
        assert busiest <= MAX_RPS, "never above the budget"
        assert {i: n for i, n in fake.returns_to_paid.items() if n != 1} == {}
        assert set(fake.returns_to_paid) == set(overpaid)
        polls = sum(int(re.search(r"tracking: (\d+) poll", out)[1]) for _, out in stops)  # type: ignore[index]
        print(f"webhooks={webhooks}: {polls} polls")
        return fake, polls


async def test_with_webhooks_blocked_polling_resolves_all_within_the_budget(
    store_url: str, tmp_path: Path
) -> None:
    """No event arrives: polls find every intervention; one write each; budget kept."""
    fake, polls = await run_tracked(store_url, tmp_path, webhooks=False)
    assert not [d for d in fake.deliveries if d.ok], "the blocked subscription heard nothing"
    assert polls >= OVERPAID + UNDERPAID


async def test_with_webhooks_working_the_same_run_polls_a_fraction(tmp_path: Path) -> None:
    """Events reach the workers: quiet invoices wait longer, resolutions end tracking."""
    counts = {"overpaid_count": 30, "underpaid_count": 20, "pay_after": 8.0}
    blocked_store, heard_store = (f"sqlite:///{tmp_path}/{name}.db" for name in ("a", "b"))
    _, blocked = await run_tracked(blocked_store, tmp_path, webhooks=False, **counts)
    _, heard = await run_tracked(heard_store, tmp_path, webhooks=True, **counts)
    assert heard <= blocked * 0.3, (heard, blocked)
