"""InterventionResolver end to end against FakeCalypso."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from calypso_async import (
    CalypsoClient,
    ConfigurationError,
    Decision,
    EventData,
    EventType,
    InterventionResolver,
    Invoice,
    InvoiceState,
    LifecycleError,
    Outcome,
    Resolution,
    ResolutionCancelledError,
    ResolutionError,
    WebhookEvent,
    Write,
    sign,
    webhook_handler,
)
from calypso_async._core import json as _json
from calypso_async.stores import MemoryStore
from calypso_async.testing import FakeCalypso
from tests.conftest import BASE_URL

RTP = "/api/v1/invoice/return-to-paid"
CLOSE = "/api/v1/invoice/close-intervention"
AMOUNT = Decimal("10.234")


class World:
    """FakeCalypso plus a client whose sleep advances a fake clock and settles invoices.

    Sleeping is how the resolver waits for COMPLETED, so settling PAID invoices whenever
    it sleeps plays Calypso's part without any real waiting.
    """

    def __init__(self, fake: FakeCalypso, *, settles: bool = True) -> None:
        self.fake = fake
        self.settles = settles
        self.now = 0.0
        self.sleeps: list[float] = []
        self.client = fake.client(sleep=self.sleep, clock=lambda: self.now)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.settles:
            for invoice in self.fake.invoices:
                if invoice["state"] == "PAID":
                    await self.fake.settle(invoice["id"])
        await asyncio.sleep(0)

    async def intervention(self, paid: str) -> Invoice:
        invoice = await self.client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="order"
        )
        await self.fake.pay(invoice.id, Decimal(paid))
        return invoice

    def writes(self, invoice_id: str) -> tuple[int, int]:
        def count(path: str) -> int:
            return sum(
                1 for c in self.fake.calls_to(path) if (c.payload or {}).get("id") == invoice_id
            )

        return count(RTP), count(CLOSE)


async def stuck(_: Invoice) -> Decision:
    """A policy that never decides: a run still going when the resolver shuts down."""
    await asyncio.Event().wait()
    return Decision.RESOLVE


async def slow_to_end(_: Invoice) -> Decision:
    """Like ``stuck``, but it takes 50 ms to end once cancelled, like a write in flight."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.shield(asyncio.sleep(0.05))
        raise
    return Decision.RESOLVE


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with FakeCalypso(settle_delay=None) as fake:
        w = World(fake)
        async with w.client:
            yield w


async def test_overpay_is_resolved_with_one_return_to_paid_and_one_close(world: World) -> None:
    """The default policy takes an overpayment: COMPLETED, intervention closed."""
    invoice = await world.intervention("10.50")
    resolution = await InterventionResolver(world.client).resolve(invoice.id)
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert resolution.decision is Decision.RESOLVE
    assert resolution.writes == ("return-to-paid", "close-intervention")
    assert world.writes(invoice.id) == (1, 1)
    final = world.fake.invoice(invoice.id)
    assert final["state"] == "COMPLETED"
    assert final["isInterventionResolved"] is True


async def test_underpay_is_held_and_nothing_is_written(world: World) -> None:
    """The default policy holds an underpayment for a human."""
    invoice = await world.intervention("10.00")
    resolution = await InterventionResolver(world.client).resolve(invoice.id)
    assert resolution.outcome is Outcome.HELD
    assert "UNDERPAY" in resolution.reason
    assert resolution.writes == ()
    assert world.writes(invoice.id) == (0, 0)
    assert world.fake.invoice(invoice.id)["state"] == "PENDING_INTERVENTION"


async def test_custom_async_policy_can_resolve_an_underpay(world: World) -> None:
    """An async policy is awaited; here it accepts shortfalls under 0.5."""
    seen: list[Invoice] = []

    async def generous(invoice: Invoice) -> Decision:
        seen.append(invoice)
        return Decision.RESOLVE

    invoice = await world.intervention("10.00")
    resolution = await InterventionResolver(world.client, generous).resolve(invoice.id)
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert [i.id for i in seen] == [invoice.id]
    assert world.writes(invoice.id) == (1, 1)


async def test_five_concurrent_resolve_calls_share_one_execution(world: World) -> None:
    """Concurrent calls for one invoice share one execution and one Resolution."""
    invoice = await world.intervention("10.50")
    resolver = InterventionResolver(world.client)
    results = await asyncio.gather(*(resolver.resolve(invoice.id) for _ in range(5)))
    assert {r.outcome for r in results} == {Outcome.RESOLVED}
    assert len({id(r) for r in results}) == 1
    assert world.writes(invoice.id) == (1, 1)


async def test_a_later_duplicate_is_skipped_without_writing(world: World) -> None:
    """A webhook delivered again after resolution finds nothing to do."""
    invoice = await world.intervention("10.50")
    resolver = InterventionResolver(world.client)
    await resolver.resolve(invoice.id)
    again = await resolver.resolve(invoice.id)
    assert again.outcome is Outcome.SKIPPED
    assert "already resolved" in again.reason
    assert world.writes(invoice.id) == (1, 1)


@pytest.mark.parametrize("left_in", ["PAID", "COMPLETED"])
async def test_crash_after_return_to_paid_resumes_without_a_second_one(
    world: World, left_in: str
) -> None:
    """A run that died after return-to-paid is finished by the next one."""
    invoice = await world.intervention("10.50")
    await world.client.invoices.return_to_paid(invoice.id)  # the crashed run's write
    if left_in == "COMPLETED":
        await world.fake.settle(invoice.id)
    assert world.fake.invoice(invoice.id)["state"] == left_in

    resolution = await InterventionResolver(world.client).resolve(invoice.id)
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert resolution.decision is None  # resumed: the policy was not asked again
    assert resolution.writes == ("close-intervention",)
    assert world.writes(invoice.id) == (1, 1)


async def test_lost_return_to_paid_response_is_settled_by_rereading(world: World) -> None:
    """The server acted but the answer was lost: re-read, never write again."""
    invoice = await world.intervention("10.50")
    world.fake.drop(RTP, after_action=True)
    resolution = await InterventionResolver(world.client).resolve(invoice.id)
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert world.writes(invoice.id) == (1, 1)


async def test_return_to_paid_refused_before_the_server_acted_fails_then_recovers(
    world: World,
) -> None:
    """Refused (Calypso's own 503) and not applied: FAILED, saying so; the next run
    finishes the job."""
    invoice = await world.intervention("10.50")
    world.fake.fail(RTP, 503)
    resolver = InterventionResolver(world.client)
    failed = await resolver.resolve(invoice.id)
    assert failed.outcome is Outcome.FAILED
    assert failed.writes == ("return-to-paid",)
    assert type(failed.error).__name__ == "ServerError"
    assert "still PENDING_INTERVENTION" in failed.reason
    assert world.writes(invoice.id) == (1, 0)

    retried = await resolver.resolve(invoice.id)
    assert retried.outcome is Outcome.RESOLVED
    assert world.writes(invoice.id) == (2, 1)


