"""``InterventionResolver``: settle underpaid and overpaid invoices, safely and re-entrantly.

The flow, as the Calypso docs describe it::

    INVOICE_PENDING_INTERVENTION event (data.parentExternalId = invoice id)
      -> get the invoice (PENDING_INTERVENTION, interventionType, isInterventionResolved false)
      -> policy(invoice): RESOLVE or HOLD
      -> RESOLVE: return-to-paid -> PAID -> (by itself) COMPLETED -> close-intervention
      -> HOLD: nothing is written; the invoice waits for a human

Every run decides from the invoice's state on the server, so a duplicate webhook, a
crash between two steps or a lost response resumes the job instead of repeating a write:
PAID or COMPLETED with the intervention still open resumes at the wait or close step, and
an ambiguous failure of a write is settled by re-reading the invoice, never by writing
again. Concurrent runs for one invoice share a single execution.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Self, TypeAlias

from . import _callbacks
from ._config import check_seconds
from ._enums import EventType, InvoiceState
from ._errors import (
    APIError,
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    ConfigurationError,
    DecodeError,
    InvoiceStateError,
    WaitTimeoutError,
)
from ._models import Invoice, WebhookEvent
from ._resolution import Decision, Outcome, Policy, Resolution, default_policy
from ._worker import WorkerPool

if TYPE_CHECKING:
    from ._client import CalypsoClient

__all__ = ["InterventionResolver"]

logger = logging.getLogger("calypso_async.resolver")


Target: TypeAlias = "WebhookEvent | Invoice | str"
"""What ``resolve`` and ``submit`` accept: an event, an invoice, or an invoice id."""

_WRITE_FAILURES = (CalypsoConnectionError, CalypsoTimeoutError, DecodeError, APIError)
"""Failures of a write after which only the server knows whether it happened (a lost or
garbled answer, a 5xx from a proxy, a 400 because the state moved): re-read to know."""


class _Execution:
    """One run of the flow for one invoice, and how many callers wait for it."""

    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Task[Resolution]) -> None:
        self.task = task
        self.waiters = 0


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _Failed(Exception):
    """Ends a run as FAILED, carrying the reason and the underlying error."""

    def __init__(self, reason: str, error: BaseException | None = None):
        super().__init__(reason)
        self.reason = reason
        self.error = error


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
        completion_timeout: Seconds to wait for COMPLETED after return-to-paid.
        max_concurrency: Invoices resolved at once in worker mode.
        max_queue: Submissions waiting at most; beyond it ``submit`` raises.
        shutdown_grace: Seconds leaving ``async with`` waits for queued and running
            work before cancelling it.
        on_outcome: Called (sync or async) with every :class:`Resolution` a run produces.
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
    ) -> None:
        poll_interval = check_seconds("poll_interval", poll_interval)
        completion_timeout = check_seconds("completion_timeout", completion_timeout)
        shutdown_grace = check_seconds("shutdown_grace", shutdown_grace)
        if policy is not None and not callable(policy):
            raise ConfigurationError("policy must be a callable taking an Invoice")
        self._client = client
        self._policy: Policy = policy or default_policy
        self._poll_interval = poll_interval
        self._completion_timeout = completion_timeout
        self._on_outcome = on_outcome
        self._inflight: dict[str, _Execution] = {}
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
        await self._pool.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._pool.stop()

    def submit(self, event_or_invoice_id: Target) -> bool:
        """Queue an event, invoice or invoice id for resolution without waiting.

        Returns:
            ``True`` if queued, ``False`` if the same invoice is already waiting in the
            queue (the queued run will see the latest server state anyway).

        Raises:
            LifecycleError: The resolver is not running (use ``async with resolver``).
            asyncio.QueueFull: ``max_queue`` submissions are already waiting; a webhook
                handler should answer 503 so that Calypso delivers again later.
        """
        return self._pool.submit(event_or_invoice_id)

    async def join(self) -> None:
        """Wait until everything submitted so far has been resolved."""
        await self._pool.join()

    async def _work(self, target: Target) -> None:
        await self.resolve(target)

    # -- one resolution ---------------------------------------------------------------

    async def resolve(self, event_or_invoice_id: Target) -> Resolution:
        """Run the intervention flow for one invoice and report how it ended.

        Concurrent calls for the same invoice share one execution and return the same
        :class:`Resolution`. Failures are reported as ``Outcome.FAILED``, not raised.
        Cancellation propagates to the caller; the shared execution is cancelled only
        when no caller is left waiting for it, so a cancelled caller never leaves a write
        half-done for another caller to repeat.

        Args:
            event_or_invoice_id: An ``INVOICE_PENDING_INTERVENTION`` event, an invoice,
                or an invoice id.
        """
        invoice_id = _invoice_id_of(event_or_invoice_id)
        if invoice_id is None:
            return await self._report(_skip_event(event_or_invoice_id))
        while True:
            execution = self._inflight.get(invoice_id)
            if execution is None:
                execution = self._start(invoice_id)
            execution.waiters += 1
            try:
                return await asyncio.shield(execution.task)
            except asyncio.CancelledError:
                if execution.task.cancelled() and not _being_cancelled():
                    continue  # the execution ended by cancellation, not us: start afresh
                raise
            finally:
                execution.waiters -= 1
                if execution.waiters == 0 and not execution.task.done():
                    # Only reached when the last waiter was cancelled: stop the run, and
                    # wait for it so no request of it is still in flight afterwards.
                    execution.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await execution.task

    def _start(self, invoice_id: str) -> _Execution:
        task = asyncio.create_task(self._execute(invoice_id), name=f"resolve-{invoice_id}")
        execution = self._inflight[invoice_id] = _Execution(task)

        def forget(_: object) -> None:
            if self._inflight.get(invoice_id) is execution:
                del self._inflight[invoice_id]

        task.add_done_callback(forget)
        return execution

    async def _execute(self, invoice_id: str) -> Resolution:
        try:
            resolution = await self._run(invoice_id)
        except Exception as exc:  # a bug must end as a reported FAILED, not a dead worker
            logger.exception("resolving invoice %s raised unexpectedly", invoice_id)
            resolution = Resolution(
                invoice_id, Outcome.FAILED, f"unexpected {type(exc).__name__}: {exc}", error=exc
            )
        return await self._report(resolution)

    async def _run(self, invoice_id: str) -> Resolution:
        writes: list[str] = []
        invoice: Invoice | None = None
        decision: Decision | None = None

        def end(outcome: Outcome, reason: str, error: BaseException | None = None) -> Resolution:
            return Resolution(invoice_id, outcome, reason, invoice, decision, tuple(writes), error)

        try:
            # 1. Read the invoice: every decision below comes from the server's state.
            invoice = await self._client.invoices.get(invoice_id)
            skip = _nothing_to_do(invoice)
            if skip is not None:
                return end(Outcome.SKIPPED, skip)

            # 2. Still pending: ask the policy. PAID or COMPLETED means an earlier run
            #    already returned it to paid, so resume without asking again.
            if invoice.state is InvoiceState.PENDING_INTERVENTION:
                decision = await self._decide(invoice)
                if decision is Decision.HOLD:
                    return end(Outcome.HELD, _hold_reason(invoice, self._policy))
                # 3. Take the money.
                writes.append("return-to-paid")
                invoice = await self._return_to_paid(invoice)
                if invoice.state not in (InvoiceState.PAID, InvoiceState.COMPLETED):
                    # Answered, yet not moved on: re-read rather than guess.
                    invoice = await self._client.invoices.get(invoice_id)
                    if invoice.state not in (InvoiceState.PAID, InvoiceState.COMPLETED):
                        raise _Failed(
                            f"return-to-paid was answered but the invoice is {invoice.state}"
                        )

            # 4. Wait for COMPLETED (Calypso moves PAID on by itself).
            if invoice.state is InvoiceState.PAID:
                invoice = await self._wait_completed(invoice)

            # 5. Close the intervention and confirm it is resolved.
            if invoice.state is not InvoiceState.COMPLETED:
                if writes:
                    raise _Failed(f"after return-to-paid the invoice is {invoice.state}")
                return end(
                    Outcome.HELD,
                    f"state {invoice.state} with an open intervention is not one the "
                    "resolver acts on; left for a human",
                )
            writes.append("close-intervention")
            invoice = await self._close(invoice)
            return end(Outcome.RESOLVED, _resolved_reason(invoice, writes))
        except _Failed as failed:
            return end(Outcome.FAILED, failed.reason, failed.error or failed)
        except CalypsoError as exc:
            return end(Outcome.FAILED, f"{type(exc).__name__}: {exc}", exc)

    async def _decide(self, invoice: Invoice) -> Decision:
        try:
            return Decision(await _callbacks.call(self._policy, invoice))
        except Exception as exc:  # a policy is user code: its bug must not kill a worker
            raise _Failed(f"the policy raised {type(exc).__name__}: {exc}", exc) from exc

    async def _return_to_paid(self, invoice: Invoice) -> Invoice:
        try:
            return await self._client.invoices.return_to_paid(invoice.id)
        except _WRITE_FAILURES as exc:
            # The response was lost or the state moved under us: the server knows
            # whether the write happened. Never send it a second time.
            current = await self._reread(invoice.id, "return-to-paid", exc)
            if current.state in (InvoiceState.PAID, InvoiceState.COMPLETED):
                return current
            raise _Failed(
                f"return-to-paid failed ({type(exc).__name__}) and the invoice is still "
                f"{current.state}; a later run will decide again from its state",
                exc,
            ) from exc

    async def _wait_completed(self, invoice: Invoice) -> Invoice:
        # PAID turns COMPLETED by itself; polling at once would only cost a request.
        await self._client.session.sleep(self._poll_interval)
        try:
            return await self._client.invoices.wait_for(
                invoice.id,
                InvoiceState.COMPLETED,
                timeout=self._completion_timeout,
                interval=self._poll_interval,
                max_interval=self._poll_interval * 10,
            )
        except WaitTimeoutError as exc:
            raise _Failed(
                f"COMPLETED did not arrive within {self._completion_timeout:g} s after "
                "return-to-paid; the intervention stays open and a later run will close it",
                exc,
            ) from exc
        except InvoiceStateError as exc:
            raise _Failed(
                f"the invoice ended {exc.invoice.state} instead of COMPLETED", exc
            ) from exc

    async def _close(self, invoice: Invoice) -> Invoice:
        try:
            closed = await self._client.invoices.close_intervention(invoice.id)
        except _WRITE_FAILURES as exc:
            closed = await self._reread(invoice.id, "close-intervention", exc)
            if closed.is_intervention_resolved is not True:
                raise _Failed(
                    f"close-intervention failed ({type(exc).__name__}) and the intervention "
                    "is still open; a later run will close it",
                    exc,
                ) from exc
        if closed.is_intervention_resolved is not True:
            closed = await self._client.invoices.get(invoice.id)
            if closed.is_intervention_resolved is not True:
                raise _Failed("close-intervention answered but the intervention is still open")
        return closed

    async def _reread(self, invoice_id: str, write: str, cause: BaseException) -> Invoice:
        try:
            return await self._client.invoices.get(invoice_id)
        except CalypsoError as exc:
            raise _Failed(
                f"{write} failed ({type(cause).__name__}) and the invoice could not be re-read "
                f"({type(exc).__name__}): whether {write} took effect is unknown; a later run "
                "will decide from the invoice's state",
                cause,
            ) from exc

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
                await _callbacks.call(self._on_outcome, resolution)
            except Exception:
                logger.exception("the on_outcome hook raised for invoice %s", resolution.invoice_id)
        return resolution


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


def _nothing_to_do(invoice: Invoice) -> str | None:
    # Only a known type without interventions is skipped; an unknown one is left to the
    # flow, which holds what it does not understand.
    if invoice.type is not None and invoice.type.is_known and not invoice.supports_interventions:
        return f"{invoice.type} invoices have no interventions"
    if not invoice.has_open_intervention:
        if invoice.intervention_type is not None:
            return f"the {invoice.intervention_type} intervention is already resolved"
        return f"no intervention (state {invoice.state})"
    return None


def _hold_reason(invoice: Invoice, policy: Policy) -> str:
    kind = invoice.intervention_type or "unknown"
    if policy is default_policy:
        return f"{kind} is held for a human by the default policy (only OVERPAY is resolved)"
    return f"the policy held this {kind} intervention"


def _resolved_reason(invoice: Invoice, writes: list[str]) -> str:
    kind = invoice.intervention_type or "intervention"
    if writes == ["return-to-paid", "close-intervention"]:
        return f"{kind} resolved: returned to paid, completed and closed"
    return f"{kind} resolved by resuming an earlier run (this run: {', '.join(writes)})"
