"""``InterventionResolver``: settle underpaid and overpaid invoices, safely and re-entrantly.

The flow itself (get -> policy -> return-to-paid -> COMPLETED -> close) is one
:class:`~calypso_async._intervention.Run`; this module makes runs safe to start from anywhere:

* **One execution per invoice.** Concurrent ``resolve`` calls and worker submissions
  for the same invoice share one execution (a task) and its :class:`Resolution`. The
  execution stays registered until it has ended, including while a cancelled run
  finishes a write in flight, so a new call never starts a second writer beside it.
* **Worker mode** retries a ``FAILED`` execution a few times with backoff, inside the
  same execution: a retry never overlaps the run before it.
* **Nothing accepted is lost silently.** Every execution reports exactly one Resolution,
  a cancelled one included; every submission dropped at shutdown is reported too.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeAlias

import attrs

from .._aio import being_cancelled, call_back
from .._core import checks
from .._errors import ConfigurationError, LifecycleError, ResolutionCancelledError
from .._types import EventType, Invoice, WebhookEvent
from .policy import Decision, Outcome, Policy, Resolution, default_policy
from .pool import WorkerPool
from .run import Run, UnansweredWrites

if TYPE_CHECKING:
    from .._client import CalypsoClient

__all__ = ["InterventionResolver"]

logger = logging.getLogger("calypso_async.resolver")


Target: TypeAlias = "WebhookEvent | Invoice | str"
"""What ``resolve`` and ``submit`` accept: an event, an invoice, or an invoice id."""


class _Drain:
    """A running ``stop()``: its task and how many callers wait for it."""

    __slots__ = ("task", "unfinished", "waiters")

    def __init__(self, task: asyncio.Task[tuple[str, ...]], unfinished: list[str]) -> None:
        self.task = task
        self.unfinished = unfinished
        self.waiters = 0


class _Execution:
    """One execution of the flow for one invoice: its task, callers and retry budget."""

    __slots__ = ("retries", "shutdown", "task", "waiters")

    task: asyncio.Task[Resolution]

    def __init__(self, retries: int) -> None:
        self.waiters = 0
        self.retries = retries
        self.shutdown = False  # cancelled by a stop(), not by its callers


class InterventionResolver:
    """Settles ``INVOICE_PENDING_INTERVENTION`` events with a merchant policy.

    Use it directly (``await resolver.resolve(event)``) or as a background worker::

        async with InterventionResolver(client, max_concurrency=10) as resolver:
            resolver.submit(event)       # from a webhook handler: never blocks
            await resolver.join()        # wait for everything submitted so far

    Time comes from the client (``CalypsoClient(sleep=..., clock=...)``), so tests that
    inject a sleep there never really wait.

    Args:
        client: The client to call Calypso with.
        policy: Decides invoices in ``PENDING_INTERVENTION``; :func:`default_policy` when
            ``None``.
        poll_interval: Seconds between polls while waiting for COMPLETED (backing off
            up to ten times this).
        completion_timeout: Seconds to wait for COMPLETED after return-to-paid, in all.
        max_concurrency: Invoices resolved at once in worker mode.
        max_queue: Submissions waiting at most; beyond it ``submit`` raises.
        shutdown_grace: Seconds leaving ``async with`` waits for queued and running
            work before cancelling it. A write in flight is finished even then, which
            can take up to the client's ``deadline`` more (again as much for the
            re-read after a lost answer).
        on_outcome: Called (sync or async) with every :class:`Resolution`: one per
            execution, a cancelled one included, and one per submission dropped at
            shutdown.
        retry_failed: In worker mode, how many times a ``FAILED`` run is run again
            before its Resolution is reported (``0``: never). ``resolve`` never retries.
        retry_backoff: Seconds before the first retry, doubling for each next one.
        resend_hold: Seconds after a return-to-paid went unanswered (timeout, lost
            connection, 502/504), or was accepted (2xx) with the invoice still pending,
            during which this resolver sends no other for that invoice, in case the
            server still carries out the first.
    """

    def __init__(
        self,
        client: CalypsoClient,
        policy: Policy | None = None,
        *,
        poll_interval: float = 2.0,
        completion_timeout: float = 600.0,
        max_concurrency: int = 10,
        max_queue: int = 10_000,
        shutdown_grace: float = 30.0,
        on_outcome: Callable[[Resolution], object] | None = None,
        retry_failed: int = 3,
        retry_backoff: float = 2.0,
        resend_hold: float = 120.0,
    ) -> None:
        poll_interval = checks.seconds("poll_interval", poll_interval)
        completion_timeout = checks.seconds("completion_timeout", completion_timeout)
        shutdown_grace = checks.seconds("shutdown_grace", shutdown_grace)
        retry_backoff = checks.seconds("retry_backoff", retry_backoff)
        resend_hold = checks.seconds("resend_hold", resend_hold)
        if isinstance(retry_failed, bool) or not isinstance(retry_failed, int) or retry_failed < 0:
            raise ConfigurationError("retry_failed must be an integer, 0 or more")
        if policy is not None and not callable(policy):
            raise ConfigurationError("policy must be a callable taking an Invoice")
        self._client = client
        self._policy: Policy = policy or default_policy
        self._poll_interval = poll_interval
        self._completion_timeout = completion_timeout
        self._on_outcome = on_outcome
        self._retry_failed = retry_failed
        self._retry_backoff = retry_backoff
        self._unanswered_writes = UnansweredWrites(client.session.clock, resend_hold)
        self._inflight: dict[str, _Execution] = {}
        self._stopping = False
        self._drain: _Drain | None = None
        # The tasks that run the policy and on_outcome (executions, workers, the drain):
        # a stop() from one of them must not wait for the drain, which waits for them.
        self._own_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        # The pool's workers: only a run whose waiter is one of them is cancelled by a
        # shutdown (a direct resolve() its caller cancels is not).
        self._worker_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._unfinished: list[str] = []
        self._pool = WorkerPool(
            self._work,
            key=_invoice_id_of,
            max_concurrency=max_concurrency,
            max_queue=max_queue,
            shutdown_grace=shutdown_grace,
            name="intervention-resolver",
        )

    # -- worker mode ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._drain is not None and not self._drain.task.done():
            raise LifecycleError(
                "this resolver is still stopping: await its stop() before starting it again"
            )
        await self._pool.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def submit(self, event_or_invoice_id: Target) -> bool:
        """Queue an event, invoice or invoice id for resolution without waiting.

        A submission for an invoice being resolved right now does not take a worker:
        the invoice is run once more when its current run ends (at most once, however
        many copies arrive meanwhile).

        Returns:
            ``True`` if queued or marked to run again, ``False`` if that was already so
            (the coming run will see the latest server state anyway).

        Raises:
            LifecycleError: The resolver is not running (use ``async with resolver``).
            asyncio.QueueFull: ``max_queue`` submissions are already waiting; a webhook
                handler should answer 503 so that Calypso delivers again later.
        """
        return self._pool.submit(event_or_invoice_id)

    async def join(self) -> None:
        """Wait until everything submitted so far has been resolved (retries included)."""
        await self._pool.join()

    async def stop(self) -> tuple[str, ...]:
        """Stop the worker: drain for ``shutdown_grace`` seconds, then cancel the rest.

        Leaving ``async with`` calls this. A run cancelled here first finishes a write
        it has in flight. Every run cancelled and every submission dropped is reported
        to ``on_outcome`` (and logged at WARNING) as ``FAILED`` with a
        :class:`ResolutionCancelledError`: its webhook was already acknowledged, so
        Calypso will not send it again.

        Calls made while a stop is draining wait for the same drain and get the same
        ids; cancelling one of them leaves the drain to the others, and cancelling the
        last one cancels the remaining work at once. Called from this resolver's own
        policy or ``on_outcome`` hook, it starts the shutdown and returns at once with
        the ids known so far (waiting would mean waiting for itself); a task such a hook
        creates waits like any other caller, so a hook must await ``stop()`` itself,
        not through ``asyncio.gather`` or ``asyncio.wait_for`` (which wrap it in a task
        that would wait for the hook until the grace runs out).

        Returns:
            The ids of those invoices, in no particular order. Submit them again when
            the resolver runs again: each new run resumes from the invoice's state.
        """
        drain = self._drain
        if drain is None or drain.task.done():
            self._stopping = True
            self._unfinished = []
            drain = self._drain = _Drain(
                asyncio.create_task(self._drain_pool(), name="stop"), self._unfinished
            )
            drain.task.add_done_callback(lambda _: self._forget_drain(drain))
            self._own_tasks.add(drain.task)
        if asyncio.current_task() in self._own_tasks:
            return tuple(drain.unfinished)
        drain.waiters += 1
        try:
            return await asyncio.shield(drain.task)
        except asyncio.CancelledError:
            if drain.task.cancelled() and not being_cancelled():
                # The drain was cancelled by an earlier caller who gave up, not this
                # one: what it gathered is this caller's answer too.
                return tuple(drain.unfinished)
            raise
        finally:
            drain.waiters -= 1
            if drain.waiters == 0 and not drain.task.done():
                # The last caller gave up: no more grace, stop every worker now.
                drain.task.cancel()
                await asyncio.wait([drain.task])

    def _forget_drain(self, drain: _Drain) -> None:
        if self._drain is drain:
            self._drain = None
        if not drain.task.cancelled():
            drain.task.exception()  # retrieved: a failed drain is raised to its callers

    async def _drain_pool(self) -> tuple[str, ...]:
        dropped: list[Target] = []
        try:
            await self._pool.stop(dropped)
        except asyncio.CancelledError:
            # The pool has logged them; the callers still waiting get their ids.
            self._unfinished.extend(
                i for i in dict.fromkeys(map(_invoice_id_of, dropped)) if i is not None
            )
            raise
        finally:
            self._stopping = False  # runs cancelled by this shutdown are marked already
        never_started: list[str] = []
        events: list[Target] = []
        for target in dropped:
            invoice_id = _invoice_id_of(target)
            if invoice_id is None:
                events.append(target)
            elif invoice_id not in never_started:
                never_started.append(invoice_id)
        # Known to the caller before any report: a cancellation below loses none of them.
        self._unfinished.extend(i for i in never_started if i not in self._unfinished)
        reason = "not started: the resolver shut down first; submit it again"
        reported = 0
        try:
            for target in events:
                await self._report(_skip_event(target))
            for invoice_id in never_started:
                await self._report(
                    Resolution(
                        invoice_id, Outcome.FAILED, reason, error=ResolutionCancelledError(reason)
                    )
                )
                reported += 1
        except asyncio.CancelledError:
            if unreported := never_started[reported:]:
                logger.warning(
                    "stop() was cancelled while reporting; never started, not reported: %s",
                    ", ".join(unreported),
                    extra={"calypso_unreported": unreported},
                )
            raise
        return tuple(self._unfinished)

    async def _work(self, target: Target) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._own_tasks.add(task)  # its hooks (skipped events) run in this worker
            self._worker_tasks.add(task)
        await self._resolve(target, self._retry_failed)

    # -- one resolution ---------------------------------------------------------------

    async def resolve(self, event_or_invoice_id: Target) -> Resolution:
        """Run the intervention flow for one invoice and report how it ended.

        Concurrent calls for the same invoice share one execution and return the same
        :class:`Resolution`. Failures are reported as ``Outcome.FAILED``, not raised
        (and not retried: worker mode retries, ``resolve`` leaves that to the caller).

        Cancellation propagates to the caller. The shared execution is cancelled only
        when no caller is left waiting for it, and a write it has in flight is finished
        first (within the client's deadline), so no request of the run is still pending
        once the cancellation reaches the caller, and no later run repeats a write whose
        outcome is unknown. The cancelled run is reported ``FAILED`` to ``on_outcome``.

        Args:
            event_or_invoice_id: An ``INVOICE_PENDING_INTERVENTION`` event, an invoice,
                or an invoice id.
        """
        return await self._resolve(event_or_invoice_id, 0)

    async def _resolve(self, target: Target, retries: int) -> Resolution:
        invoice_id = _invoice_id_of(target)
        if invoice_id is None:
            return await self._report(_skip_event(target))
        while True:
            execution = self._inflight.get(invoice_id)
            if execution is None or execution.task.done():
                execution = self._start(invoice_id, retries)
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
                    execution.shutdown = (
                        self._stopping and asyncio.current_task() in self._worker_tasks
                    )
                    execution.task.cancel()
                    await asyncio.wait([execution.task])

    def _start(self, invoice_id: str, retries: int) -> _Execution:
        execution = self._inflight[invoice_id] = _Execution(retries)
        task = asyncio.create_task(
            self._execute(invoice_id, execution), name=f"resolve-{invoice_id}"
        )
        execution.task = task
        self._own_tasks.add(task)  # the policy and on_outcome run in it

        def forget(_: object) -> None:
            if self._inflight.get(invoice_id) is execution:
                del self._inflight[invoice_id]

        task.add_done_callback(forget)
        return execution

    async def _execute(self, invoice_id: str, execution: _Execution) -> Resolution:
        runs: list[Run] = []
        try:
            while True:
                run = Run(
                    self._client,
                    invoice_id,
                    policy=self._policy,
                    poll_interval=self._poll_interval,
                    completion_timeout=self._completion_timeout,
                    unanswered=self._unanswered_writes,
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
                await self._client.session.sleep(delay)
        except asyncio.CancelledError:
            if execution.shutdown and invoice_id not in self._unfinished:
                self._unfinished.append(invoice_id)
            why = "the resolver shut down" if execution.shutdown else "every caller was cancelled"
            await self._report(_cancelled(invoice_id, runs, why))
            raise
        if len(runs) > 1:
            resolution = attrs.evolve(
                resolution,
                reason=f"{resolution.reason} (attempt {len(runs)})",
                decision=_decision(runs),
                writes=_writes(runs),
                attempts=len(runs),
            )
        try:
            return await self._report(resolution)
        except asyncio.CancelledError:
            # Shut down while an async on_outcome hook ran: the hook may not have kept
            # the outcome, so the id goes back to the caller of stop() like any other.
            if execution.shutdown and invoice_id not in self._unfinished:
                self._unfinished.append(invoice_id)
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
        if resolution.outcome is not Outcome.FAILED or run.retry_after is None:
            return None
        if attempt > budget:
            return None
        backoff: float = self._retry_backoff * 2.0 ** (attempt - 1)
        # A 429's Retry-After is the server asking: wait at least that long.
        asked = getattr(resolution.error, "retry_after", None) or 0.0
        return max(backoff, run.retry_after, asked)

    async def _report(self, resolution: Resolution) -> Resolution:
        level = logging.WARNING if resolution.outcome is Outcome.FAILED else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "invoice %s: %s (%s)",
                resolution.invoice_id,
                resolution.outcome,
                resolution.reason,
                extra={
                    "calypso_invoice_id": resolution.invoice_id,
                    "calypso_outcome": str(resolution.outcome),
                    "calypso_writes": resolution.writes,
                },
            )
        if self._on_outcome is not None:
            try:
                await call_back(self._on_outcome, resolution)
            except Exception:
                logger.exception("the on_outcome hook raised for invoice %s", resolution.invoice_id)
        return resolution


def _writes(runs: list[Run]) -> tuple[str, ...]:
    return tuple(write for run in runs for write in run.writes)


def _decision(runs: list[Run]) -> Decision | None:
    return next((run.decision for run in reversed(runs) if run.decision is not None), None)


def _cancelled(invoice_id: str, runs: list[Run], why: str) -> Resolution:
    writes = _writes(runs)
    done = f"after {', '.join(writes)}" if writes else "before any write"
    invoice = runs[-1].invoice if runs else None
    state = f"; the invoice is {invoice.state}" if invoice else ""
    reason = (
        f"cancelled ({why}) {done}{state}; submit it again: a new run resumes from the "
        "invoice's state"
    )
    error = ResolutionCancelledError(reason)
    return Resolution(
        invoice_id, Outcome.FAILED, reason, invoice, _decision(runs), writes, error, len(runs)
    )


def _invoice_id_of(target: Target) -> str | None:
    if isinstance(target, str):
        if not target.strip():
            raise ConfigurationError("the invoice id must not be empty")
        return target
    if isinstance(target, Invoice):
        return target.id
    if isinstance(target, WebhookEvent):
        if target.event_type is not EventType.INVOICE_PENDING_INTERVENTION:
            return None
        return target.invoice_id
    raise ConfigurationError(
        f"resolve takes a WebhookEvent, an Invoice or an invoice id, not {type(target).__name__}"
    )


def _skip_event(target: Target) -> Resolution:
    assert isinstance(target, WebhookEvent)
    if target.event_type is not EventType.INVOICE_PENDING_INTERVENTION:
        reason = f"event {target.event_type} is not INVOICE_PENDING_INTERVENTION"
    else:
        reason = "the event names no invoice (data.parentExternalId is missing)"
    return Resolution(None, Outcome.SKIPPED, reason)