async def test_a_wrong_state_refusal_is_named_in_the_reason(world: World) -> None:
    """Calypso's 006 (wrong invoice state) is told in words, not as a bare 400."""
    invoice = await world.intervention("10.50")
    body = b'{"traceId": "t", "errorCode": "006", "message": "Invoice has wrong status"}'
    world.fake.fail(RTP, 400, body=body)
    failed = await InterventionResolver(world.client).resolve(invoice.id)
    assert failed.outcome is Outcome.FAILED
    assert "refused: the invoice was in the wrong state for it (errorCode 006)" in failed.reason
    assert "still PENDING_INTERVENTION" in failed.reason
    assert world.writes(invoice.id) == (1, 0)


async def test_an_unanswered_return_to_paid_is_not_resent_before_resend_hold(
    world: World,
) -> None:
    """The connection dropped: the server may still act on the request, so for
    resend_hold seconds no run sends another; then one does and finishes the job."""
    invoice = await world.intervention("10.50")
    world.fake.drop(RTP, after_action=False)
    resolver = InterventionResolver(world.client, resend_hold=60)
    failed = await resolver.resolve(invoice.id)
    assert failed.outcome is Outcome.FAILED
    assert "still PENDING_INTERVENTION" in failed.reason

    await world.sleep(59)
    held_back = await resolver.resolve(invoice.id)
    assert held_back.outcome is Outcome.FAILED
    assert held_back.writes == ()
    assert isinstance(held_back.error, ResolutionError)
    assert "none is sent for another 1 s" in held_back.reason
    assert world.writes(invoice.id) == (1, 0)

    await world.sleep(1)
    retried = await resolver.resolve(invoice.id)
    assert retried.outcome is Outcome.RESOLVED
    assert world.writes(invoice.id) == (2, 1)


async def test_a_completion_timeout_shorter_than_the_poll_interval_still_polls(
    world: World,
) -> None:
    """completion_timeout <= poll_interval is legal: the pause before polling leaves room
    for a poll, which sees COMPLETED (it used to spend the whole budget sleeping)."""
    invoice = await world.intervention("10.50")
    resolver = InterventionResolver(world.client, poll_interval=2, completion_timeout=1)
    resolution = await resolver.resolve(invoice.id)
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert world.writes(invoice.id) == (1, 1)


async def test_completed_never_arriving_fails_after_the_timeout() -> None:
    """No COMPLETED within completion_timeout: FAILED, and no close-intervention."""
    async with FakeCalypso(settle_delay=None) as fake:
        world = World(fake, settles=False)
        async with world.client:
            invoice = await world.intervention("10.50")
            resolver = InterventionResolver(world.client, poll_interval=1, completion_timeout=30)
            resolution = await resolver.resolve(invoice.id)
            assert resolution.outcome is Outcome.FAILED
            assert "COMPLETED did not arrive within 30 s" in resolution.reason
            assert world.writes(invoice.id) == (1, 0)
            assert fake.invoice(invoice.id)["state"] == "PAID"
            # completion_timeout bounds the whole wait; the last poll is made a second
            # before its end, so that it has time to be answered.
            assert world.now == pytest.approx(29)
            assert resolution.invoice is not None
            assert resolution.invoice.state == "PAID"


async def test_invoices_without_an_open_intervention_are_skipped(world: World) -> None:
    """Exact payments and unlimited invoices are not the resolver's business."""
    exact = await world.intervention("10.234")
    unlimited = await world.client.invoices.create_unlimited(currency="ETH", description="u")
    resolver = InterventionResolver(world.client)
    for invoice_id in (exact.id, unlimited.id):
        resolution = await resolver.resolve(invoice_id)
        assert resolution.outcome is Outcome.SKIPPED
        assert world.writes(invoice_id) == (0, 0)


async def test_policy_that_raises_fails_without_writing(world: World) -> None:
    """A bug in the policy is reported, and nothing is written."""

    def broken(invoice: Invoice) -> Decision:
        raise KeyError("merchant table")

    invoice = await world.intervention("10.50")
    resolution = await InterventionResolver(world.client, broken).resolve(invoice.id)
    assert resolution.outcome is Outcome.FAILED
    assert isinstance(resolution.error, KeyError)
    assert world.writes(invoice.id) == (0, 0)


async def test_policy_returning_no_decision_fails_saying_what_it_returned(world: World) -> None:
    """A policy answering something else is reported as such, with a public error type."""

    def sloppy(invoice: Invoice) -> Decision:
        return "maybe"  # type: ignore[return-value]

    invoice = await world.intervention("10.50")
    resolution = await InterventionResolver(world.client, sloppy).resolve(invoice.id)
    assert resolution.outcome is Outcome.FAILED
    assert resolution.reason == "the policy returned 'maybe', not a Decision"
    assert type(resolution.error) is ResolutionError
    assert world.writes(invoice.id) == (0, 0)


async def test_a_write_answered_without_effect_fails_with_a_public_error(world: World) -> None:
    """No private exception type ever reaches Resolution.error."""
    invoice = await world.intervention("10.50")
    stale = json.dumps(world.fake.invoice(invoice.id), default=str).encode()
    world.fake.fail(RTP, 200, body=stale)  # answered, not carried out
    resolution = await InterventionResolver(world.client).resolve(invoice.id)
    assert resolution.outcome is Outcome.FAILED
    assert "answered with the invoice PENDING_INTERVENTION" in resolution.reason
    assert type(resolution.error) is ResolutionError


async def test_an_accepted_write_whose_reread_fails_is_not_resent_within_the_hold(
    world: World,
) -> None:
    """return-to-paid answered 2xx with the invoice unchanged, then the re-read meets a
    500: the server may still carry out the write, so the worker's retry waits out
    resend_hold rather than sending a second return-to-paid two seconds later."""
    invoice = await world.intervention("10.50")
    stale = json.dumps(world.fake.invoice(invoice.id), default=str).encode()
    world.fake.fail(RTP, 200, body=stale)  # accepted, not carried out yet

    def policy(_: Invoice) -> Decision:
        if not world.fake.calls_to(RTP):
            world.fake.fail("/api/v1/invoice", 500)  # the re-read after the write
        return Decision.RESOLVE

    outcomes: list[Resolution] = []
    async with InterventionResolver(
        world.client, policy, resend_hold=120, on_outcome=outcomes.append
    ) as resolver:
        resolver.submit(invoice.id)
        await resolver.join()
    assert world.sleeps[0] >= 120, "the retry came before the hold ran out"
    (resolution,) = outcomes
    assert resolution.attempts == 2
    assert resolution.outcome is Outcome.RESOLVED


