"""Many worker processes on one store, as merchants deploy them, against a fake Calypso
that *takes* a repeated return-to-paid (and counts it as money taken twice).

Three ``calypso-async worker`` processes share one store (a SQLite file; a real Redis);
a load balancer hands every webhook to two of them at once; one worker is killed with
SIGKILL once money is moving and started again; another is paused with SIGSTOP past its
lease and resumed. At the end every overpaid invoice has exactly one accepted
return-to-paid and a closed intervention, every underpaid one is listed as held, and
nothing is pending. A worker paused on purpose between reading an invoice and sending
its write sends nothing once resumed; a Redis outage mid-run loses and doubles nothing.

These tests use real time (processes cannot share a fake clock): short leases and holds
keep each run well under a minute.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from calypso_async import CalypsoClient, EventType
from calypso_async.testing import FakeCalypso
from tests.reliability.processes import Balancer, Worker, redis_server
from tests.stores import redis_server as redis_program
from tests.stores import redis_url

pytestmark = pytest.mark.processes

OVERPAID = 200
UNDERPAID = 50
AMOUNT = Decimal("10.234")


def fake_calypso() -> FakeCalypso:
    return FakeCalypso(
        settle_delay=0.2,
        accept_repeated_return_to_paid=True,
        # Calypso retries a failed delivery for hours; here for about a minute, quickly.
        webhook_retry_delays=[0.2] * 5 + [0.5] * 20 + [2.0] * 20,
        webhook_timeout=5.0,
    )


async def until(condition: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout:g} s: {what()}")
        await asyncio.sleep(0.1)


async def cli(*args: str) -> tuple[int, str, str]:
    """Run an operator's command: its exit code, stdout and stderr (a Redis without
    appendonly adds a warning there, which the JSON on stdout must not include)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "calypso_async",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def create_and_pay(client: CalypsoClient, fake: FakeCalypso, paid: str) -> str:
    invoice = await client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="order"
    )
    await fake.pay(invoice.id, paid)
    return invoice.id


