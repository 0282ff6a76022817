"""OpenTelemetry for the resolver: a span per run over its calls, outcomes, queue depth."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from calypso_async import InterventionResolver, Outcome
from calypso_async.stores import MemoryStore
from calypso_async.testing import FakeCalypso
from tests.otel import Otel

GET = "calypso /api/v1/invoice"
RTP = "calypso /api/v1/invoice/return-to-paid"
CLOSE = "calypso /api/v1/invoice/close-intervention"


@pytest.fixture
def otel() -> Iterator[Otel]:
    providers = Otel()
    yield providers
    providers.shutdown()


class World:
    """FakeCalypso and a client whose sleep settles paid invoices (no real waiting)."""

    def __init__(self, fake: FakeCalypso, otel: Otel) -> None:
        self.fake = fake
        self.client = fake.client(sleep=self.sleep, telemetry=otel.telemetry)

    async def sleep(self, seconds: float) -> None:
        for invoice in self.fake.invoices:
            if invoice["state"] == "PAID":
                await self.fake.settle(invoice["id"])
        await asyncio.sleep(0)

    async def intervention(self, paid: str) -> str:
        invoice = await self.client.invoices.create_single(
            amount=Decimal("10.234"), currency="USDT", description="order"
        )
        await self.fake.pay(invoice.id, Decimal(paid))
        return invoice.id


@pytest.fixture
async def world(otel: Otel) -> Any:
    async with FakeCalypso(settle_delay=None) as fake:
        world = World(fake, otel)
        async with world.client:
            yield world


def _outcomes(otel: Otel) -> dict[Any, Any]:
    return otel.values(otel.metrics()["calypso.resolver.outcomes"])


async def test_an_overpaid_invoice_resolved_is_one_span_over_its_calls(
    world: World, otel: Otel
) -> None:
    """calypso resolve (INTERNAL) carries the invoice, outcome, writes and attempts; every
    call of the run is its child."""
    invoice_id = await world.intervention("10.50")
    otel.exporter.clear()
    resolution = await InterventionResolver(world.client, poll_interval=0.01).resolve(invoice_id)
    assert resolution.outcome is Outcome.RESOLVED
    [run] = otel.spans("calypso resolve")
    assert run.kind is SpanKind.INTERNAL
    assert run.parent is None
    assert run.status.status_code is StatusCode.UNSET
    assert dict(run.attributes or {}) == {
        "calypso.invoice_id": invoice_id,
        "calypso.outcome": "RESOLVED",
        "calypso.reason": resolution.reason,
        "calypso.writes": ("return-to-paid", "close-intervention"),
        "calypso.attempts": 1,
    }
    calls = [span for span in otel.spans() if span is not run]
    names = [span.name for span in calls]
    assert names[0] == GET
    assert RTP in names
    assert names.index(RTP) < names.index(CLOSE)
    assert run.context is not None
    for call in calls:
        assert call.parent is not None
        assert call.parent.span_id == run.context.span_id, call.name
        assert call.context is not None
        assert call.context.trace_id == run.context.trace_id
    assert _outcomes(otel) == {(("calypso.outcome", "RESOLVED"),): 1}


async def test_a_held_invoice_span_says_held_and_why(world: World, otel: Otel) -> None:
    """HELD is not an error: the span says so with its reason, nothing written."""
    invoice_id = await world.intervention("10.00")  # underpaid: held by the default policy
    resolution = await InterventionResolver(world.client).resolve(invoice_id)
    assert resolution.outcome is Outcome.HELD
    [run] = otel.spans("calypso resolve")
    attributes = dict(run.attributes or {})
    assert (attributes["calypso.outcome"], attributes["calypso.writes"]) == ("HELD", ())
    assert attributes["calypso.reason"] == resolution.reason
    assert run.status.status_code is StatusCode.UNSET
    assert _outcomes(otel) == {(("calypso.outcome", "HELD"),): 1}


async def test_a_failed_run_is_an_error_span_with_its_cause(world: World, otel: Otel) -> None:
    """FAILED sets the span's status to ERROR, with the error's type and the reason."""
    resolution = await InterventionResolver(world.client).resolve("no-such-invoice")
    assert resolution.outcome is Outcome.FAILED
    [run] = otel.spans("calypso resolve")
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == resolution.reason
    assert (run.attributes or {})["error.type"] == "NotFoundError"
    assert [event.name for event in run.events] == ["exception"]
    [call] = otel.spans(GET)
    assert call.status.status_code is StatusCode.ERROR


async def test_a_direct_resolve_nests_under_its_callers_span(world: World, otel: Otel) -> None:
    """resolve() from a request handler is part of that request's trace."""
    invoice_id = await world.intervention("10.00")
    with otel.tracer.start_as_current_span("POST /orders/42/settle") as handler:
        await InterventionResolver(world.client).resolve(invoice_id)
    [run] = otel.spans("calypso resolve")
    assert run.parent is not None
    assert run.parent.span_id == handler.get_span_context().span_id


async def test_workers_runs_start_their_own_traces_and_the_queue_depth_is_observed(
    world: World, otel: Otel
) -> None:
    """A worker's run is a trace of its own (not a child of whoever started the workers);
    the invoices waiting in the in-process store are the queue depth."""
    ids = [await world.intervention(paid) for paid in ("10.50", "10.00", "10.234")]
    otel.exporter.clear()
    store = MemoryStore()
    resolver = InterventionResolver(world.client, store=store, max_concurrency=1)
    with otel.tracer.start_as_current_span("app startup"):
        async with resolver:
            for invoice_id in ids:
                resolver.submit(invoice_id)
            depth = otel.values(otel.metrics()["calypso.resolver.queue.depth"])
            assert depth == {(): 3}
            await resolver.join()
    runs = otel.spans("calypso resolve")
    assert sorted((run.attributes or {})["calypso.invoice_id"] for run in runs) == sorted(ids)
    assert [run.parent for run in runs] == [None, None, None]
    assert len({run.context.trace_id for run in runs if run.context}) == 3
    assert otel.values(otel.metrics()["calypso.resolver.queue.depth"]) == {(): 0}
    assert _outcomes(otel) == {
        (("calypso.outcome", "RESOLVED"),): 1,
        (("calypso.outcome", "HELD"),): 1,
        (("calypso.outcome", "SKIPPED"),): 1,
    }