async def test_an_unexpected_error_after_a_write_still_reports_the_write(world: World) -> None:
    """A bug surfacing mid-run ends FAILED with writes telling what was already sent."""
    invoice = await world.intervention("10.50")

    async def broken_sleep(seconds: float) -> None:
        raise RuntimeError("the injected sleep broke")

    async with world.fake.client(sleep=broken_sleep) as client:
        resolution = await InterventionResolver(client).resolve(invoice.id)
    assert resolution.outcome is Outcome.FAILED
    assert resolution.reason == "unexpected RuntimeError: the injected sleep broke"
    assert resolution.writes == ("return-to-paid",)
    assert world.writes(invoice.id) == (1, 0)


async def test_unknown_invoice_fails_with_the_typed_error(world: World) -> None:
    """A 404 is reported as FAILED carrying the NotFoundError."""
    resolution = await InterventionResolver(world.client).resolve("no-such-invoice")
    assert resolution.outcome is Outcome.FAILED
    assert type(resolution.error).__name__ == "NotFoundError"


async def test_non_intervention_event_is_skipped_without_io(world: World) -> None:
    """Only INVOICE_PENDING_INTERVENTION events are acted on; the outcome names the invoice."""
    calls = len(world.fake.calls)
    event = WebhookEvent(
        request_id="sub-1",
        id="7",
        event_type=EventType.INVOICE_PAID,
        data=EventData(parent_external_id="inv-7"),
    )
    resolution = await InterventionResolver(world.client).resolve(event)
    assert resolution.outcome is Outcome.SKIPPED
    assert resolution.invoice_id == "inv-7"
    assert "INVOICE_PAID is not INVOICE_PENDING_INTERVENTION" in resolution.reason
    assert len(world.fake.calls) == calls


async def test_cancellation_propagates_and_the_cancelled_run_is_reported(world: World) -> None:
    """Cancelling resolve cancels the run; on_outcome still hears how it ended."""
    gate = asyncio.Event()

    async def slow(invoice: Invoice) -> Decision:
        await gate.wait()
        return Decision.RESOLVE

    invoice = await world.intervention("10.50")
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(world.client, slow, on_outcome=outcomes.append)
    task = asyncio.create_task(resolver.resolve(invoice.id))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert world.writes(invoice.id) == (0, 0)
    (reported,) = outcomes
    assert reported.outcome is Outcome.FAILED
    assert isinstance(reported.error, ResolutionCancelledError)
    assert reported.reason.startswith("cancelled (every caller was cancelled) before any write")


async def test_worker_mode_resolves_submissions_and_reports_each_outcome(world: World) -> None:
    """submit() never blocks; join() waits; on_outcome sees every Resolution."""
    over = [await world.intervention("10.60") for _ in range(4)]
    under = [await world.intervention("9.00") for _ in range(3)]
    outcomes: list[Resolution] = []
    async with InterventionResolver(
        world.client, max_concurrency=3, on_outcome=outcomes.append
    ) as resolver:
        for invoice in over + under:
            assert resolver.submit(invoice.id)
        await resolver.join()
    by_id = {r.invoice_id: r.outcome for r in outcomes}
    assert by_id == {i.id: Outcome.RESOLVED for i in over} | {i.id: Outcome.HELD for i in under}


async def test_submit_outside_async_with_is_a_lifecycle_error(world: World) -> None:
    """A resolver that is not running refuses work loudly."""
    with pytest.raises(LifecycleError):
        InterventionResolver(world.client).submit("x")


async def test_a_stopped_resolver_refuses_interventions_but_not_other_events(
    world: World,
) -> None:
    """accept() on a stopped in-process resolver: an intervention is refused (the
    endpoint answers 503 and Calypso delivers again); an event it would skip is not, so
    a receiver does not make Calypso redeliver an INVOICE_PAID for ever."""
    seen: list[Resolution] = []
    resolver = InterventionResolver(world.client, on_outcome=seen.append)
    paid = WebhookEvent(
        request_id="sub-1",
        id="7",
        event_type=EventType.INVOICE_PAID,
        data=EventData(parent_external_id="inv-7"),
    )
    assert await resolver.accept(paid) is False
    assert [(r.invoice_id, r.outcome) for r in seen] == [("inv-7", Outcome.SKIPPED)]
    with pytest.raises(LifecycleError, match="not running"):
        await resolver.accept("inv-7")


async def test_leaving_the_block_cancels_stuck_work_after_the_grace_and_reports_it(
    world: World,
) -> None:
    """Shutdown waits shutdown_grace, then cancels the stuck run (its policy sees the
    cancellation, so it never goes on to write), reports it FAILED and hands back its id."""
    never = asyncio.Event()
    cancelled: list[str] = []

    async def stuck(invoice: Invoice) -> Decision:
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(invoice.id)
            raise
        return Decision.RESOLVE

    invoice = await world.intervention("10.50")
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(
        world.client, stuck, shutdown_grace=0.05, on_outcome=outcomes.append
    )
    async with resolver:
        resolver.submit(invoice.id)
        await asyncio.sleep(0.01)
        started = time.monotonic()
        unfinished = await resolver.stop()
        elapsed = time.monotonic() - started
    assert unfinished == (invoice.id,)
    assert 0.04 <= elapsed < 1, "waited for the grace, then no longer"
    assert cancelled == [invoice.id]
    (reported,) = outcomes
    assert reported.outcome is Outcome.FAILED
    assert isinstance(reported.error, ResolutionCancelledError)
    assert reported.reason.startswith("cancelled (the resolver shut down) before any write")
    assert world.writes(invoice.id) == (0, 0)


async def test_a_second_stop_waits_for_the_first_and_gets_the_same_ids(world: World) -> None:
    """A signal handler's stop() and leaving ``async with`` at once: both wait for the
    drain, and both hand back the cancelled invoice (it was acknowledged to Calypso)."""

    invoice = await world.intervention("10.50")
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(
        world.client, stuck, shutdown_grace=0.02, on_outcome=outcomes.append
    )
    async with resolver:
        resolver.submit(invoice.id)
        await asyncio.sleep(0.01)
        first = asyncio.create_task(resolver.stop())
        await asyncio.sleep(0)
        second = await resolver.stop()
        assert await first == second == (invoice.id,)
    (reported,) = outcomes
    assert reported.reason.startswith("cancelled (the resolver shut down)")