def finished(fake: FakeCalypso, overpaid: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        if len(overpaid) < OVERPAID:
            return False
        states = {invoice["id"]: invoice for invoice in fake.invoices}
        return all(
            states[i]["state"] == "COMPLETED" and states[i]["isInterventionResolved"]
            for i in overpaid
        )

    return check


def money_moving(fake: FakeCalypso, at_least: int) -> Callable[[], bool]:
    return lambda: sum(fake.returns_to_paid.values()) >= at_least


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/resolver.db"
    namespace = f"many-{uuid.uuid4().hex[:12]}"
    base = redis_url()
    return f"{base}{'&' if '?' in base else '?'}namespace={namespace}"


async def check_the_store(store_url: str, underpaid: list[str]) -> None:
    """The held invoices are listed; the store drains: a run that finished while the
    store was away, or in a killed worker, is confirmed by another once its lease ran
    out (within a few leases)."""
    code, out, err = await cli("held", "--store", store_url, "--json")
    assert code == 0, out + err
    held = json.loads(out)
    assert {row["invoice_id"] for row in held} == set(underpaid)
    assert all(row["reason"] and row["since"] for row in held)
    deadline = time.monotonic() + 15
    while True:
        code, out, err = await cli("status", "--store", store_url, "--json")
        assert code == 0, out + err
        status = json.loads(out)
        if status["pending"] == 0 and status["running"] == 0:
            return
        assert time.monotonic() < deadline, f"the store did not drain: {status}"
        await asyncio.sleep(0.5)


async def test_three_workers_take_each_overpayment_once_through_a_kill_and_a_pause(
    store_url: str, tmp_path: Path
) -> None:
    """SIGKILL one worker mid-run and start it again, SIGSTOP another past its lease:
    every overpaid invoice is returned to paid exactly once and closed, every underpaid
    one is held, nothing is left pending, and every worker stops cleanly on SIGTERM."""
    async with fake_calypso() as fake, fake.client() as client:
        balancer = Balancer([])
        await balancer.start()
        sub = await client.webhooks.create(
            url=balancer.url, event_types=[EventType.INVOICE_PENDING_INTERVENTION]
        )
        assert sub.secret_key is not None
        workers = [Worker(fake, sub.secret_key, store_url, tmp_path) for _ in range(3)]
        balancer.workers = workers
        overpaid: list[str] = []
        underpaid: list[str] = []
        try:
            await asyncio.gather(*(worker.start() for worker in workers))

            async def pay_everything() -> None:
                for number in range(OVERPAID + UNDERPAID):
                    over = number % 5 != 4
                    target = overpaid if over else underpaid
                    target.append(await create_and_pay(client, fake, "10.50" if over else "9"))
                    if number % 10 == 9:
                        await asyncio.sleep(0.05)  # payers arrive over time

            payer = asyncio.create_task(pay_everything())
            await until(money_moving(fake, 30), 30, lambda: f"{fake.returns_to_paid}")
            await workers[0].kill()
            await asyncio.sleep(0.5)
            workers[0] = Worker(fake, sub.secret_key, store_url, tmp_path)
            balancer.workers = workers
            await workers[0].start()
            await until(money_moving(fake, 90), 30, lambda: f"{fake.returns_to_paid}")
            workers[1].signal(signal.SIGSTOP)
            await asyncio.sleep(3.5)  # past two leases: its claims are taken over
            workers[1].signal(signal.SIGCONT)
            await payer
            await until(
                finished(fake, overpaid),
                45,
                lambda: "\n".join(worker.log()[-3000:] for worker in workers),
            )
            await check_the_store(store_url, underpaid)
        finally:
            stops = await asyncio.gather(*(worker.terminate() for worker in workers))
            await balancer.close()
    taken = fake.returns_to_paid
    doubled = {i: n for i, n in taken.items() if n != 1}
    assert doubled == {}, "money taken twice"
    assert set(taken) == set(overpaid), "an underpaid invoice was taken, or an overpaid one not"
    for code, out in stops:
        assert code == 0, out
        assert "stopped:" in out


async def test_a_worker_paused_between_its_read_and_its_write_sends_nothing(
    store_url: str, tmp_path: Path
) -> None:
    """The worst instant, hit on purpose: worker A reads an overpaid invoice and is
    paused (SIGSTOP) before it can send return-to-paid; B takes the invoice over after
    the lease, returns it to paid and closes it. A resumes holding a stale read that
    says "overpaid": it must send nothing."""
    read = "/api/v1/invoice"
    async with fake_calypso() as fake, fake.client() as client:
        balancer = Balancer([])
        await balancer.start()
        sub = await client.webhooks.create(
            url=balancer.url, event_types=[EventType.INVOICE_PENDING_INTERVENTION]
        )
        assert sub.secret_key is not None
        a = Worker(fake, sub.secret_key, store_url, tmp_path, "--log-level", "INFO")
        b = Worker(fake, sub.secret_key, store_url, tmp_path)
        balancer.workers = [a]
        try:
            await a.start()
            # A's read of the invoice is answered 1 s late, with the state on arrival.
            fake.delay(read, 1.0)
            invoice_id = await create_and_pay(client, fake, "10.50")
            await until(lambda: len(fake.calls_to(read)) == 1, 15, a.log)
            a.signal(signal.SIGSTOP)
            await b.start()
            await until(finished_all(fake, [invoice_id]), 20, b.log)
            a.signal(signal.SIGCONT)
            # A goes on from its stale read to the end of its run, and reports it.
            await until(lambda: f"invoice {invoice_id}: " in a.log(), 15, a.log)
            await asyncio.sleep(0.5)
            assert "claim on the invoice lapsed" in a.log(), "A ended for another reason"
        finally:
            stops = await asyncio.gather(a.terminate(), b.terminate())
            await balancer.close()
    assert fake.returns_to_paid == {invoice_id: 1}, "money taken twice"
    for code, out in stops:
        assert code == 0, out


async def test_a_redis_outage_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """Redis stops for a few seconds and starts again: the webhook endpoints answer 503
    (Calypso delivers again), /healthz says so, the workers back off and resume; every
    overpaid invoice is taken once and closed, nothing stays pending."""
    program = redis_program()
    async with (
        redis_server(program, tmp_path) as redis,
        fake_calypso() as fake,
        fake.client() as client,
    ):
        balancer = Balancer([])
        await balancer.start()
        sub = await client.webhooks.create(
            url=balancer.url, event_types=[EventType.INVOICE_PENDING_INTERVENTION]
        )
        assert sub.secret_key is not None
        workers = [Worker(fake, sub.secret_key, redis.url, tmp_path) for _ in range(2)]
        balancer.workers = workers
        overpaid: list[str] = []
        health: list[int] = []
        try:
            await asyncio.gather(*(worker.start() for worker in workers))
            for _ in range(OVERPAID // 4):
                overpaid.append(await create_and_pay(client, fake, "10.50"))
            await until(money_moving(fake, 10), 30, lambda: f"{fake.returns_to_paid}")
            await redis.stop()
            during: list[str] = []
            for _ in range(OVERPAID // 4):  # payments go on while Redis is away
                during.append(await create_and_pay(client, fake, "10.50"))
            health.append(await _health(workers[0]))
            await asyncio.sleep(3.0)
            await redis.start()
            # Hundreds of refused deliveries in seconds: Calypso blocks the subscription
            # (more than 100 failures in 10 minutes), and its operator unblocks it.
            blocked = fake.subscription_blocked(sub.request_id)
            await fake.unblock_subscription(sub.request_id)
            overpaid += during
            await until(
                finished_all(fake, overpaid),
                45,
                lambda: (
                    _unfinished(fake, overpaid)
                    + "\n".join(worker.log()[-3000:] for worker in workers)
                ),
            )
            await check_the_store(redis.url, [])
        finally:
            stops = await asyncio.gather(*(worker.terminate() for worker in workers))
            await balancer.close()
    assert blocked, "the failed deliveries blocked the subscription"
    assert health == [503], "healthz answers 503 while the store is away"
    assert 503 in balancer.answers, "deliveries were refused while Redis was away"
    assert {i: n for i, n in fake.returns_to_paid.items() if n != 1} == {}
    assert set(fake.returns_to_paid) == set(overpaid)
    for code, out in stops:
        assert code == 0, out


def finished_all(fake: FakeCalypso, ids: list[str]) -> Callable[[], bool]:
    def check() -> bool:
        states = {invoice["id"]: invoice for invoice in fake.invoices}
        return all(
            states[i]["state"] == "COMPLETED" and states[i]["isInterventionResolved"] for i in ids
        )

    return check


def _unfinished(fake: FakeCalypso, ids: list[str]) -> str:
    states = {invoice["id"]: invoice for invoice in fake.invoices}
    left = [
        f"{i}: {states[i]['state']} resolved={states[i]['isInterventionResolved']}"
        for i in ids
        if states[i]["state"] != "COMPLETED" or not states[i]["isInterventionResolved"]
    ]
    return f"{len(left)} unfinished: " + "; ".join(left[:10]) + "\n"


async def _health(worker: Worker) -> int:
    url = worker.url.rsplit("/calypso", 1)[0] + "/healthz"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.get(url) as response,
    ):
        return response.status
