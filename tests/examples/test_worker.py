"""examples/worker.py in a process of its own: a receiver in the test accepts the webhooks
of a FakeCalypso into a SQLite file, the worker resolves them from that file, and a
signal stops it cleanly.

The worker runs in real time (processes share no clock): its default poll for COMPLETED
(2 s) makes the first test take about three seconds.
"""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from pathlib import Path

from aiohttp import web

from calypso_async import EventType, InterventionResolver, Outcome, webhook_handler
from calypso_async.stores import SQLiteStore
from calypso_async.testing import FakeCalypso
from tests.examples.helpers import (
    calypso_env,
    listening_socket,
    read_log,
    serve_aiohttp,
    start_example,
    stop,
    url_of,
)


async def outcomes(store: SQLiteStore, outcome: Outcome) -> set[str]:
    return {record.invoice_id for record in await store.outcomes(outcome)}


async def settled(store: SQLiteStore, *, resolved: set[str], held: set[str]) -> None:
    """Wait (20 s at most) until the store records these outcomes, and only these."""
    async with asyncio.timeout(20):
        while True:
            done = await outcomes(store, Outcome.RESOLVED)
            waiting = await outcomes(store, Outcome.HELD)
            if (done, waiting) == (resolved, held):
                return
            await asyncio.sleep(0.1)


async def test_worker_resolves_what_a_receiver_accepted(tmp_path: Path) -> None:
    """Over is returned to paid once and closed, under is held (and said so), exact is
    left alone; on SIGTERM the worker exits 0 with nothing unfinished."""
    db = tmp_path / "resolver.db"
    log = tmp_path / "worker.log"
    async with (
        FakeCalypso(settle_delay=0.05) as fake,
        fake.client() as client,
        SQLiteStore(db) as store,
    ):
        # The receiver only accepts into the store: its own workers never run.
        receiver = InterventionResolver(client, store=store)
        with listening_socket() as listener:
            sub = await client.webhooks.create(
                url=f"{url_of(listener)}/calypso/webhooks",
                event_types=[EventType.INVOICE_PENDING_INTERVENTION],
            )
            app = web.Application()
            app.router.add_post(
                "/calypso/webhooks", webhook_handler(sub.secret_key, resolver=receiver)
            )
            async with serve_aiohttp(app, listener):
                env = {**calypso_env(fake), "CALYPSO_STORE_URL": f"sqlite:///{db}"}
                process = await start_example("worker.py", env=env, log=log)
                try:
                    assert process.stdout is not None
                    async with asyncio.timeout(20):
                        ready = (await process.stdout.readline()).decode()
                    assert ready == f"ready: resolving from sqlite:///{db}\n", read_log(log)

                    ids = {}
                    for name, paid in (("exact", "10.234"), ("over", "10.50"), ("under", "10")):
                        invoice = await client.invoices.create_single(
                            amount=Decimal("10.234"), currency="USDT", description=name
                        )
                        await fake.pay(invoice.id, paid)
                        ids[name] = invoice.id
                    await fake.wait_for_deliveries()  # both interventions are in the file
                    await settled(store, resolved={ids["over"]}, held={ids["under"]})
                finally:
                    code, out = await stop(process, signal.SIGTERM)

        assert code == 0, read_log(log)
        assert out.splitlines()[-1] == f"stopped: 0 unfinished run(s) back in sqlite:///{db}"
        assert await store.counts() == (0, 0)  # nothing pending, nothing claimed
    assert fake.returns_to_paid == {ids["over"]: 1}
    assert fake.invoice(ids["over"])["state"] == "COMPLETED"
    assert fake.invoice(ids["over"])["isInterventionResolved"] is True
    assert fake.invoice(ids["under"])["state"] == "PENDING_INTERVENTION"
    assert fake.invoice(ids["exact"])["state"] == "COMPLETED"
    assert f"invoice {ids['under']} needs a human" in read_log(log)
    assert fake.secret_key not in read_log(log) + out


async def test_worker_stops_on_sigint_and_names_a_missing_setting(tmp_path: Path) -> None:
    """SIGINT stops an idle worker with exit 0; without CALYPSO_API_KEY it exits 2 with
    one line naming the variable; a store it cannot open is exit 1."""
    log = tmp_path / "worker.log"
    async with FakeCalypso() as fake:
        env = {**calypso_env(fake), "CALYPSO_STORE_URL": f"sqlite:///{tmp_path}/r.db"}
        process = await start_example("worker.py", env=env, log=log)
        try:
            assert process.stdout is not None
            async with asyncio.timeout(20):
                assert (await process.stdout.readline()).startswith(b"ready: "), read_log(log)
        finally:
            code, out = await stop(process, signal.SIGINT)
        assert code == 0, read_log(log)
        assert out.startswith("stopped: 0 unfinished")

        del env["CALYPSO_API_KEY"]
        code, _ = await stop(await start_example("worker.py", env=env, log=log), None)
        assert code == 2
        assert read_log(log).splitlines()[-1].startswith("worker: missing environment variable")
        assert "CALYPSO_API_KEY" in read_log(log).splitlines()[-1]

        env = {**calypso_env(fake), "CALYPSO_STORE_URL": f"sqlite:///{tmp_path}/no/such/r.db"}
        code, _ = await stop(await start_example("worker.py", env=env, log=log), None)
        assert code == 1
        assert read_log(log).splitlines()[-1].startswith("worker: the store cannot be used")
