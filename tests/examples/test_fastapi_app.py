"""examples/fastapi_app.py end to end: a real uvicorn serving it on loopback, a
FakeCalypso sending it signed webhooks, and deliveries the fake would never send."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from calypso_async import CalypsoClient, EventType, Outcome, ServiceType, sign
from calypso_async.testing import FakeCalypso
from tests.examples.helpers import (
    EXAMPLES,
    calypso_env,
    free_port,
    listening_socket,
    load_example,
    read_log,
    serve_uvicorn,
    start_python,
    stop,
    url_of,
    wait_listening,
)

fastapi_app = load_example("fastapi_app")

AMOUNT = Decimal("10.234")


@dataclass
class Served:
    """The app served by uvicorn, subscribed to every invoice event of ``fake``."""

    fake: FakeCalypso
    admin: CalypsoClient
    app: Any
    url: str
    secret: str
    request_id: str

    @property
    def webhooks(self) -> Any:
        return self.app.state.webhooks

    async def invoice_paid(self, paid: str) -> str:
        invoice = await self.admin.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="order"
        )
        await self.fake.pay(invoice.id, paid)
        return invoice.id

    async def settled(self) -> None:
        """Every webhook sent, every accepted intervention resolved, their webhooks sent."""
        await self.fake.wait_for_deliveries()
        await self.webhooks.resolver.join()
        await self.fake.wait_for_deliveries()

    def event(
        self,
        event_type: EventType,
        invoice_id: str,
        event_id: str,
        age: timedelta = timedelta(0),
    ) -> bytes:
        """An event as Calypso writes it (a naive UTC ``createdDate``), ``age`` old."""
        created = datetime.now(UTC) - age
        return json.dumps(
            {
                "requestId": self.request_id,
                "id": event_id,
                "createdDate": created.replace(tzinfo=None).isoformat(),
                "level": "INFO",
                "service": "INVOICE",
                "eventType": str(event_type),
                "data": {"parentExternalId": invoice_id, "type": str(event_type)},
            }
        ).encode()

    async def post(self, body: Any, sign_with: str | None = "", **headers: str) -> int:
        """POST to the webhook endpoint, signed with the subscription's secret by default."""
        if sign_with is not None:
            headers["Sign"] = sign(body, sign_with or self.secret)
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/calypso/webhooks", data=body, headers=headers) as response,
        ):
            return response.status


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with FakeCalypso(settle_delay=0.05) as fake, fake.client() as admin:
        with listening_socket() as listener:
            url = url_of(listener)
            sub = await admin.webhooks.create(
                url=f"{url}/calypso/webhooks", service_types=[ServiceType.INVOICE]
            )
            assert sub.secret_key is not None
            app = fastapi_app.create_app(calypso_env(fake, sub.secret_key), poll_interval=0.05)
            async with serve_uvicorn(app, listener):
                yield Served(fake, admin, app, url, sub.secret_key, sub.request_id)


async def test_fastapi_app_settles_exact_over_and_under_payments(served: Served) -> None:
    """Exact completes by itself; over is returned to paid once and closed; under is held;
    every delivery of the fake was answered 2xx and processed once."""
    fake = served.fake
    exact = await served.invoice_paid("10.234")
    over = await served.invoice_paid("10.50")
    under = await served.invoice_paid("10.00")
    await served.settled()

    assert fake.returns_to_paid == {over: 1}
    assert fake.invoice(over)["state"] == "COMPLETED"
    assert fake.invoice(over)["isInterventionResolved"] is True
    assert fake.invoice(exact)["state"] == "COMPLETED"
    assert fake.invoice(under)["state"] == "PENDING_INTERVENTION"
    assert fake.invoice(under)["isInterventionResolved"] is False
    store = served.webhooks.resolver.store
    assert [held.invoice_id for held in await store.outcomes(Outcome.HELD)] == [under]
    assert [done.invoice_id for done in await store.outcomes(Outcome.RESOLVED)] == [over]

    assert fake.deliveries
    assert all(delivery.ok for delivery in fake.deliveries)
    received = served.webhooks.received
    assert len(received) == len(fake.deliveries)  # each event processed once
    completed = [
        e.invoice_id
        for e in received.values()
        if e.event_type is EventType.INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED
    ]
    assert sorted(completed) == sorted([exact, over])


