"""Executions: one at a time per invoice in this process, one claim in the store for each.

An execution is a task that claims the invoice in the store, runs the flow (a
:class:`~calypso_async._resolver.run.Run`), in worker mode runs it again after a
``FAILED`` end with backoff, keeps the outcome in the store and reports it.

* **One execution per invoice in a process.** Concurrent ``resolve`` calls share one
  execution and its :class:`Resolution`. The execution stays registered until it has
  ended, including while a cancelled run finishes a write in flight, so a new call never
  starts a second writer beside it.
* **One claim per invoice in the store.** Other processes sharing the store wait for
  the claim, or take it over once its lease has run out.
* **Nothing is lost silently.** Every execution reports exactly one Resolution, a
  cancelled one included; a cancelled execution gives its invoice back to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from .._aio import being_cancelled
from .._errors import ResolutionCancelledError, StoreError
from .claims import ClaimGuard
from .policy import Decision, Outcome, Policy, Resolution, Write
from .ports import Claim, OutcomeRecord, ResolverStore
from .run import Run

if TYPE_CHECKING:
    from .._client import CalypsoClient
    from .telemetry import ResolverTelemetry

__all__ = ["Executions", "Settings"]

logger = logging.getLogger("calypso_async.resolver")

_CLAIM_POLL = 0.2
"""Seconds between two tries at an invoice another run holds (a direct ``resolve``)."""


@attrs.frozen
class Settings:
    """How executions run (the resolver's validated arguments)."""

    policy: Policy
    poll_interval: float
    completion_timeout: float
    retry_backoff: float
    resend_hold: float
    lease: float


class _Execution:
    """One execution of the flow for one invoice: its task, callers and retry budget."""

    __slots__ = ("claim", "retries", "shutdown", "task", "waiters")

    task: asyncio.Task[Resolution]

    def __init__(self, retries: int, claim: Claim | None) -> None:
        self.waiters = 0
        self.retries = retries
        self.claim = claim  # given by a worker; taken by the execution otherwise
        self.shutdown = False  # cancelled by a stop(), not by its callers


class Executions:
    """The executions of one resolver, keyed by invoice id.

    Args:
        client: The client the runs call Calypso with.
        store: Where claims, write-ahead records and outcomes live.
        owner: This resolver's name in the store's claims.
        settings: How runs go.
        report: Logs a Resolution and hands it to ``on_outcome``.
        is_shutdown: Whether the current task's cancellation comes from a stop().
        on_shutdown: Called with the id of a run a stop() cut short.
        track: Called with each execution task (the resolver's own tasks).
        telemetry: Puts each execution in a span, when the client has telemetry.
    """

    def __init__(
        self,
        client: CalypsoClient,
        store: ResolverStore,
        owner: str,
        settings: Settings,
        *,
        report: Callable[[Resolution], Awaitable[Resolution]],
        is_shutdown: Callable[[], bool],
        on_shutdown: Callable[[str], None],
        track: Callable[[asyncio.Task[Resolution]], None],
        telemetry: ResolverTelemetry | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._owner = owner
        self._settings = settings
        self._report = report
        self._is_shutdown = is_shutdown
        self._on_shutdown = on_shutdown
        self._track = track
        self._telemetry = telemetry
        self._inflight: dict[str, _Execution] = {}

    async def resolve(
        self, invoice_id: str, retries: int, claim: Claim | None = None
    ) -> Resolution:
        """Join the invoice's execution, or start one; return its Resolution.

        Cancellation propagates to the caller. The shared execution is cancelled only
        when no caller is left waiting for it, and a write it has in flight is finished
        first, so no request of the run is still pending once the cancellation reaches
        the caller.
        """
        while True:
            execution = self._inflight.get(invoice_id)
            if execution is not None and not execution.task.done() and claim is not None:
                if execution.claim is None:
                    # A direct resolve() waits for the claim this worker holds: hand it
                    # over and wait for that execution, as any other caller does.
                    execution.claim, claim = claim, None
                else:
                    # The running execution has released its own claim and is ending:
                    # let it end, then run with this one.
                    await asyncio.wait([execution.task])
                    continue
            if execution is None or execution.task.done():
                execution = self._start(invoice_id, retries, claim)
                claim = None
            execution.retries = max(execution.retries, retries)
            execution.waiters += 1
            try:
                return await asyncio.shield(execution.task)
            except asyncio.CancelledError:
                if execution.task.cancelled() and not being_cancelled():
                    continue  # the execution ended by cancellation, not us: start afresh
                raise
            finally:
                execution.waiters -= 1
                if execution.waiters == 0 and not execution.task.done():
                    # Only reached when the last waiter was cancelled: stop the run, and
                    # wait for it (it finishes a write in flight first).
                    execution.shutdown = self._is_shutdown()
                    execution.task.cancel()
                    await asyncio.wait([execution.task])

    def _start(self, invoice_id: str, retries: int, claim: Claim | None) -> _Execution:
        execution = self._inflight[invoice_id] = _Execution(retries, claim)
        execute = functools.partial(self._execute, invoice_id, execution)
        if self._telemetry is None:
            work = execute()
        else:  # in a span; a worker's run (claim given) starts a trace of its own
            work = self._telemetry.traced(invoice_id, execute, root=claim is not None)
        task = asyncio.create_task(work, name=f"resolve-{invoice_id}")
        execution.task = task
        self._track(task)  # the policy and on_outcome run in it

        def forget(_: object) -> None:
            if self._inflight.get(invoice_id) is execution:
                del self._inflight[invoice_id]

        task.add_done_callback(forget)
        return execution

    async def _claim(self, invoice_id: str, execution: _Execution) -> Claim:
        """Claim the invoice, waiting while a live claim of another run holds it.

        A worker of this resolver holding that claim hands it over (``execution.claim``).
        The wait is in real time: it is for another process's run, or for a worker.
        """
        while True:
            if execution.claim is not None:
                return execution.claim
            claim = await self._store.claim(invoice_id, self._owner, self._settings.lease)
            if claim is not None:
                return claim
            await asyncio.sleep(_CLAIM_POLL)

    async def _execute(self, invoice_id: str, execution: _Execution) -> Resolution:
        settings = self._settings
        runs: list[Run] = []
        guard: ClaimGuard | None = None
        try:
            claim = execution.claim = await self._claim(invoice_id, execution)
            guard = ClaimGuard(
                self._store, claim, lease=settings.lease, resend_hold=settings.resend_hold
            )
            guard.keep_alive()
            while True:
                run = Run(
                    self._client,
                    guard,
                    policy=settings.policy,
                    poll_interval=settings.poll_interval,
                    completion_timeout=settings.completion_timeout,
                    earlier_writes=_writes(runs),
                )
                runs.append(run)
                resolution = await self._attempt(run)
                delay = self._retry_delay(run, resolution, len(runs), execution.retries)
                if delay is None:
                    break
                logger.warning(
                    "invoice %s: attempt %d FAILED (%s); retrying in %g s",
                    invoice_id,
                    len(runs),
                    resolution.reason,
                    delay,
                    extra={"calypso_invoice_id": invoice_id, "calypso_attempt": len(runs)},
                )
                await self._client.runtime.sleep(delay)
        except asyncio.CancelledError:
            if execution.shutdown:
                self._on_shutdown(invoice_id)
            why = "the resolver shut down" if execution.shutdown else "every caller was cancelled"
            back = self._store.shared and execution.claim is not None
            await self._give_back(execution.claim, guard)
            await self._report(_cancelled(invoice_id, runs, why, back))
            raise
        except StoreError as exc:
            await self._give_back(execution.claim, guard)
            return await self._report(
                Resolution(invoice_id, Outcome.FAILED, f"the store failed: {exc}", error=exc)
            )
        if len(runs) > 1:
            resolution = attrs.evolve(
                resolution,
                reason=f"{resolution.reason} (attempt {len(runs)})",
                decision=_decision(runs),
                writes=_writes(runs),
                withheld=_withheld(runs),
                attempts=len(runs),
            )
        try:
            resolution = await self._finish(claim, guard, resolution)
        except asyncio.CancelledError:
            # Cancelled while the outcome was handed to the store (that work goes on,
            # shielded): the run did end, and is reported as it ended.
            await self._report(resolution)
            raise
        try:
            return await self._report(resolution)
        except asyncio.CancelledError:
            # Shut down while an async on_outcome hook ran: the hook may not have kept
            # the outcome, so the id goes back to the caller of stop() like any other.
            if execution.shutdown:
                self._on_shutdown(invoice_id)
            raise

    async def _finish(self, claim: Claim, guard: ClaimGuard, resolution: Resolution) -> Resolution:
        """Stop renewing and hand the claim back to the store with what became of it."""
        await guard.stop()
        if resolution.outcome is Outcome.FAILED and (
            guard.lost or isinstance(resolution.error, StoreError)
        ):
            # Not the flow's failure but the store's, or this run's claim lapsed: the
            # invoice goes back to the queue for any worker (unless another holds it
            # already), instead of being parked as failed for a human.
            await self._give_back(claim, None)
            if self._store.shared and not guard.lost:
                return attrs.evolve(
                    resolution, reason=f"{resolution.reason}; back in the store's queue"
                )
            return resolution
        await self._keep(claim, resolution)
        return resolution

    async def _keep(self, claim: Claim, resolution: Resolution) -> None:
        """Release the claim with the outcome (the store keeps it for operators)."""
        record = OutcomeRecord(
            claim.invoice_id,
            resolution.outcome,
            resolution.reason,
            0.0,  # stamped by the store
            resolution.writes,
            resolution.attempts,
        )
        try:
            await asyncio.shield(self._store.release(claim, record))
        except StoreError as exc:
            # The claim runs out by itself; another worker then finds the invoice done.
            logger.warning(
                "invoice %s: the outcome could not be kept in the store (%s)",
                claim.invoice_id,
                exc,
                extra={"calypso_invoice_id": claim.invoice_id},
            )

    async def _give_back(self, claim: Claim | None, guard: ClaimGuard | None) -> None:
        """Put a cut-short invoice back in the store, even while being cancelled.

        The store's work is shielded and goes on either way. A cancellation arriving
        meanwhile is passed on, unless the caller is already handling one (and will
        raise it once it has reported the run).
        """
        task = asyncio.current_task()
        handling = task is not None and task.cancelling() > 0
        try:
            if guard is not None:
                await asyncio.shield(guard.stop())
            if claim is not None:
                # On failure the claim's lease runs out and another worker takes it.
                with contextlib.suppress(StoreError):
                    await asyncio.shield(self._store.release(claim, None))
        except asyncio.CancelledError:
            if not handling:
                raise

    async def _attempt(self, run: Run) -> Resolution:
        try:
            return await run.execute()
        except Exception as exc:  # a bug must end as a reported FAILED, not a dead worker
            logger.exception("resolving invoice %s raised unexpectedly", run.invoice_id)
            return run.end(Outcome.FAILED, f"unexpected {type(exc).__name__}: {exc}", exc)

    def _retry_delay(
        self, run: Run, resolution: Resolution, attempt: int, budget: int
    ) -> float | None:
        if resolution.outcome is not Outcome.FAILED or not run.retryable:
            return None
        if attempt > budget:
            return None
        backoff: float = self._settings.retry_backoff * 2.0 ** (attempt - 1)
        # A 429's Retry-After is the server asking: wait at least that long.
        asked = getattr(resolution.error, "retry_after", None) or 0.0
        return max(backoff, run.retry_wait, asked)


def _writes(runs: list[Run]) -> tuple[Write, ...]:
    return tuple(write for run in runs for write in run.writes)


def _withheld(runs: list[Run]) -> tuple[Write, ...]:
    return tuple(write for run in runs for write in run.withheld)


def _decision(runs: list[Run]) -> Decision | None:
    return next((run.decision for run in reversed(runs) if run.decision is not None), None)


def _cancelled(invoice_id: str, runs: list[Run], why: str, back_in_store: bool) -> Resolution:
    writes = _writes(runs)
    done = f"after {', '.join(writes)}" if writes else "before any write"
    invoice = runs[-1].invoice if runs else None
    state = f"; the invoice is {invoice.state}" if invoice else ""
    then = (
        "it is back in the store's queue: a worker resumes it from the invoice's state"
        if back_in_store
        else "submit it again: a new run resumes from the invoice's state"
    )
    reason = f"cancelled ({why}) {done}{state}; {then}"
    error = ResolutionCancelledError(reason)
    return Resolution(
        invoice_id,
        Outcome.FAILED,
        reason,
        invoice,
        _decision(runs),
        writes,
        error,
        len(runs),
        _withheld(runs),
    )
