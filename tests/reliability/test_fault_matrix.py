"""The fault matrix: every fault of ``harness.FAULTS`` met once by a read, a create and each
step of the intervention resolver, judged by what FakeCalypso recorded on the server.

Reads and keyed creates must get through within the retries and the deadline, or raise
the fault's typed error; a create must never make a second invoice; the resolver must
never have return-to-paid carried out twice nor send it blindly, and must end in the
right ``Outcome`` (a FAILED run is allowed only where the server's state really is
unknown or unchanged, and the next run must then finish the job).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import attrs
import pytest

from calypso_async import (
    CalypsoClient,
    CalypsoError,
    Decision,
    DecodeError,
    EventType,
    InterventionResolver,
    Invoice,
    NotFoundError,
    Outcome,
    Resolution,
    ResolutionCancelledError,
    default_policy,
)
from calypso_async.testing import FakeCalypso
from tests.reliability.harness import (
    AMOUNT,
    CLOSE,
    CREATE,
    FAULTS,
    GET,
    OVERPAID,
    RTP,
    SLOW,
    UNDERPAID,
    Clock,
    Fault,
    settler,
    writes,
)

FAULT_IDS = [fault.name for fault in FAULTS]


@pytest.fixture
async def fake() -> AsyncIterator[FakeCalypso]:
    async with FakeCalypso(settle_delay=None) as server:
        yield server


def client_for(fake: FakeCalypso, fault: Fault, clock: Clock) -> CalypsoClient:
    return fake.client(sleep=clock.sleep, clock=clock, rand=lambda: 0.5, **fault.options)


# -- reads and creates ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_read_meeting_a_fault_gets_through_or_raises_its_typed_error(
    fake: FakeCalypso, fault: Fault
) -> None:
    """invoices.get retries what is transient within the deadline; the rest is typed."""
    clock = Clock()
    async with client_for(fake, fault, clock) as client:
        created = await client.invoices.create_single(
            amount=AMOUNT, currency="USDT", description="read"
        )
        fault.inject(fake, GET)
        started = time.monotonic()
        if fault.recovers:
            invoice = await client.invoices.get(created.id)
            assert invoice.id == created.id
            assert invoice.amount == AMOUNT
        else:
            with pytest.raises(fault.error):
                await client.invoices.get(created.id)
        elapsed = time.monotonic() - started
    calls = fake.calls_to(GET)
    assert fake.pending_faults() == 0, "the fault was met"
    assert len(calls) == (2 if fault.recovers else 1)
    assert all(call.payload == {"id": created.id} for call in calls)
    assert elapsed < SLOW, "a slow answer is cut by the timeout or the deadline"
    assert fake.invoice(created.id)["state"] == "PENDING_PAYMENT"
    if fault.name == "429+Retry-After":
        assert clock.sleeps == [2.0]


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_create_meeting_a_fault_makes_at_most_one_invoice(
    fake: FakeCalypso, fault: Fault
) -> None:
    """Every attempt carries one idempotency key: one invoice at most, findable by that key."""
    clock = Clock()
    async with client_for(fake, fault, clock) as client:
        fault.inject(fake, CREATE)
        if fault.recovers:
            invoice = await client.invoices.create_single(
                amount=AMOUNT, currency="USDT", description="create"
            )
        else:
            with pytest.raises(fault.error):
                await client.invoices.create_single(
                    amount=AMOUNT, currency="USDT", description="create"
                )
        calls = fake.calls_to(CREATE)
        keys = {(call.payload or {}).get("idempotencyKey") for call in calls}
        assert len(calls) == (2 if fault.recovers else 1)
        (key,) = keys  # one key, reused by every attempt
        assert key is not None
        made = fake.invoices
        assert len(made) == (1 if fault.recovers or fault.acts else 0)
        if fault.recovers:
            assert made[0]["id"] == invoice.id
        if made:
            # Even when the caller saw an error, the invoice is found by the key.
            found = await client.invoices.get(idempotency_key=key)
            assert found.id == made[0]["id"]
    assert fake.pending_faults() == 0


SUBSCRIBE = "/api/v1/subscription/webhook/create"
SUBSCRIPTIONS = "/api/v1/subscription/webhook"
HOOK = "https://merchant.test/calypso"


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_subscribing_meeting_a_fault_never_creates_blindly(
    fake: FakeCalypso, fault: Fault
) -> None:
    """webhooks.create never repeats a create blindly, yet ends with one subscription.

    After any of these faults the create lists the subscriptions: it returns the one the
    server made, or, when the listing shows none after a lost, 429 or 5xx answer,
    creates it once more (same requestId). A 2xx that came back garbled says the
    create landed: if the listing does not show it, the error is raised, not retried.
    """
    clock = Clock()
    landed_garbled = fault.error is DecodeError and not fault.acts
    async with client_for(fake, fault, clock) as client:
        fault.inject(fake, SUBSCRIBE)
        if landed_garbled:
            with pytest.raises(DecodeError):
                await client.webhooks.create(url=HOOK, event_types=[EventType.INVOICE_PAID])
        else:
            sub = await client.webhooks.create(url=HOOK, event_types=[EventType.INVOICE_PAID])
            assert [s["requestId"] for s in fake.subscriptions] == [sub.request_id]
            assert sub.secret_key == fake.subscriptions[0]["secretKey"]
    calls = fake.calls_to(SUBSCRIBE)
    assert len(calls) == (1 if fault.acts or landed_garbled else 2)
    assert len({(call.payload or {}).get("requestId") for call in calls}) == 1
    assert len(fake.calls_to(SUBSCRIPTIONS)) == 1, "one listing settled the fate"


DELETE_FAULTS = [
    fault
    for fault in FAULTS
    if fault.recovers or fault.name in ("500", "500-after", "slow-beyond-deadline")
]


@pytest.mark.parametrize("fault", DELETE_FAULTS, ids=[fault.name for fault in DELETE_FAULTS])
async def test_unsubscribing_meeting_a_fault_deletes_or_raises_its_typed_error(
    fake: FakeCalypso, fault: Fault
) -> None:
    """webhooks.delete is retried; a 404 to a retry after the first attempt may have acted
    means that attempt deleted it: success, not NotFoundError."""
    clock = Clock()
    async with client_for(fake, fault, clock) as client:
        subscription = await client.webhooks.create(url=HOOK, event_types=["INVOICE_PAID"])
        fault.inject(fake, SUBSCRIPTIONS)
        if fault.name == "dropped-after-acting":
            # aiohttp itself sends an idempotent DELETE again when the connection drops,
            # out of the SDK's sight: the SDK cannot tell that 404 from a wrong id.
            with pytest.raises(NotFoundError):
                await client.webhooks.delete(subscription.request_id)
        elif fault.recovers:
            await client.webhooks.delete(subscription.request_id)  # no error: deleted
        else:
            with pytest.raises(fault.error):
                await client.webhooks.delete(subscription.request_id)
        # A second delete of what is gone is still an error: nothing is hidden.
        if not fake.subscriptions:
            with pytest.raises(NotFoundError):
                await client.webhooks.delete(subscription.request_id)
    deletes = [c for c in fake.calls_to(SUBSCRIPTIONS) if c.method == "DELETE"]
    assert sum(1 for c in deletes if c.processed_status == 200) == (
        1 if fault.recovers or fault.acts else 0
    )
    assert len(fake.subscriptions) == (0 if fault.recovers or fault.acts else 1)


# -- the resolver, step by step ------------------------------------------------------------

STEPS = ("read", "return-to-paid", "wait-for-completed", "close-intervention", "re-read")
BOTH = ("return-to-paid", "close-intervention")


@attrs.frozen
class Expected:
    """How the first run ends, what it wrote, and what a second run (if any) writes."""

    first: Outcome
    first_writes: tuple[str, ...]
    second_writes: tuple[str, ...] = ()


def expected(step: str, fault: Fault) -> Expected:
    """What the resolver must do when ``fault`` strikes the call of ``step`` once."""
    if step == "read":
        # Not a write: retried by the session like any read.
        if fault.recovers:
            return Expected(Outcome.RESOLVED, BOTH)
        return Expected(Outcome.FAILED, (), BOTH)
    if step == "return-to-paid":
        # Never replayed: re-read. Done if the server acted, else retried by a later run.
        if fault.acts:
            return Expected(Outcome.RESOLVED, BOTH)
        return Expected(Outcome.FAILED, ("return-to-paid",), BOTH)
    if step == "wait-for-completed":
        # wait_for polls through transient failures; a garbled body stops the run.
        if fault.recovers or fault.error is not DecodeError:
            return Expected(Outcome.RESOLVED, BOTH)
        return Expected(Outcome.FAILED, ("return-to-paid",), ("close-intervention",))
    if step == "close-intervention":
        if fault.acts:
            return Expected(Outcome.RESOLVED, BOTH)
        return Expected(Outcome.FAILED, BOTH, ("close-intervention",))
    assert step == "re-read"
    # return-to-paid was carried out but its answer lost; the read after it meets the fault.
    if fault.recovers:
        return Expected(Outcome.RESOLVED, BOTH)
    return Expected(Outcome.FAILED, ("return-to-paid",), ("close-intervention",))


async def intervention(client: CalypsoClient, fake: FakeCalypso, paid: Decimal) -> Invoice:
    invoice = await client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="intervention"
    )
    await fake.pay(invoice.id, paid)
    return invoice


SWEEP_EVERY = 300.0
"""Seconds between two sweeps of a merchant's own: longer than the resend hold (120 s)."""


