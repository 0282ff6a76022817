"""examples/aiohttp_shop.py end to end: orders over HTTP, payments on a FakeCalypso, and
the fake's signed webhooks back to the shop, all over loopback sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from calypso_async import EventType
from calypso_async.testing import FakeCalypso
from tests.examples.helpers import (
    calypso_env,
    free_port,
    listening_socket,
    load_example,
    read_log,
    serve_aiohttp,
    start_example,
    stop,
    url_of,
    wait_listening,
)

shop = load_example("aiohttp_shop")

EVENTS = [
    EventType.INVOICE_PENDING_INTERVENTION,
    EventType.INVOICE_PAID,
    EventType.INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED,
]
PAID = {"exact": "10.234", "over": "10.50", "under": "10.00"}  # coffee costs 10.234


async def order(http: aiohttp.ClientSession, order_id: str, status: int) -> dict[str, Any]:
    async with http.post(f"/orders/{order_id}", json={"item": "coffee"}) as response:
        assert response.status == status, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def show(http: aiohttp.ClientSession, order_id: str) -> dict[str, Any]:
    async with http.get(f"/orders/{order_id}") as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def test_shop_settles_exact_over_and_under_payments() -> None:
    """Exact completes by itself; over is returned to paid once and closed; under is held."""
    async with FakeCalypso(settle_delay=0.05) as fake, fake.client() as admin:
        with listening_socket() as listener:
            sub = await admin.webhooks.create(
                url=f"{url_of(listener)}/calypso/webhooks", event_types=EVENTS
            )
            app = shop.create_app(calypso_env(fake, sub.secret_key), poll_interval=0.05)
            async with serve_aiohttp(app, listener) as url, aiohttp.ClientSession(url) as http:
                invoices = {order_id: (await order(http, order_id, 201)) for order_id in PAID}
                # The same order again (a retry, a double click): the same invoice.
                assert await order(http, "over", 200) == invoices["over"]
                for order_id, paid in PAID.items():
                    await fake.pay(invoices[order_id]["invoice_id"], paid)
                await fake.wait_for_deliveries()  # the interventions reached the resolver
                await app[shop.RESOLVER].join()  # which settled them
                await fake.wait_for_deliveries()  # and their last webhooks reached the shop
                seen = {order_id: await show(http, order_id) for order_id in PAID}

    ids = {order_id: invoice["invoice_id"] for order_id, invoice in invoices.items()}
    assert invoices["exact"]["amount"] == "10.234"
    assert invoices["exact"]["state"] == "PENDING_PAYMENT"
    assert len(fake.invoices) == 3
    assert fake.invoice(ids["over"])["idempotencyKey"] == "order-over"
    assert fake.returns_to_paid == {ids["over"]: 1}
    assert all(delivery.ok for delivery in fake.deliveries)

    assert seen["exact"]["state"] == "COMPLETED"
    assert seen["exact"]["resolution"] is None
    assert sorted(seen["exact"]["events"]) == [
        "INVOICE_PAID",
        "INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED",
    ]
    assert seen["over"]["state"] == "COMPLETED"
    assert seen["over"]["intervention"] == "OVERPAY"
    assert seen["over"]["intervention_resolved"] is True
    assert seen["over"]["resolution"] == "RESOLVED"
    assert sorted(seen["over"]["events"]) == [
        "INVOICE_PAID",
        "INVOICE_PENDING_INTERVENTION",
        "INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED",
    ]
    assert seen["under"]["state"] == "PENDING_INTERVENTION"
    assert seen["under"]["intervention"] == "UNDERPAY"
    assert seen["under"]["intervention_resolved"] is False
    assert seen["under"]["resolution"] == "HELD"
    assert seen["under"]["events"] == ["INVOICE_PENDING_INTERVENTION"]


async def test_restarted_shop_gets_the_same_invoice_for_an_order() -> None:
    """The idempotency key comes from the order id: a shop that forgot the order (a crash
    after the create) gets the invoice it made before, not a second one."""
    async with FakeCalypso() as fake:
        env = calypso_env(fake, "not-used-here")
        first, second = [], []
        for answers in (first, second):
            app = shop.create_app(env)  # a fresh shop: no order in memory
            with listening_socket() as listener:
                async with serve_aiohttp(app, listener) as url, aiohttp.ClientSession(url) as http:
                    answers.append(await order(http, "42", 201))
        assert first[0]["invoice_id"] == second[0]["invoice_id"]
        assert len(fake.invoices) == 1


async def test_shop_refuses_what_it_does_not_sell() -> None:
    """An unknown item is a 400 that names the catalogue; an unknown order a 404."""
    async with FakeCalypso() as fake:
        app = shop.create_app(calypso_env(fake, "not-used-here"))
        with listening_socket() as listener:
            async with serve_aiohttp(app, listener) as url, aiohttp.ClientSession(url) as http:
                async with http.post("/orders/1", json={"item": "caviar"}) as response:
                    assert response.status == 400
                    assert "coffee" in await response.text()
                async with http.post("/orders/1", data=b"not json") as response:
                    assert response.status == 400
                async with http.get("/orders/1") as response:
                    assert response.status == 404
        assert fake.invoices == []


async def test_shop_runs_as_a_script(tmp_path: Path) -> None:
    """`python examples/aiohttp_shop.py` serves on HOST/PORT from the environment and
    exits 0 on SIGTERM; without CALYPSO_WEBHOOK_SECRET it says so, and exits 1."""
    log = tmp_path / "shop.log"
    async with FakeCalypso() as fake:
        missing = await start_example("aiohttp_shop.py", env=calypso_env(fake), log=log)
        code, _ = await stop(missing, None)
        assert code == 1
        assert "CALYPSO_WEBHOOK_SECRET is not set" in read_log(log)
        assert fake.secret_key not in read_log(log)

        port = free_port()
        env = {**calypso_env(fake, "s3cret"), "HOST": "127.0.0.1", "PORT": str(port)}
        process = await start_example("aiohttp_shop.py", env=env, log=log)
        try:
            await wait_listening(process, port, log)
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                created = await order(http, "7", 201)
        finally:
            code, out = await stop(process)
        assert code == 0, read_log(log)
        assert f"Running on http://127.0.0.1:{port}" in out
        assert fake.invoice(created["invoice_id"])["externalId"] == "7"
