"""A seeded chaos run: hundreds of interventions through webhooks, faults and restarts.

Replay a failure with ``CHAOS_SEED=<seed> pytest tests/reliability/test_chaos.py -s``:
the seed fixes every choice the run makes (amounts, faults, restarts, duplicates); the
interleaving of real sockets can still differ a little from one run to the next.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from calypso_async import (
    CalypsoClient,
    CalypsoError,
    EventType,
    InterventionResolver,
    Invoice,
    Outcome,
    Resolution,
    ResolutionCancelledError,
    webhook_handler,
)
from calypso_async.testing import FakeCalypso
from tests.reliability.harness import (
    AMOUNT,
    ATTEMPT_TIMEOUT,
    CLOSE,
    CREATE,
    FAULTS,
    GET,
    RTP,
    Clock,
    Receiver,
    Writes,
    calls_for,
    refused_before_processing,
    writes,
)

INTERVENTIONS = 300
OVERPAY_SHARE = 0.6
WORKERS = 8
FAULT_RATE = 0.4
"""Chance, per intervention, that a random fault is queued on a random path."""
DUPLICATE_RATE = 0.3
"""Chance that the invoice is also handed over a little later by a second channel: half
the time submitted to the worker, half the time ``resolve()`` awaited directly (say, an
operator's "settle now"), which may overlap the worker's run of it."""
RESTART_RATE = 0.03
"""Chance, per intervention, that the resolver process is killed and restarted."""
SWEEPS = 8
CALM_FROM = 5
"""From this sweep on no fault is injected and nothing restarts, so the run converges."""
RETRY_FAILED = 2
"""The workers' own retries of a FAILED run; few, so that the merchant's sweep of FAILED
outcomes (its documented duty) is exercised too."""
LATENCY = 0.001
"""Seconds the fake adds to every answer, so that runs overlap as they do in production."""
TIME_LIMIT = 45.0

# The deadline fault needs a client with a tiny deadline; everything else applies as is.
CHAOS_FAULTS = [fault for fault in FAULTS if fault.name != "slow-beyond-deadline"]
PATHS = (GET, GET, RTP, CLOSE, CREATE)


def chaos_seed() -> int:
    """The seed from CHAOS_SEED, or a fresh one."""
    value = os.environ.get("CHAOS_SEED")
    return int(value) if value else random.SystemRandom().randrange(2**32)


class Chaos:
    """One merchant process (resolver + webhook handler) that can be killed and restarted.

    Every resolution any incarnation reports is kept, per invoice, in report order. It
    does only what the docs ask of a merchant: on restart, submit again the invoices the
    stopped resolver handed back; sweep the invoices whose last outcome is FAILED.
    """

    def __init__(
        self,
        fake: FakeCalypso,
        client: CalypsoClient,
        receiver: Receiver,
        secret: str,
        rng: random.Random,
    ) -> None:
        self.fake = fake
        self.client = client
        self.receiver = receiver
        self.secret = secret
        self.rng = rng
        self.resolver: InterventionResolver | None = None
        self.runs: defaultdict[str, list[Resolution]] = defaultdict(list)
        self.restarts = 0
        self.faults: Counter[str] = Counter()
        self.submitted: set[str] = set()
        """Invoices handed to a resolver directly (not through a webhook)."""
        self.unfinished: tuple[str, ...] = ()
        """What the last stopped resolver handed back, to submit again on start."""
        self.handed_back = 0
        self._later: set[asyncio.Task[None]] = set()

    def record(self, resolution: Resolution) -> None:
        assert resolution.invoice_id is not None
        self.runs[resolution.invoice_id].append(resolution)

    async def start(self) -> None:
        self.resolver = InterventionResolver(
            self.client,
            poll_interval=1,
            completion_timeout=120,
            max_concurrency=WORKERS,
            shutdown_grace=self.rng.uniform(0.001, 0.02),
            on_outcome=self.record,
            retry_failed=RETRY_FAILED,
        )
        await self.resolver.__aenter__()
        # A new process also forgets which deliveries it had accepted.
        self.receiver.handler = webhook_handler(self.secret, resolver=self.resolver)
        for invoice_id in self.unfinished:
            self.submit(invoice_id)
        self.unfinished = ()

    async def stop(self) -> None:
        resolver, self.resolver = self.resolver, None
        self.receiver.handler = None  # deliveries meanwhile get 503 and come back later
        # The process dies: its direct resolve() calls are cancelled (each finishes a
        # write in flight, is reported FAILED and is left to the sweep).
        for task in self._later:
            task.cancel()
        await asyncio.gather(*self._later, return_exceptions=True)
        if resolver is not None:
            self.unfinished = await resolver.stop()  # cancels runs after the grace
            await resolver.__aexit__(None, None, None)
            self.handed_back += len(self.unfinished)
            for invoice_id in self.unfinished:
                last = self.runs[invoice_id][-1]
                assert isinstance(last.error, ResolutionCancelledError), last

    async def restart(self) -> None:
        await self.stop()
        await asyncio.sleep(0.002)
        await self.start()
        self.restarts += 1

    def submit(self, invoice_id: str) -> None:
        assert self.resolver is not None
        self.resolver.submit(invoice_id)
        self.submitted.add(invoice_id)

    def submit_later(self, invoice_id: str, delay: float) -> None:
        """Hand over again after ``delay`` s, from another channel: it may overlap a run."""
        direct = self.rng.random() < 0.5

        async def later() -> None:
            await asyncio.sleep(delay)
            resolver = self.resolver
            if resolver is None:  # a dead process receives nothing
                return
            self.submitted.add(invoice_id)
            if direct:
                await resolver.resolve(invoice_id)
            else:
                resolver.submit(invoice_id)

        task = asyncio.create_task(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def settle_down(self) -> None:
        """Wait for the late submissions, then for everything submitted."""
        while self._later:
            await asyncio.gather(*self._later)
        await self.join()

    async def join(self) -> None:
        assert self.resolver is not None
        await self.resolver.join()

    def inject_fault(self) -> None:
        fault = self.rng.choice(CHAOS_FAULTS)
        path = self.rng.choice(PATHS)
        fault.inject(self.fake, path)
        self.faults[f"{path.rsplit('/', 1)[-1]}:{fault.name}"] += 1

    async def create(self, number: int) -> Invoice:
        """Create with the merchant's own key, retrying it as a merchant would."""
        for _ in range(5):
            try:
                return await self.client.invoices.create_single(
                    amount=AMOUNT,
                    currency="USDT",
                    description=f"chaos order {number}",
                    idempotency_key=f"chaos-order-{number}",
                )
            except CalypsoError:
                continue
        raise AssertionError(f"order {number} could not be created in 5 tries")

    def failed(self, invoice_id: str) -> bool:
        """Whether the invoice's last reported outcome is FAILED."""
        runs = self.runs.get(invoice_id)
        return runs is not None and runs[-1].outcome is Outcome.FAILED

    def lost(self, invoice_ids: list[str]) -> list[str]:
        """Invoices accepted (a delivery answered 200, or submitted) with no outcome."""
        accepted = self.submitted | {
            str(d.event["data"]["parentExternalId"])
            for d in self.fake.deliveries
            if d.ok and d.event.get("eventType") == "INVOICE_PENDING_INTERVENTION"
        }
        return [i for i in invoice_ids if i in accepted and i not in self.runs]


async def test_chaos_run_loses_nothing_and_returns_no_invoice_to_paid_twice() -> None:
    """Hundreds of interventions under random faults, duplicate and reordered webhooks and
    resolver restarts at random points end exactly as they should.

    Nothing accepted is lost: every invoice whose event was answered 200 (or that was
    submitted directly) has a reported outcome before any sweep. The test plays the
    merchant exactly as the docs say, no more: after a restart it submits again what the
    stopped resolver handed back (each also reported FAILED, ResolutionCancelledError),
    and it sweeps only invoices whose last outcome is FAILED (after the workers' own
    retries), or whose every delivery Calypso gave up on.

    "Final" is defined per invoice over the resolutions every incarnation reported, in
    order (FAILED ones are allowed anywhere):

    * overpaid: the first non-FAILED resolution is the final one. It is RESOLVED, or
      SKIPPED ("already resolved") when the run that closed the intervention never
      learned it had (it was cancelled, or its close answer and the re-read were both
      lost). Every later resolution is SKIPPED or FAILED: RESOLVED appears at most once.
    * underpaid: every non-FAILED resolution is HELD (a duplicate re-holds, writing
      nothing) and the last resolution is HELD.

    On the server: every overpaid invoice is COMPLETED with its intervention closed;
    return-to-paid was received exactly once, apart from copies an injected fault refused
    before the server processed them (which the resolver saw refused), was carried out
    once and never sent in the wrong state; close-intervention likewise carried out once
    and never refused; every underpaid one is still PENDING_INTERVENTION with no write at
    all; every order made exactly one invoice; no request is left in flight.
    """
    seed = chaos_seed()
    print(f"chaos seed={seed}")
    rng = random.Random(seed)
    started = time.monotonic()
    try:
        async with asyncio.timeout(TIME_LIMIT):
            await run_chaos(seed, rng)
    except BaseException as exc:
        exc.add_note(f"chaos seed={seed} (replay: CHAOS_SEED={seed})")
        raise
    print(f"chaos seed={seed} passed in {time.monotonic() - started:.1f} s")


async def run_chaos(seed: int, rng: random.Random) -> None:
    clock = Clock(real_pause=0.002)
    async with (
        FakeCalypso(settle_delay=0.005, latency=LATENCY, seed=seed) as fake,
        fake.client(
            sleep=clock.sleep, clock=clock, rand=rng.random, timeout=ATTEMPT_TIMEOUT
        ) as client,
        Receiver() as receiver,
    ):
        subscription = await client.webhooks.create(
            url=receiver.url,
            event_types=[
                EventType.INVOICE_PENDING_INTERVENTION,
                EventType.INVOICE_FUNDS_RECEIVED_FOR_INVOICE,
            ],
        )
        assert subscription.secret_key is not None
        fake.duplicate_deliveries = 1
        fake.reorder_deliveries = True
        chaos = Chaos(fake, client, receiver, subscription.secret_key, rng)
        await chaos.start()
        overpaid: dict[str, bool] = {}
        try:
            for number in range(INTERVENTIONS):
                invoice = await chaos.create(number)
                over = rng.random() < OVERPAY_SHARE
                # Below 0.995 of the amount is an underpay: at least 0.06 short of 10.234.
                off = Decimal(rng.randint(1 if over else 6, 200)) / 100
                await fake.pay(invoice.id, AMOUNT + off if over else AMOUNT - off)
                overpaid[invoice.id] = over
                if rng.random() < FAULT_RATE:
                    chaos.inject_fault()
                if rng.random() < DUPLICATE_RATE:
                    chaos.submit_later(invoice.id, rng.uniform(0, 0.02))
                if rng.random() < RESTART_RATE:
                    await chaos.restart()
                if rng.random() < 0.1:
                    await asyncio.sleep(rng.uniform(0, 0.01))
            await fake.wait_for_deliveries(timeout=TIME_LIMIT)
            await chaos.settle_down()
            lost = chaos.lost(list(overpaid))
            assert not lost, f"{len(lost)} accepted invoice(s) with no outcome: {lost[:5]}"
            sweeps = await sweep(chaos, list(overpaid))
        finally:
            await chaos.stop()
            receiver.handler = None
        assert chaos.unfinished == (), "the last stop found everything finished"
        check(fake, chaos, overpaid, sweeps)
        outcomes = Counter(run.outcome for runs in chaos.runs.values() for run in runs)
        print(
            f"chaos seed={seed}: {len(overpaid)} interventions, {chaos.restarts} restarts, "
            f"{chaos.handed_back} handed back at a stop, "
            f"{sum(chaos.faults.values())} faults, {sweeps} sweeps, "
            f"{ {str(k): v for k, v in sorted(outcomes.items())} }, {len(fake.calls)} API calls, "
            f"{len(fake.deliveries)} deliveries"
        )


async def sweep(chaos: Chaos, invoice_ids: list[str]) -> int:
    """Submit again every invoice whose last outcome is FAILED, or that has none because
    Calypso gave up delivering it, until none is left; return the rounds."""

    def pending() -> list[str]:
        return [i for i in invoice_ids if chaos.failed(i) or i not in chaos.runs]

    for number in range(1, SWEEPS + 1):
        left = pending()
        if not left:
            return number - 1
        calm = number >= CALM_FROM
        if calm:
            chaos.fake.clear_faults()
        for invoice_id in left:
            if not calm and chaos.rng.random() < FAULT_RATE:
                chaos.inject_fault()
            chaos.submit(invoice_id)
        if not calm and chaos.rng.random() < 0.5:
            await asyncio.sleep(chaos.rng.uniform(0, 0.02))
            await chaos.restart()  # mid-sweep: what was queued or running is lost
        await chaos.join()
    left = pending()
    assert not left, f"{len(left)} invoice(s) still unsettled after {SWEEPS} sweeps"
    return SWEEPS


def check(fake: FakeCalypso, chaos: Chaos, overpaid: dict[str, bool], sweeps: int) -> None:
    """The invariants of the run (see the test's docstring)."""
    problems: list[str] = []
    if len(fake.invoices) != len(overpaid):
        problems.append(f"{len(fake.invoices)} invoices for {len(overpaid)} orders")
    for invoice_id, over in overpaid.items():
        runs = chaos.runs.get(invoice_id, [])
        trail = " ".join(f"{run.outcome}{list(run.writes)}" for run in runs)
        state = fake.invoice(invoice_id)
        rtp, close = writes(fake, RTP, invoice_id), writes(fake, CLOSE, invoice_id)
        problem = (check_overpaid if over else check_underpaid)(runs, state, rtp, close)
        refused_unseen = refused_before_processing(fake, RTP, invoice_id)
        if over and rtp.received != 1 + refused_unseen:
            problem = problem or (
                f"return-to-paid received {rtp.received} times, {refused_unseen} of them "
                "refused by a fault before the server processed them"
            )
        if any(
            c.processed_status is None and c.status is None and not c.dropped
            for c in calls_for(fake, RTP, invoice_id)
        ):
            problem = problem or "a return-to-paid is received but not yet processed"
        if problem:
            problems.append(f"{invoice_id} ({'over' if over else 'under'}): {problem}: {trail}")
    assert not problems, f"{len(problems)} invariant(s) broken:\n" + "\n".join(problems[:20])


def check_overpaid(
    runs: list[Resolution], state: dict[str, Any], rtp: Writes, close: Writes
) -> str:
    if (state["state"], state["isInterventionResolved"]) != ("COMPLETED", True):
        return f"ended {state['state']} resolved={state['isInterventionResolved']}"
    if (rtp.carried_out, rtp.refused, close.carried_out, close.refused) != (1, 0, 1, 0):
        return f"return-to-paid {rtp}, close-intervention {close}"
    outcomes = [run.outcome for run in runs]
    settling = [i for i, outcome in enumerate(outcomes) if outcome is not Outcome.FAILED]
    if not settling or outcomes[-1] is Outcome.FAILED:
        return "no final resolution"
    final = outcomes[settling[0]]
    later = {outcomes[i] for i in settling[1:]}
    if final is Outcome.SKIPPED:
        reported_closes = sum(run.writes.count("close-intervention") for run in runs)
        unknown = any(
            run.outcome is Outcome.FAILED and "close-intervention" in run.writes for run in runs
        )
        if not unknown and close.received <= reported_closes:
            return "SKIPPED first, yet every run that closed it reported RESOLVED"
        if "already resolved" not in runs[settling[0]].reason:
            return f"SKIPPED for another reason: {runs[settling[0]].reason}"
    elif final is not Outcome.RESOLVED:
        return f"final resolution {final}"
    if later - {Outcome.SKIPPED}:
        return f"after the final resolution: {sorted(later)}"
    return ""


def check_underpaid(
    runs: list[Resolution], state: dict[str, Any], rtp: Writes, close: Writes
) -> str:
    if (state["state"], state["isInterventionResolved"]) != ("PENDING_INTERVENTION", False):
        return f"ended {state['state']} resolved={state['isInterventionResolved']}"
    if rtp.received or close.received:
        return f"written to: return-to-paid {rtp}, close-intervention {close}"
    outcomes = [run.outcome for run in runs]
    if not outcomes or outcomes[-1] is not Outcome.HELD:
        return "not HELD in the end"
    if set(outcomes) - {Outcome.HELD, Outcome.FAILED}:
        return f"outcomes other than HELD: {sorted(set(outcomes))}"
    return ""