async def resolve_until_done(
    resolver: InterventionResolver, invoice_id: str, clock: Clock
) -> list[Resolution]:
    """Run the resolver again after a FAILED run, as a merchant's periodic sweep would (a
    few minutes later, on the clock; 3 runs at most). Direct ``resolve`` never retries."""
    runs = [await resolver.resolve(invoice_id)]
    while runs[-1].outcome is Outcome.FAILED and len(runs) < 3:
        await clock.sleep(SWEEP_EVERY)
        runs.append(await resolver.resolve(invoice_id))
    return runs


def strike(fake: FakeCalypso, fault: Fault, step: str) -> Callable[[Invoice], Decision]:
    """Queue ``fault`` for the call of ``step``; return the policy that helps aim it."""

    def policy(invoice: Invoice) -> Decision:
        # Called after the first read and before return-to-paid: the next read is the
        # re-read after a lost write, or the first poll while waiting for COMPLETED.
        if step in ("wait-for-completed", "re-read"):
            fault.inject(fake, GET)
        return default_policy(invoice)

    if step == "read":
        fault.inject(fake, GET)
    elif step == "return-to-paid":
        fault.inject(fake, RTP)
    elif step == "close-intervention":
        fault.inject(fake, CLOSE)
    elif step == "re-read":
        fake.drop(RTP, after_action=True)
    return policy