async def test_fastapi_app_refuses_what_it_cannot_trust(served: Served) -> None:
    """401 unsigned or signed with another secret; 413 over 64 KiB (declared or streamed);
    400 for a signed body that is not an event; nothing of it is processed."""
    event = served.event(EventType.INVOICE_PAID, "inv-1", "1")

    assert await served.post(event, sign_with="another-secret") == 401
    assert await served.post(event, sign_with=None) == 401

    too_big = b" " * (64 * 1024 + 1)
    assert await served.post(too_big) == 413

    async def streamed() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
        for _ in range(17):
            yield b" " * 4096

    assert await served.post(streamed(), sign_with=None) == 413
    assert await served.post(b" " * (64 * 1024)) == 400  # 64 KiB exactly is read and verified
    assert await served.post(b"not json") == 400
    assert await served.post(b'{"requestId": "sub-1", "id": 1, "no": "eventType"}') == 400

    assert served.webhooks.received == {}


async def test_fastapi_app_acknowledges_a_stale_event(served: Served) -> None:
    """An event older than MAX_AGE gets 200 and is not processed; a stale intervention
    still reaches the resolver, which acts on the invoice as it is now."""
    under = await served.invoice_paid("10.00")
    await served.settled()
    store = served.webhooks.resolver.store
    assert await store.forget(under)  # as if the intervention had never been seen
    received = dict(served.webhooks.received)
    old = timedelta(days=3)

    assert await served.post(served.event(EventType.INVOICE_PAID, under, "901", old)) == 200
    pending = served.event(EventType.INVOICE_PENDING_INTERVENTION, under, "902", old)
    assert await served.post(pending) == 200
    await served.webhooks.resolver.join()

    assert served.webhooks.received == received  # neither was processed
    assert [held.invoice_id for held in await store.outcomes(Outcome.HELD)] == [under]


async def test_fastapi_app_answers_503_when_the_resolver_cannot_accept(served: Served) -> None:
    """A stopped resolver takes no intervention: 503, so that Calypso delivers it again;
    other events are still acknowledged."""
    await served.webhooks.resolver.stop()

    intervention = served.event(EventType.INVOICE_PENDING_INTERVENTION, "inv-2", "903")
    assert await served.post(intervention) == 503
    assert await served.post(served.event(EventType.INVOICE_PAID, "inv-2", "904")) == 200


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "uvicorn", "examples.fastapi_app:app", "--port", "{port}"],
        [str(EXAMPLES / "fastapi_app.py")],  # PORT from the environment
    ],
    ids=["uvicorn", "script"],
)
async def test_fastapi_app_runs_as_documented(command: list[str], tmp_path: Path) -> None:
    """`uvicorn examples.fastapi_app:app` and `python examples/fastapi_app.py` serve the
    endpoint, verify signatures with CALYPSO_WEBHOOK_SECRET (each of a rotation's two),
    and on SIGTERM run the lifespan's exit (uvicorn then re-raises the signal, so the
    exit status is -SIGTERM, as a supervisor expects)."""
    log = tmp_path / "app.log"
    port = free_port()
    async with FakeCalypso() as fake:
        env = {**calypso_env(fake, "old-secret,new-secret"), "PORT": str(port)}
        args = [arg.format(port=port) for arg in command]
        process = await start_python(*args, env=env, log=log, cwd=EXAMPLES.parent)
        try:
            await wait_listening(process, port, log)
            body = (
                b'{"requestId": "sub-1", "id": 5, "eventType": "INVOICE_PAID",'
                b' "data": {"parentExternalId": "x"}}'
            )
            url = f"http://127.0.0.1:{port}/calypso/webhooks"
            async with aiohttp.ClientSession() as http:
                for secret, status in (("old-secret", 200), ("new-secret", 200), ("x", 401)):
                    async with http.post(url, data=body, headers={"Sign": sign(body, secret)}) as r:
                        assert r.status == status
        finally:
            code, _ = await stop(process, signal.SIGTERM)
        assert code == -signal.SIGTERM, read_log(log)
        assert "Application shutdown complete." in read_log(log)