async def test_stop_called_from_the_outcome_hook_returns_at_once_and_the_drain_ends(
    world: World,
) -> None:
    """A hook that stops the resolver on a FAILED outcome (every run cancelled at
    shutdown is one): waiting for the drain from inside it would wait for itself."""

    invoices = [await world.intervention("10.50") for _ in range(2)]
    from_hook: list[tuple[str, ...]] = []
    resolver: InterventionResolver

    async def on_outcome(resolution: Resolution) -> None:
        if resolution.outcome is Outcome.FAILED:
            from_hook.append(await resolver.stop())

    resolver = InterventionResolver(
        world.client, stuck, max_concurrency=1, shutdown_grace=0.01, on_outcome=on_outcome
    )
    async with resolver:
        for invoice in invoices:
            resolver.submit(invoice.id)
        await asyncio.sleep(0.01)
        async with asyncio.timeout(5):
            unfinished = await resolver.stop()
    assert sorted(unfinished) == sorted(invoice.id for invoice in invoices)
    assert len(from_hook) == 2  # each returned at once with what was known then


async def test_cancelling_one_of_two_stops_leaves_the_other_the_whole_answer(
    world: World,
) -> None:
    """The first stop() is cancelled mid-drain; the second still gets every id, the
    never-started one included, and each is reported."""
    invoices = [await world.intervention("10.50") for _ in range(2)]
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(
        world.client, stuck, max_concurrency=1, shutdown_grace=0.05, on_outcome=outcomes.append
    )
    async with resolver:
        for invoice in invoices:
            resolver.submit(invoice.id)
        await asyncio.sleep(0.01)
        first = asyncio.create_task(resolver.stop())
        await asyncio.sleep(0)
        second = asyncio.create_task(resolver.stop())
        await asyncio.sleep(0)
        first.cancel()
        ids = sorted(invoice.id for invoice in invoices)
        assert sorted(await second) == ids
    assert first.cancelled()
    assert sorted(r.invoice_id for r in outcomes if r.invoice_id) == ids


async def test_a_task_a_hook_creates_waits_for_stop_like_any_caller(world: World) -> None:
    """A sync hook can only schedule its shutdown ("stop, then close the database"):
    that task is not the hook, so its stop() waits for the drain and gets the ids."""
    never = asyncio.Event()
    stuck_one, done_one = [await world.intervention("10.50") for _ in range(2)]
    seen: list[tuple[str, ...]] = []
    tasks: list[asyncio.Task[None]] = []
    scheduled = asyncio.Event()
    resolver: InterventionResolver

    async def shut_down() -> None:
        seen.append(await resolver.stop())

    def on_outcome(resolution: Resolution) -> None:
        if resolution.outcome is Outcome.RESOLVED:
            tasks.append(asyncio.create_task(shut_down()))
            scheduled.set()

    async def policy(invoice: Invoice) -> Decision:
        if invoice.id == stuck_one.id:
            await never.wait()
        return Decision.RESOLVE

    resolver = InterventionResolver(
        world.client, policy, max_concurrency=2, shutdown_grace=0.01, on_outcome=on_outcome
    )
    async with resolver:
        resolver.submit(stuck_one.id)
        resolver.submit(done_one.id)
        async with asyncio.timeout(5):
            await scheduled.wait()
            await asyncio.gather(*tasks)
    assert seen == [(stuck_one.id,)]


async def test_stop_from_a_hook_does_not_return_the_previous_stops_ids(world: World) -> None:
    """Cycle one leaves an invoice unfinished; in cycle two a hook's stop() returns
    what this stop knows (nothing yet), not the last one's answer."""
    never = asyncio.Event()
    first, second = [await world.intervention("10.50") for _ in range(2)]
    from_hook: list[tuple[str, ...]] = []
    resolver: InterventionResolver

    async def policy(invoice: Invoice) -> Decision:
        if invoice.id == first.id:
            await never.wait()
        return Decision.RESOLVE

    async def on_outcome(resolution: Resolution) -> None:
        if resolution.invoice_id == second.id:
            from_hook.append(await resolver.stop())

    resolver = InterventionResolver(
        world.client, policy, shutdown_grace=0.01, on_outcome=on_outcome
    )
    async with resolver:
        resolver.submit(first.id)
        await asyncio.sleep(0.01)
    async with resolver:
        resolver.submit(second.id)
        await resolver.join()
    assert from_hook == [()]