def check_server(fake: FakeCalypso, invoice_id: str, fault: Fault, step: str) -> None:
    """COMPLETED and closed; each write carried out once, resent only after a refusal
    that the server never processed, and never sent in the wrong state."""
    assert fake.pending_faults() == 0, "the fault was met"
    final = fake.invoice(invoice_id)
    assert (final["state"], final["isInterventionResolved"]) == ("COMPLETED", True)
    resent_rtp = step == "return-to-paid" and not fault.acts
    resent_close = step == "close-intervention" and not fault.acts
    assert writes(fake, RTP, invoice_id) == (1 + resent_rtp, 1, 0)
    assert writes(fake, CLOSE, invoice_id) == (1 + resent_close, 1, 0)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_resolver_meeting_a_fault_at_a_step_resolves_with_one_return_to_paid(
    fake: FakeCalypso, fault: Fault, step: str
) -> None:
    """An overpay ends COMPLETED and closed; return-to-paid is carried out once, never resent."""
    clock = Clock(settler(fake))
    async with client_for(fake, fault, clock) as client:
        invoice = await intervention(client, fake, OVERPAID)
        policy = strike(fake, fault, step)
        resolver = InterventionResolver(client, policy, poll_interval=1, completion_timeout=60)
        runs = await resolve_until_done(resolver, invoice.id, clock)

    want = expected(step, fault)
    summary = [(run.outcome, run.writes, run.reason) for run in runs]
    assert fake.pending_faults() == 0, "the fault was met"
    assert runs[0].outcome is want.first, summary
    assert runs[0].writes == want.first_writes, summary
    if want.first is Outcome.FAILED:
        assert runs[0].error is not None
        assert len(runs) == 2, summary
        assert runs[1].outcome is Outcome.RESOLVED, summary
        assert runs[1].writes == want.second_writes, summary
    else:
        assert len(runs) == 1
    check_server(fake, invoice.id, fault, step)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_worker_meeting_a_fault_at_a_step_reports_one_resolved_by_itself(
    fake: FakeCalypso, fault: Fault, step: str
) -> None:
    """In worker mode nobody runs the resolver again by hand: one submission ends in one
    reported RESOLVED, the worker having retried a FAILED run itself (after the resend
    hold when return-to-paid went unanswered), with the same server records."""
    clock = Clock(settler(fake))
    outcomes: list[Resolution] = []
    async with client_for(fake, fault, clock) as client:
        invoice = await intervention(client, fake, OVERPAID)
        policy = strike(fake, fault, step)
        async with InterventionResolver(
            client, policy, poll_interval=1, completion_timeout=60, on_outcome=outcomes.append
        ) as resolver:
            resolver.submit(invoice.id)
            await resolver.join()

    want = expected(step, fault)
    retried = want.first is Outcome.FAILED
    (final,) = outcomes
    assert final.outcome is Outcome.RESOLVED, final.reason
    assert final.attempts == 1 + retried
    assert final.writes == want.first_writes + (want.second_writes if retried else ())
    check_server(fake, invoice.id, fault, step)


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_resolver_meeting_a_fault_holds_an_underpay_without_writing(
    fake: FakeCalypso, fault: Fault
) -> None:
    """An underpay is HELD (after one FAILED run at most) and nothing is ever written."""
    clock = Clock(settler(fake))
    async with client_for(fake, fault, clock) as client:
        invoice = await intervention(client, fake, UNDERPAID)
        for path in (GET, RTP, CLOSE):
            fault.inject(fake, path)
        runs = await resolve_until_done(InterventionResolver(client), invoice.id, clock)
    outcomes = [run.outcome for run in runs]
    assert outcomes == ([Outcome.HELD] if fault.recovers else [Outcome.FAILED, Outcome.HELD])
    assert all(run.writes == () for run in runs)
    assert fake.pending_faults(GET) == 0
    assert fake.calls_to(RTP) == fake.calls_to(CLOSE) == []
    final = fake.invoice(invoice.id)
    assert (final["state"], final["isInterventionResolved"]) == ("PENDING_INTERVENTION", False)


# -- duplicates arriving mid-run -----------------------------------------------------------

PARKED = 0.1
"""Real seconds the fake holds the parked call before carrying it out."""


@pytest.mark.parametrize("step", ["read", "return-to-paid", "wait-for-completed", "close"])
async def test_duplicate_arriving_while_a_run_is_parked_at_a_step_shares_that_run(
    fake: FakeCalypso, step: str
) -> None:
    """A second webhook for the invoice mid-run joins it: one write of each kind, no refusal."""
    clock = Clock(settler(fake))

    def policy(invoice: Invoice) -> Decision:
        if step == "wait-for-completed":
            fake.delay(GET, PARKED, after_action=False)
        return default_policy(invoice)

    # The call the first run is parked in, and how many calls to its path come first.
    path, nth = {
        "read": (GET, 1),
        "return-to-paid": (RTP, 1),
        "wait-for-completed": (GET, 2),
        "close": (CLOSE, 1),
    }[step]
    async with fake.client(sleep=clock.sleep, clock=clock) as client:
        invoice = await intervention(client, fake, OVERPAID)
        if step != "wait-for-completed":
            fake.delay(path, PARKED, after_action=False)
        resolver = InterventionResolver(client, policy, poll_interval=1)
        first = asyncio.create_task(resolver.resolve(invoice.id))
        async with asyncio.timeout(5):
            # The fake's records are the only signal that the call is parked there.
            while len(fake.calls_to(path)) < nth or fake.pending_faults():  # noqa: ASYNC110
                await asyncio.sleep(0.002)
        assert not first.done(), "the first run is parked"
        duplicate = await resolver.resolve(invoice.id)
        original = await first
    assert duplicate is original
    assert original.outcome is Outcome.RESOLVED, original.reason
    assert writes(fake, RTP, invoice.id) == (1, 1, 0)
    assert writes(fake, CLOSE, invoice.id) == (1, 1, 0)