async def test_a_stop_cancelled_while_reporting_names_every_unreported_invoice(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelled mid-way through reporting what never started: every invoice is either
    reported to on_outcome or named in a WARNING, none silently lost."""
    never = asyncio.Event()
    invoices = [await world.intervention("10.50") for _ in range(4)]
    reported: list[str] = []
    reporting = asyncio.Event()

    async def on_outcome(resolution: Resolution) -> None:
        reported.append(resolution.invoice_id or "")
        if resolution.reason.startswith("not started"):
            reporting.set()
            await never.wait()  # a database write that never ends

    resolver = InterventionResolver(
        world.client, stuck, max_concurrency=1, shutdown_grace=0.01, on_outcome=on_outcome
    )
    with caplog.at_level(logging.WARNING, logger="calypso_async"):
        await resolver.__aenter__()
        for invoice in invoices:
            resolver.submit(invoice.id)
        await asyncio.sleep(0.01)
        stopping = asyncio.create_task(resolver.stop())
        await reporting.wait()
        stopping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopping
    logged = caplog.text
    lost = [i.id for i in invoices if i.id not in reported and i.id not in logged]
    assert lost == []


async def test_a_stop_cancelled_while_a_run_finishes_its_write_loses_nothing_queued(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The last stop() caller is cancelled while the pool waits for a cancelled run that
    is still finishing a write: join() returns, and the queued invoice is named."""

    running, queued = [await world.intervention("10.50") for _ in range(2)]
    resolver = InterventionResolver(
        world.client, slow_to_end, max_concurrency=1, shutdown_grace=0.01
    )
    with caplog.at_level(logging.WARNING, logger="calypso_async"):
        await resolver.__aenter__()
        resolver.submit(running.id)
        resolver.submit(queued.id)
        await asyncio.sleep(0.005)
        joining = asyncio.create_task(resolver.join())
        stopping = asyncio.create_task(resolver.stop())
        await asyncio.sleep(0.03)  # the grace is over; the pool waits for the worker
        stopping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stopping
        async with asyncio.timeout(5):
            await joining
        await asyncio.sleep(0.1)  # the cancelled run ends
    assert queued.id in caplog.text


async def test_starting_again_while_a_stop_drains_is_refused(world: World) -> None:
    """Re-entering while the last stop() still drains would let that drain cancel the
    new cycle's workers: refused until the stop is awaited; then it starts cleanly."""
    first, second = [await world.intervention("10.50") for _ in range(2)]

    async def stuck_on_the_first(invoice: Invoice) -> Decision:
        return await stuck(invoice) if invoice.id == first.id else Decision.RESOLVE

    resolver = InterventionResolver(world.client, stuck_on_the_first, shutdown_grace=0.05)
    await resolver.__aenter__()
    resolver.submit(first.id)
    await asyncio.sleep(0.01)
    stopping = asyncio.create_task(resolver.stop())
    await asyncio.sleep(0)
    with pytest.raises(LifecycleError, match="still stopping"):
        await resolver.__aenter__()
    assert await stopping == (first.id,)
    async with resolver:
        resolver.submit(second.id)
        async with asyncio.timeout(5):
            await resolver.join()
    assert world.writes(second.id) == (1, 1)


async def test_a_stop_joining_a_drain_another_caller_cancelled_gets_the_ids(
    world: World,
) -> None:
    """A watchdog's wait_for(stop(), t) gives up and cancels the drain while a run still
    finishes its write; leaving ``async with`` then calls stop() in a task nobody
    cancelled: it gets the ids, not a CancelledError."""

    invoice = await world.intervention("10.50")
    resolver = InterventionResolver(world.client, slow_to_end, shutdown_grace=10)
    await resolver.__aenter__()
    resolver.submit(invoice.id)
    await asyncio.sleep(0.01)
    watchdog = asyncio.create_task(asyncio.wait_for(resolver.stop(), 0.02))
    await asyncio.sleep(0.03)  # the watchdog gave up; the drain is cancelled, not done
    assert await resolver.stop() == (invoice.id,)
    with pytest.raises(TimeoutError):
        await watchdog


async def test_a_direct_resolve_cancelled_after_a_worker_cycle_is_not_called_a_shutdown(
    world: World,
) -> None:
    """Only runs a stop() cancelled say "the resolver shut down" and go back to it."""

    invoice = await world.intervention("10.50")
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(world.client, stuck, on_outcome=outcomes.append)
    async with resolver:
        pass
    resolving = asyncio.create_task(resolver.resolve(invoice.id))
    await asyncio.sleep(0.01)
    resolving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await resolving
    (reported,) = outcomes
    assert reported.reason.startswith("cancelled (every caller was cancelled)")
    assert await resolver.stop() == ()


async def test_a_direct_resolve_its_caller_cancels_during_a_drain_is_not_a_shutdown(
    world: World,
) -> None:
    """A direct resolve() cancelled by its own caller while a stop() drains other work is
    reported as such, and is not among the ids stop() hands back."""

    queued, direct = [await world.intervention("10.50") for _ in range(2)]
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(
        world.client, stuck, shutdown_grace=0.1, on_outcome=outcomes.append
    )
    await resolver.__aenter__()
    resolver.submit(queued.id)
    resolving = asyncio.create_task(resolver.resolve(direct.id))
    await asyncio.sleep(0.01)
    stopping = asyncio.create_task(resolver.stop())
    await asyncio.sleep(0.01)  # the drain is in its grace
    resolving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await resolving
    assert await stopping == (queued.id,)
    (reported,) = [r for r in outcomes if r.invoice_id == direct.id]
    assert reported.reason.startswith("cancelled (every caller was cancelled)")


async def test_a_joined_stop_returns_the_ids_of_its_own_drain(world: World) -> None:
    """Caller A gives up and calls stop() again (a new drain); B, which joined A's first
    drain, still gets that drain's ids, not the new one's empty list."""

    invoice = await world.intervention("10.50")
    resolver = InterventionResolver(world.client, slow_to_end, shutdown_grace=10)
    await resolver.__aenter__()
    resolver.submit(invoice.id)
    await asyncio.sleep(0.01)

    async def impatient() -> tuple[str, ...]:
        try:
            async with asyncio.timeout(0.02):
                return await resolver.stop()
        except TimeoutError:
            return await resolver.stop()  # "stop now", once more

    first = asyncio.create_task(impatient())
    await asyncio.sleep(0.03)  # it gave up; the drain is cancelled, a run ends its write
    assert await resolver.stop() == (invoice.id,)
    await first


async def test_a_report_cut_short_by_shutdown_hands_the_invoice_back(world: World) -> None:
    """Shutdown cancels an async on_outcome hook mid-way (a database write, say): the
    hook may not have kept the outcome, so stop() returns the id to submit again."""
    invoice = await world.intervention("10.00")  # UNDERPAY: held by the default policy
    in_hook = asyncio.Event()
    never = asyncio.Event()
    kept: list[Resolution] = []

    async def on_outcome(resolution: Resolution) -> None:
        in_hook.set()
        await never.wait()
        kept.append(resolution)

    resolver = InterventionResolver(world.client, shutdown_grace=0.01, on_outcome=on_outcome)
    async with resolver:
        resolver.submit(invoice.id)
        await in_hook.wait()
        unfinished = await resolver.stop()
    assert kept == []
    assert unfinished == (invoice.id,)


async def test_work_dropped_at_shutdown_is_reported_per_invoice_and_handed_back(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Each accepted submission that never ran or was cancelled is reported FAILED and
    logged at WARNING with its invoice id; stop() returns the ids to submit again."""
    never = asyncio.Event()

    async def stuck(invoice: Invoice) -> Decision:
        await never.wait()
        return Decision.RESOLVE

    invoices = [await world.intervention("10.50") for _ in range(3)]
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(
        world.client, stuck, max_concurrency=1, shutdown_grace=0.01, on_outcome=outcomes.append
    )
    with caplog.at_level(logging.WARNING, logger="calypso_async"):
        async with resolver:
            for invoice in invoices:
                resolver.submit(invoice.id)
            await asyncio.sleep(0.01)
            unfinished = await resolver.stop()
    ids = [invoice.id for invoice in invoices]
    assert sorted(unfinished) == sorted(ids)
    assert sorted(r.invoice_id for r in outcomes if r.invoice_id) == sorted(ids)
    assert all(isinstance(r.error, ResolutionCancelledError) for r in outcomes)
    reasons = sorted(r.reason.split(":")[0] for r in outcomes)
    assert reasons[-2:] == ["not started", "not started"]
    logged = [r for r in caplog.records if getattr(r, "calypso_outcome", None) == "FAILED"]
    assert sorted(r.calypso_invoice_id for r in logged) == sorted(ids)  # type: ignore[attr-defined]
    assert "1 running item(s) are cancelled and 2 never started" in caplog.text


async def test_worker_mode_retries_a_failed_run_and_reports_only_the_final_outcome(
    world: World,
) -> None:
    """A 429 on return-to-paid fails the first run; the worker runs it again after the
    backoff (injected sleep) and on_outcome hears one RESOLVED telling both attempts."""
    invoice = await world.intervention("10.50")
    world.fake.fail(RTP, 429)
    outcomes: list[Resolution] = []
    async with InterventionResolver(
        world.client, retry_backoff=3, on_outcome=outcomes.append
    ) as resolver:
        resolver.submit(invoice.id)
        await resolver.join()
    (reported,) = outcomes
    assert reported.outcome is Outcome.RESOLVED, reported.reason
    assert reported.attempts == 2
    assert reported.writes == ("return-to-paid", "return-to-paid", "close-intervention")
    assert 3.0 in world.sleeps, "the retry waited the backoff"
    rtp = world.fake.calls_to(RTP)
    assert [c.processed_status for c in rtp] == [None, 200], "the 429 was never carried out"


async def test_worker_mode_gives_up_after_retry_failed_more_attempts(world: World) -> None:
    """Retries are bounded and back off by doubling; the last FAILED is reported once."""
    invoice = await world.intervention("10.50")
    world.fake.fail("/api/v1/invoice", 500, times=10)
    outcomes: list[Resolution] = []
    async with InterventionResolver(
        world.client, retry_failed=2, retry_backoff=1, on_outcome=outcomes.append
    ) as resolver:
        resolver.submit(invoice.id)
        await resolver.join()
    (reported,) = outcomes
    assert reported.outcome is Outcome.FAILED
    assert reported.attempts == 3
    assert world.sleeps == [1.0, 2.0]
    assert len(world.fake.calls_to("/api/v1/invoice")) == 3, "one read per attempt"


async def test_worker_mode_does_not_retry_an_unknown_invoice(world: World) -> None:
    """A 404 cannot get better: reported at once, no backoff."""
    outcomes: list[Resolution] = []
    async with InterventionResolver(world.client, on_outcome=outcomes.append) as resolver:
        resolver.submit("no-such-invoice")
        await resolver.join()
    assert [(r.outcome, r.attempts) for r in outcomes] == [(Outcome.FAILED, 1)]
    assert world.sleeps == []


@pytest.mark.parametrize("answer", ["lost", "unchanged-invoice", "garbled", "proxy-503"])
async def test_worker_retry_after_a_return_to_paid_that_may_land_waits_out_the_hold(
    world: World, answer: str
) -> None:
    """A return-to-paid lost on the wire, accepted (2xx) while the answer and the
    re-read after it still show PENDING_INTERVENTION or cannot be read, or answered 503
    by a proxy (no Calypso errorCode: it may have forwarded it), may still be carried
    out: the worker's retry waits resend_hold before sending another, not 2 s."""
    invoice = await world.intervention("10.50")
    if answer == "lost":
        world.fake.drop(RTP, after_action=False)
    elif answer == "proxy-503":
        world.fake.fail(RTP, 503, body=b"upstream connect error or disconnect/reset")
    else:
        unchanged = _json.dumps(world.fake.invoice(invoice.id))
        world.fake.fail(RTP, 200, body=unchanged if answer == "unchanged-invoice" else b"ok")
    outcomes: list[Resolution] = []
    async with InterventionResolver(
        world.client, resend_hold=90, on_outcome=outcomes.append
    ) as resolver:
        resolver.submit(invoice.id)
        await resolver.join()
    (reported,) = outcomes
    assert reported.outcome is Outcome.RESOLVED, reported.reason
    assert reported.attempts == 2
    assert world.sleeps[0] == pytest.approx(90), "the retry waited for the hold, not 2 s"
    assert world.writes(invoice.id) == (2, 1)


async def test_duplicates_of_a_stuck_invoice_leave_the_other_workers_free(world: World) -> None:
    """A copy of an invoice being resolved does not take a worker: another invoice goes
    ahead, and the copy runs after the first run ends (no head-of-line blocking)."""
    x = await world.intervention("10.50")
    y = await world.intervention("10.50")
    gate = asyncio.Event()

    async def policy(invoice: Invoice) -> Decision:
        if invoice.id == x.id:
            await gate.wait()
        return Decision.RESOLVE

    outcomes: list[Resolution] = []
    async with InterventionResolver(
        world.client, policy, max_concurrency=2, on_outcome=outcomes.append
    ) as resolver:
        resolver.submit(x.id)
        await asyncio.sleep(0.02)
        assert resolver.submit(x.id)
        assert resolver.submit(y.id)
        for _ in range(100):
            if outcomes:
                break
            await asyncio.sleep(0.01)
        assert [(r.invoice_id, r.outcome) for r in outcomes] == [(y.id, Outcome.RESOLVED)]
        gate.set()
        await resolver.join()
    assert [(r.invoice_id, r.outcome) for r in outcomes[1:]] == [
        (x.id, Outcome.RESOLVED),
        (x.id, Outcome.SKIPPED),  # the copy ran once more, and found it done
    ]
    assert world.writes(x.id) == (1, 1)


def test_bad_settings_are_configuration_errors() -> None:
    """Nonsense settings are refused before anything runs."""
    client = CalypsoClient(api_key="k", secret_key="s", account="a")
    with pytest.raises(ConfigurationError):
        InterventionResolver(client, completion_timeout=0)
    with pytest.raises(ConfigurationError):
        InterventionResolver(client, max_concurrency=0)
    with pytest.raises(ConfigurationError):
        InterventionResolver(client, retry_failed=-1)
    with pytest.raises(ConfigurationError):
        InterventionResolver(client, resend_hold=0)


async def test_outcomes_are_logged_without_secrets(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Each Resolution is logged with structured extras and no secret."""
    invoice = await world.intervention("10.50")
    with caplog.at_level(logging.DEBUG, logger="calypso_async"):
        await InterventionResolver(world.client).resolve(invoice.id)
    records = [r for r in caplog.records if getattr(r, "calypso_outcome", None)]
    assert [r.calypso_outcome for r in records] == ["RESOLVED"]  # type: ignore[attr-defined]
    assert records[0].calypso_invoice_id == invoice.id  # type: ignore[attr-defined]
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert world.fake.secret_key not in text


class LateHandler:
    """One webhook handler for the whole test, built once the subscription's secret is
    known (the URL must exist before subscribing); 503 until then."""

    def __init__(self) -> None:
        self.handler: web.Handler | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.handler is None:
            return web.Response(status=503)
        return await self.handler(request)


async def test_full_loop_webhooks_to_adapter_to_resolver_worker() -> None:
    """FakeCalypso delivers signed webhooks (with duplicates) to one aiohttp adapter
    feeding the worker: replays are answered from its memory, each invoice settled once."""
    async with FakeCalypso(settle_delay=0.01) as fake, fake.client() as client:
        fake.duplicate_deliveries = 2
        outcomes: list[Resolution] = []
        resolver = InterventionResolver(
            client, poll_interval=0.01, completion_timeout=5, on_outcome=outcomes.append
        )
        app = web.Application()
        late = LateHandler()
        app.router.add_post("/calypso", late.handle)
        async with resolver, TestServer(app, host="127.0.0.1") as server:
            sub = await client.webhooks.create(
                url=str(server.make_url("/calypso")),
                event_types=[EventType.INVOICE_PENDING_INTERVENTION],
            )
            assert sub.secret_key is not None
            late.handler = webhook_handler(sub.secret_key, resolver=resolver)
            over = await client.invoices.create_single(
                amount=AMOUNT, currency="USDT", description="o"
            )
            under = await client.invoices.create_single(
                amount=AMOUNT, currency="USDT", description="u"
            )
            await fake.pay(over.id, Decimal("11"))
            await fake.pay(under.id, Decimal("5"))
            await fake.wait_for_deliveries()
            await resolver.join()
        assert sorted((r.invoice_id, r.outcome) for r in outcomes) == sorted(
            [(over.id, Outcome.RESOLVED), (under.id, Outcome.HELD)]
        ), "each event resolved once: the copies were recognised as replays"
        assert len(fake.deliveries) == 6
        assert all(d.status == 200 for d in fake.deliveries)
        assert fake.invoice(over.id)["isInterventionResolved"] is True


async def test_same_event_delivered_five_times_through_the_adapter_returns_to_paid_once(
    world: World,
) -> None:
    """One real signed event POSTed five times at once to one adapter: every copy is
    answered 200 (or 409, then 200 when delivered again), one run, one return-to-paid."""
    invoice = await world.intervention("10.50")
    event = json.dumps(
        {
            "requestId": "sub-1",
            "id": 42,
            "eventType": "INVOICE_PENDING_INTERVENTION",
            "data": {"parentExternalId": invoice.id},
        }
    ).encode()
    headers = {"Sign": sign(event, "subscription-secret")}
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(world.client, on_outcome=outcomes.append)
    app = web.Application()
    app.router.add_post("/calypso", webhook_handler("subscription-secret", resolver=resolver))
    async with resolver, TestServer(app, host="127.0.0.1") as server:
        async with aiohttp.ClientSession() as http:

            async def deliver() -> int:
                async with http.post(server.make_url("/calypso"), data=event, headers=headers) as r:
                    return r.status

            statuses = await asyncio.gather(*(deliver() for _ in range(5)))
            assert set(statuses) <= {200, 409}
            for status in statuses:
                if status == 409:  # Calypso delivers again later
                    assert await deliver() == 200
        await resolver.join()
    assert [(r.invoice_id, r.outcome) for r in outcomes] == [(invoice.id, Outcome.RESOLVED)]
    assert world.writes(invoice.id) == (1, 1)


async def test_tampered_webhook_gets_401_and_no_resolution() -> None:
    """A delivery whose body was altered is refused and never reaches the resolver."""
    async with FakeCalypso() as fake, fake.client() as client:
        outcomes: list[Resolution] = []
        resolver = InterventionResolver(client, on_outcome=outcomes.append)
        app = web.Application()
        app.router.add_post("/calypso", webhook_handler("subscription-secret", resolver=resolver))
        body = (
            b'{"requestId": "sub-1", "id": 1, "eventType": "INVOICE_PENDING_INTERVENTION",'
            b' "data": {"parentExternalId": "x"}}'
        )
        headers = {"Sign": sign(body, "subscription-secret")}
        async with resolver, TestServer(app, host="127.0.0.1") as server:
            async with aiohttp.ClientSession() as http:
                tampered = body.replace(b'"x"', b'"y"')
                async with http.post(
                    server.make_url("/calypso"), data=tampered, headers=headers
                ) as r:
                    assert r.status == 401
            await resolver.join()
        assert outcomes == []
        assert fake.calls == []


async def test_cancelling_the_first_caller_mid_write_does_not_write_twice(world: World) -> None:
    """A duplicate still waiting keeps the run alive: one return-to-paid, RESOLVED."""
    invoice = await world.intervention("10.50")
    world.fake.delay(RTP, 0.2, after_action=False)
    resolver = InterventionResolver(world.client)
    first = asyncio.create_task(resolver.resolve(invoice.id))
    second = asyncio.create_task(resolver.resolve(invoice.id))
    for _ in range(100):  # until the write is at the server (which holds it 0.2 s)
        if world.fake.calls_to(RTP):
            break
        await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    resolution = await second
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert world.writes(invoice.id) == (1, 1)


async def test_a_stale_answer_to_return_to_paid_is_never_reported_as_held(world: World) -> None:
    """The write went out: the run re-reads and goes on, it does not claim 'nothing written'."""
    invoice = await world.intervention("10.50")
    stale = json.dumps(world.fake.invoice(invoice.id), default=str).encode()
    world.fake.fail(RTP, 200, body=stale, after_action=True)
    resolution = await InterventionResolver(world.client).resolve(invoice.id)
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert world.writes(invoice.id) == (1, 1)


UNKNOWN_TYPE = (
    '{"id": "inv-1", "type": "SINGLE_V2", "currency": "USDT", "state": "PENDING_INTERVENTION", '
    '"interventionType": "OVERPAY", "isInterventionResolved": false}'
)


async def test_an_unknown_invoice_type_is_held_not_skipped(mock_api: Any, client: Any) -> None:
    """A type the SDK does not know is left for a human, with nothing written."""
    mock_api.post(f"{BASE_URL}/api/v1/invoice", body=UNKNOWN_TYPE)
    resolution = await InterventionResolver(client).resolve("inv-1")
    assert resolution.outcome is Outcome.HELD
    assert resolution.writes == ()


async def test_an_absent_resolved_flag_is_not_taken_for_a_closed_intervention(
    mock_api: Any, client: Any
) -> None:
    """COMPLETED with an intervention and no isInterventionResolved: close it."""
    completed = (
        '{"id": "inv-2", "type": "SINGLE", "currency": "USDT", "state": "COMPLETED",'
        ' "interventionType": "OVERPAY"'
    )
    mock_api.post(f"{BASE_URL}/api/v1/invoice", body=completed + "}")
    mock_api.post(f"{BASE_URL}{CLOSE}", body=completed + ', "isInterventionResolved": true}')
    resolution = await InterventionResolver(client).resolve("inv-2")
    assert resolution.outcome is Outcome.RESOLVED
    assert resolution.writes == ("close-intervention",)


async def test_a_run_cancelled_before_its_write_starts_sends_nothing(world: World) -> None:
    """A cancellation already requested when return-to-paid is about to start is taken
    there: the write is not sent (only one already on its way is finished)."""
    invoice = await world.intervention("10.50")
    calls = 0

    def cancel_once(invoice: Invoice) -> Decision:
        nonlocal calls
        calls += 1
        if calls == 1:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # the run itself, between the decision and the write
        return Decision.RESOLVE

    outcomes: list[Resolution] = []
    resolver = InterventionResolver(world.client, cancel_once, on_outcome=outcomes.append)
    final = await resolver.resolve(invoice.id)
    cancelled = outcomes[0]
    assert isinstance(cancelled.error, ResolutionCancelledError)
    assert cancelled.writes == (), "the write was not started after the cancellation"
    assert final.outcome is Outcome.RESOLVED
    assert world.writes(invoice.id) == (1, 1)


async def test_worker_retry_waits_as_long_as_a_429_asks(world: World) -> None:
    """A return-to-paid refused 429 with Retry-After: 30 is retried after 30 s, not 2."""
    invoice = await world.intervention("10.50")
    world.fake.fail(RTP, 429, retry_after="30")
    outcomes: list[Resolution] = []
    async with InterventionResolver(world.client, on_outcome=outcomes.append) as resolver:
        resolver.submit(invoice.id)
        await resolver.join()
    (reported,) = outcomes
    assert reported.outcome is Outcome.RESOLVED, reported.reason
    assert world.sleeps[0] == pytest.approx(30)
    assert world.writes(invoice.id) == (2, 1)


async def test_a_direct_resolve_waiting_for_a_workers_claim_gets_it_handed_over(
    world: World,
) -> None:
    """A worker takes an invoice queued again while its last run is still reporting; a
    direct resolve() arriving then waits for the claim the worker holds: the worker
    hands it over and both get that run's Resolution, instead of waiting for each
    other for ever."""
    invoice = await world.intervention("10.50")
    gate = asyncio.Event()
    direct: list[asyncio.Task[Resolution]] = []

    async def policy(_: Invoice) -> Decision:
        await gate.wait()
        return Decision.HOLD

    async def on_outcome(resolution: Resolution) -> None:
        if not direct:
            for _ in range(3):
                await asyncio.sleep(0)  # the worker takes the queued copy meanwhile
            direct.append(asyncio.create_task(resolver.resolve(invoice.id)))

    resolver = InterventionResolver(world.client, policy, on_outcome=on_outcome)
    async with resolver:
        resolver.submit(invoice.id)
        await asyncio.sleep(0)
        assert resolver.submit(invoice.id), "marked to run again"
        gate.set()
        async with asyncio.timeout(5):
            await resolver.join()
            second = await direct[0]
    assert second.outcome is Outcome.HELD


async def test_a_run_that_stalls_after_recording_its_return_to_paid_sends_nothing(
    world: World, tmp_path: Any
) -> None:
    """Recorded in a shared store, then the process stalls (a SIGSTOP, a long pause)
    before the request leaves: past half the hold it no longer has the right to send,
    so nothing goes out, its record is withdrawn, and the next run sends the one."""
    from calypso_async.stores import SQLiteStore

    invoice = await world.intervention("10.50")
    real = world.client.invoices.return_to_paid

    async def stalled(invoice_id: str, *, send_by: float | None = None) -> Invoice:
        world.now += 61  # more than half of resend_hold (120) passes in a stall
        return await real(invoice_id, send_by=send_by)

    async with SQLiteStore(tmp_path / "resolver.db") as store:
        resolver = InterventionResolver(world.client, store=store)
        world.client.invoices.return_to_paid = stalled  # type: ignore[method-assign]
        first = await resolver.resolve(invoice.id)
        assert first.outcome is Outcome.FAILED
        assert first.error is not None
        assert first.error.request_sent is False  # type: ignore[attr-defined]
        assert world.writes(invoice.id) == (0, 0), "nothing left the process"
        world.client.invoices.return_to_paid = real  # type: ignore[method-assign]
        second = await resolver.resolve(invoice.id)
    assert second.outcome is Outcome.RESOLVED, second.reason
    assert world.writes(invoice.id) == (1, 1)


async def test_a_500_to_return_to_paid_may_still_land_and_holds_a_resend(world: World) -> None:
    """The server failed after it may have acted: no second return-to-paid is sent
    within resend_hold, even when a re-read still shows PENDING_INTERVENTION."""
    invoice = await world.intervention("10.50")
    world.fake.fail(RTP, 500)
    resolver = InterventionResolver(world.client, resend_hold=60)
    failed = await resolver.resolve(invoice.id)
    assert failed.outcome is Outcome.FAILED
    held_back = await resolver.resolve(invoice.id)
    assert "none is sent for another 60 s" in held_back.reason
    assert held_back.withheld == ("return-to-paid",)
    assert world.writes(invoice.id) == (1, 0)
    await world.sleep(60)
    retried = await resolver.resolve(invoice.id)
    assert retried.outcome is Outcome.RESOLVED


async def test_a_slow_decision_is_checked_against_the_invoice_as_it_is_now() -> None:
    """A policy that takes longer than a quarter of resend_hold: another worker's
    return-to-paid (sent before this run read the invoice, its record since lapsed) may
    have landed meanwhile. The run reads the invoice again before sending its own, finds
    it PAID and goes on from there, against a server that would take a second one."""
    async with FakeCalypso(settle_delay=None, accept_repeated_return_to_paid=True) as fake:
        world = World(fake)
        async with world.client:
            invoice = await world.intervention("10.50")

            async def slow(seen: Invoice) -> Decision:
                assert seen.state is InvoiceState.PENDING_INTERVENTION
                world.now += 31  # resend_hold is 120
                await world.client.invoices.return_to_paid(seen.id)  # the other worker's
                return Decision.RESOLVE

            resolution = await InterventionResolver(world.client, slow).resolve(invoice.id)
    assert resolution.outcome is Outcome.RESOLVED, resolution.reason
    assert fake.returns_to_paid == {invoice.id: 1}
    assert Write.RETURN_TO_PAID not in resolution.writes


async def test_a_run_cancelled_while_its_outcome_is_kept_is_still_reported(
    world: World,
) -> None:
    """The money moved and the run ended; a cancellation landing while the store takes
    its outcome neither loses the report nor the store's record (it finishes, shielded)."""
    invoice = await world.intervention("10.50")
    store = MemoryStore()
    entered, gate = asyncio.Event(), asyncio.Event()
    release = store.release

    async def slow_release(claim: Any, outcome: Any) -> None:
        entered.set()
        await gate.wait()
        await release(claim, outcome)

    store.release = slow_release  # type: ignore[method-assign]
    outcomes: list[Resolution] = []
    resolver = InterventionResolver(world.client, store=store, on_outcome=outcomes.append)
    resolving = asyncio.create_task(resolver.resolve(invoice.id))
    await entered.wait()
    resolving.cancel()
    await asyncio.wait([resolving])
    assert resolving.cancelled()
    assert [r.outcome for r in outcomes] == [Outcome.RESOLVED]
    gate.set()
    for _ in range(100):  # the shielded release runs on its own
        if await store.outcomes(Outcome.RESOLVED):
            break
        await asyncio.sleep(0)
    assert [r.outcome for r in await store.outcomes(Outcome.RESOLVED)] == [Outcome.RESOLVED]