# -- cancelled while a write is at the server -------------------------------------------------

HELD = 0.2
"""Real seconds the fake holds a write it has received before carrying it out."""


async def until_received(fake: FakeCalypso, path: str) -> None:
    async with asyncio.timeout(5):
        while not fake.calls_to(path):  # noqa: ASYNC110 - the fake's records are the signal
            await asyncio.sleep(0.002)


@pytest.mark.parametrize("how", ["sole-caller", "new-call-meanwhile", "worker-shutdown"])
@pytest.mark.parametrize("write", ["return-to-paid", "close-intervention"])
async def test_run_cancelled_while_a_write_is_at_the_server_never_sends_it_again(
    fake: FakeCalypso, write: str, how: str
) -> None:
    """Cancelling a run (its only caller, or the worker's shutdown after the grace) while
    the server holds its write does not abandon the write: the cancellation lands once
    the write is answered, the run is reported FAILED, and neither a call arriving
    meanwhile nor a run after a restart sends the write a second time."""
    path = RTP if write == "return-to-paid" else CLOSE
    clock = Clock(settler(fake))
    outcomes: list[Resolution] = []
    async with fake.client(sleep=clock.sleep, clock=clock) as client:
        invoice = await intervention(client, fake, OVERPAID)
        fake.delay(path, HELD, after_action=False)  # received at once, carried out later
        resolver = InterventionResolver(
            client, poll_interval=1, shutdown_grace=0.01, on_outcome=outcomes.append
        )
        again: asyncio.Task[Resolution] | None = None
        if how == "worker-shutdown":
            async with resolver:
                resolver.submit(invoice.id)
                await until_received(fake, path)
                assert await resolver.stop() == (invoice.id,)
        else:
            first = asyncio.create_task(resolver.resolve(invoice.id))
            await until_received(fake, path)
            first.cancel()
            if how == "new-call-meanwhile":
                again = asyncio.create_task(resolver.resolve(invoice.id))
                await asyncio.sleep(0)
            with pytest.raises(asyncio.CancelledError):
                await first
        # Read now, asserted last: what matters first is what the server did.
        answered_before_cancellation = fake.calls_to(path)[0].processed_status == 200
        cancelled = outcomes[0]
        assert cancelled.outcome is Outcome.FAILED
        assert isinstance(cancelled.error, ResolutionCancelledError)
        assert cancelled.writes[-1] == write
        if again is not None:
            rerun = await again
        elif how == "worker-shutdown":  # a new process: only the server remembers
            rerun = await InterventionResolver(client, poll_interval=1).resolve(invoice.id)
        else:
            rerun = await resolver.resolve(invoice.id)
    final = fake.invoice(invoice.id)
    assert (final["state"], final["isInterventionResolved"]) == ("COMPLETED", True)
    assert writes(fake, RTP, invoice.id) == (1, 1, 0)
    assert writes(fake, CLOSE, invoice.id) == (1, 1, 0)
    if write == "return-to-paid":
        assert (rerun.outcome, rerun.writes) == (Outcome.RESOLVED, ("close-intervention",))
    else:
        assert rerun.outcome is Outcome.SKIPPED, rerun.reason
    assert answered_before_cancellation, "the cancellation landed once the write was answered"


class ScaledTime:
    """A clock and sleep running ``1 / scale`` times faster than real time.

    The fake server holds requests in real seconds; a test about how long the resolver
    waits before writing again needs the resolver's waits to be real too, only shorter.
    """

    def __init__(self, scale: float, on_sleep: Callable[[], Awaitable[None]]) -> None:
        self.scale = scale
        self._on_sleep = on_sleep

    def __call__(self) -> float:
        return time.monotonic() / self.scale

    async def sleep(self, seconds: float) -> None:
        await self._on_sleep()
        await asyncio.sleep(seconds * self.scale)


SCALE = 0.004
"""Real seconds per resolver second: the 120 s resend hold lasts 0.48 s."""
SITS = 0.3
"""Real seconds the fake sits on return-to-paid before carrying it out: past the client's
timeout, within the resend hold."""


@pytest.mark.parametrize("how", ["rerun", "worker-retry"])
async def test_return_to_paid_the_server_sits_on_is_not_sent_again_within_the_hold(
    fake: FakeCalypso, how: str
) -> None:
    """The server holds return-to-paid past the client's timeout and carries it out
    later. The run that gave up re-reads PENDING_INTERVENTION and ends FAILED; neither a
    run started right away (a duplicate, a sweep) nor the worker's own retry sends
    return-to-paid again within resend_hold, so the held one lands alone."""
    scaled = ScaledTime(SCALE, settler(fake))
    outcomes: list[Resolution] = []
    async with fake.client(sleep=scaled.sleep, clock=scaled, timeout=0.1) as client:
        invoice = await intervention(client, fake, OVERPAID)
        fake.delay(RTP, SITS, after_action=False)
        resolver = InterventionResolver(client, poll_interval=1, on_outcome=outcomes.append)
        if how == "rerun":
            first = await resolver.resolve(invoice.id)
            assert "still PENDING_INTERVENTION" in first.reason
            again = await resolver.resolve(invoice.id)  # at once: the server still sits
            assert (again.outcome, again.writes) == (Outcome.FAILED, ())
            await asyncio.sleep(120 * SCALE)  # the hold runs out; the held write landed
            last = await resolver.resolve(invoice.id)
        else:
            async with resolver:
                resolver.submit(invoice.id)
                await resolver.join()
            (last,) = outcomes
            assert last.attempts == 2
    assert writes(fake, RTP, invoice.id) == (1, 1, 0)
    assert writes(fake, CLOSE, invoice.id) == (1, 1, 0)
    assert last.outcome is Outcome.RESOLVED, last.reason


# -- what the matrix reads from the fake -----------------------------------------------------


async def test_fake_records_whether_it_carried_out_a_write_whatever_the_client_heard(
    fake: FakeCalypso,
) -> None:
    """processed_status tells a lost success and a blind second write from a call never
    carried out, which the answer's status alone cannot."""
    async with fake.client() as client:
        invoice = await intervention(client, fake, OVERPAID)
        fake.drop(RTP)  # never carried out
        fake.drop(RTP, after_action=True)  # carried out, answer lost
        for _ in range(3):  # the third is sent in the wrong state
            with contextlib.suppress(CalypsoError):
                await client.invoices.return_to_paid(invoice.id)
    calls = fake.calls_to(RTP)
    assert [(c.status, c.dropped) for c in calls] == [(None, True), (None, True), (400, False)]
    assert [c.processed_status for c in calls] == [None, 200, 400]
    assert calls[2].processed_error_code == "006"
    assert writes(fake, RTP, invoice.id) == (3, 1, 1)
