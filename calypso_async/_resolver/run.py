"""One run of the intervention flow for one invoice, step by step as the Calypso docs say.

::

    get the invoice -> policy: RESOLVE or HOLD -> return-to-paid -> PAID
      -> (by itself) COMPLETED -> close-intervention -> isInterventionResolved

Every decision comes from the invoice's state on the server, so a run after a crash,
a duplicate or a lost answer resumes instead of writing again. Two rules keep a write
from ever being sent twice by one resolver:

* A write is never abandoned mid-flight. Cancelling a run while return-to-paid or
  close-intervention is on its way does not stop the server from carrying it out; a
  later run, reading the invoice before it does, would send it again. So a write (and
  the re-read that settles an ambiguous failure of it) runs to its end, bounded by the
  session's deadline, and only then is the cancellation let through.
* A return-to-paid that got no answer (a timeout, a lost connection, a 502 or 504
  from a gateway), or that the server accepted (a 2xx, readable or not) while the
  re-read still finds the invoice unchanged, may yet be carried out. For
  ``resend_hold`` seconds no run of this resolver sends another for that invoice
  (:class:`UnansweredWrites`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._aio import call_back, finish_despite_cancellation
from .._errors import (
    APIError,
    AuthenticationError,
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    DecodeError,
    InvoiceStateError,
    NotFoundError,
    ResolutionError,
    WaitTimeoutError,
)
from .._types import Invoice, InvoiceState
from .policy import Decision, Outcome, Policy, Resolution, default_policy

if TYPE_CHECKING:
    from .._client import CalypsoClient

__all__ = ["Run", "UnansweredWrites"]


_WRITE_FAILURES = (CalypsoConnectionError, CalypsoTimeoutError, DecodeError, APIError)
"""Failures of a write after which only the server knows whether it happened (a lost or
garbled answer, a 5xx from a proxy, a 400 because the state moved): re-read to know."""

_PERMANENT = (AuthenticationError, NotFoundError)
"""Failures a retry cannot mend: wrong credentials or account, no such invoice."""

_DONE_PAYING = (InvoiceState.PAID, InvoiceState.COMPLETED)

_CLOCK_TICK = 1e-3


def _may_still_land(error: BaseException) -> bool:
    """Whether the server may still carry out a write that failed so.

    A lost answer or a gateway's 502/504 says nothing of the server; a ``DecodeError``
    is a 2xx whose body was unreadable: the server accepted the request.
    """
    if isinstance(error, (CalypsoConnectionError, CalypsoTimeoutError, DecodeError)):
        return True
    return isinstance(error, APIError) and error.status in (502, 504)


class UnansweredWrites:
    """Invoices whose last return-to-paid got no answer, and until when none is resent.

    Args:
        clock: The session's monotonic clock.
        hold: Seconds during which the server may still carry out such a request.
    """

    def __init__(self, clock: Callable[[], float], hold: float) -> None:
        self._clock = clock
        self._hold = hold
        self._until: dict[str, float] = {}

    def record(self, invoice_id: str) -> None:
        """Note that a return-to-paid for ``invoice_id`` just went unanswered."""
        self._until[invoice_id] = self._clock() + self._hold

    def settled(self, invoice_id: str) -> None:
        """Forget ``invoice_id``: the server shows the write took effect."""
        self._until.pop(invoice_id, None)

    def remaining(self, invoice_id: str) -> float:
        """Seconds before another return-to-paid for ``invoice_id`` may be sent."""
        until = self._until.get(invoice_id)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= _CLOCK_TICK:  # a sleep may end a tick early: that is the hold served
            del self._until[invoice_id]
            return 0.0
        return left


class _Failed(Exception):
    """Ends a run as FAILED, carrying the reason and the underlying error."""

    def __init__(
        self, reason: str, error: BaseException | None = None, *, not_before: float | None = 0.0
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.not_before = not_before


class Run:
    """One pass of the flow for one invoice; what it did survives any exception.

    ``earlier_writes`` are those of earlier attempts of the same resolution: a
    close-intervention among them that turns out to have taken effect makes this run
    ``RESOLVED``, not ``SKIPPED``.

    Attributes:
        invoice_id: The invoice this run is for.
        writes: The write calls sent, in order.
        invoice: The last state of the invoice seen.
        decision: The policy's decision, if it was asked.
        retry_after: After a ``FAILED`` end, the fewest seconds before another run may
            help, or ``None`` when no retry can (no such invoice, refused credentials).
    """

    def __init__(
        self,
        client: CalypsoClient,
        invoice_id: str,
        *,
        policy: Policy,
        poll_interval: float,
        completion_timeout: float,
        unanswered: UnansweredWrites,
        earlier_writes: tuple[str, ...] = (),
    ) -> None:
        self._client = client
        self._earlier_writes = earlier_writes
        self.invoice_id = invoice_id
        self._policy = policy
        self._poll_interval = poll_interval
        self._completion_timeout = completion_timeout
        self._unanswered = unanswered
        self.writes: list[str] = []
        self.invoice: Invoice | None = None
        self.decision: Decision | None = None
        self.retry_after: float | None = 0.0

    def end(self, outcome: Outcome, reason: str, error: BaseException | None = None) -> Resolution:
        """The :class:`Resolution` of this run ending now."""
        return Resolution(
            self.invoice_id,
            outcome,
            reason,
            self.invoice,
            self.decision,
            tuple(self.writes),
            error,
        )

    async def execute(self) -> Resolution:
        """Run the flow; failures end ``FAILED``, cancellation and bugs propagate."""
        try:
            return await self._steps()
        except _Failed as failed:
            self.retry_after = failed.not_before
            error = failed.error or ResolutionError(failed.reason)
            return self.end(Outcome.FAILED, failed.reason, error)
        except CalypsoError as exc:
            self.retry_after = None if isinstance(exc, _PERMANENT) else 0.0
            return self.end(Outcome.FAILED, f"{type(exc).__name__}: {exc}", exc)

    async def _steps(self) -> Resolution:
        invoices = self._client.invoices
        # 1. Read the invoice: every decision below comes from the server's state.
        invoice = self.invoice = await invoices.get(self.invoice_id)
        if invoice.state is not InvoiceState.PENDING_INTERVENTION:
            self._unanswered.settled(invoice.id)  # an earlier return-to-paid did act
        skip = _nothing_to_do(invoice)
        if skip is not None:
            if "close-intervention" in self._earlier_writes and invoice.is_intervention_resolved:
                kind = invoice.intervention_type or "intervention"
                return self.end(
                    Outcome.RESOLVED,
                    f"{kind} resolved: the close-intervention of an earlier attempt took "
                    "effect (its answer was lost)",
                )
            return self.end(Outcome.SKIPPED, skip)

        # 2. Still pending: ask the policy. PAID or COMPLETED means an earlier run
        #    already returned it to paid, so resume without asking again.
        if invoice.state is InvoiceState.PENDING_INTERVENTION:
            self.decision = await self._decide(invoice)
            if self.decision is Decision.HOLD:
                return self.end(Outcome.HELD, _hold_reason(invoice, self._policy))
            # 3. Take the money.
            invoice = await finish_despite_cancellation(self._return_to_paid(invoice))

        # 4. Wait for COMPLETED (Calypso moves PAID on by itself).
        if invoice.state is InvoiceState.PAID:
            invoice = self.invoice = await self._wait_completed(invoice)

        # 5. Close the intervention and confirm it is resolved.
        if invoice.state is not InvoiceState.COMPLETED:
            if self.writes:
                raise _Failed(f"after return-to-paid the invoice is {invoice.state}")
            return self.end(
                Outcome.HELD,
                f"state {invoice.state} with an open intervention is not one the "
                "resolver acts on; left for a human",
            )
        self.invoice = await finish_despite_cancellation(self._close(invoice))
        return self.end(Outcome.RESOLVED, _resolved_reason(self.invoice, self.writes))

    async def _decide(self, invoice: Invoice) -> Decision:
        try:
            answer = await call_back(self._policy, invoice)
        except Exception as exc:  # a policy is user code: its bug must not kill a worker
            raise _Failed(f"the policy raised {type(exc).__name__}: {exc}", exc) from exc
        try:
            return Decision(answer)
        except (ValueError, TypeError):
            raise _Failed(f"the policy returned {answer!r}, not a Decision") from None

    async def _return_to_paid(self, invoice: Invoice) -> Invoice:
        wait = self._unanswered.remaining(invoice.id)
        if wait > 0:
            raise _Failed(
                "an earlier return-to-paid for this invoice got no answer and the server "
                f"may still carry it out: none is sent for another {wait:.0f} s",
                not_before=wait,
            )
        self.writes.append("return-to-paid")
        try:
            invoice = self.invoice = await self._client.invoices.return_to_paid(invoice.id)
        except asyncio.CancelledError:
            # Only the write's own task was cancelled (the loop is closing, say): the
            # request may be at the server, so none is resent for a while.
            self._unanswered.record(invoice.id)
            raise
        except _WRITE_FAILURES as exc:
            # The answer was lost or the state moved under us: the server knows whether
            # the write happened. Never send it a second time.
            if _may_still_land(exc):
                self._unanswered.record(invoice.id)
            current = await self._reread(
                invoice.id, "return-to-paid", f"failed ({type(exc).__name__})", exc
            )
            if current.state in _DONE_PAYING:
                self._unanswered.settled(invoice.id)
                return current
            raise _Failed(
                f"return-to-paid failed ({type(exc).__name__}) and the invoice is still "
                f"{current.state}; a later run will decide again from its state",
                exc,
                not_before=self._unanswered.remaining(invoice.id),
            ) from exc
        if invoice.state not in _DONE_PAYING:
            # Accepted (2xx), yet not moved on: it may still be carried out, so none is
            # resent for a while, whatever the re-read says or fails to say.
            self._unanswered.record(invoice.id)
            answered = f"was answered with the invoice {invoice.state}"
            invoice = await self._reread(invoice.id, "return-to-paid", answered, None)
            if invoice.state not in _DONE_PAYING:
                raise _Failed(
                    f"return-to-paid {answered}, and a re-read still finds it "
                    f"{invoice.state}; none is sent again while the server may carry it out",
                    not_before=self._unanswered.remaining(invoice.id),
                )
        self._unanswered.settled(invoice.id)
        return invoice

    async def _wait_completed(self, invoice: Invoice) -> Invoice:
        session = self._client.session
        give_up_at = session.clock() + self._completion_timeout
        # PAID turns COMPLETED by itself; polling at once would only cost a request. The
        # pause leaves half the budget at least, so a poll always gets to run.
        await session.sleep(min(self._poll_interval, self._completion_timeout / 2))
        try:
            return await self._client.invoices.wait_for(
                invoice.id,
                InvoiceState.COMPLETED,
                # The pause above counts: completion_timeout bounds the whole wait.
                timeout=max(give_up_at - session.clock(), 1e-9),
                interval=self._poll_interval,
                max_interval=self._poll_interval * 10,
            )
        except WaitTimeoutError as exc:
            if exc.last_invoice is not None:
                self.invoice = exc.last_invoice
            raise _Failed(
                f"COMPLETED did not arrive within {self._completion_timeout:g} s after "
                "return-to-paid; the intervention stays open and a later run will close it",
                exc,
            ) from exc
        except InvoiceStateError as exc:
            self.invoice = exc.invoice
            raise _Failed(
                f"the invoice ended {exc.invoice.state} instead of COMPLETED", exc
            ) from exc

    async def _close(self, invoice: Invoice) -> Invoice:
        self.writes.append("close-intervention")
        try:
            closed = await self._client.invoices.close_intervention(invoice.id)
        except _WRITE_FAILURES as exc:
            closed = await self._reread(
                invoice.id, "close-intervention", f"failed ({type(exc).__name__})", exc
            )
            if closed.is_intervention_resolved is not True:
                raise _Failed(
                    f"close-intervention failed ({type(exc).__name__}) and the intervention "
                    "is still open; a later run will close it",
                    exc,
                ) from exc
        if closed.is_intervention_resolved is not True:
            closed = await self._reread(
                invoice.id, "close-intervention", "was answered with it still open", None
            )
            if closed.is_intervention_resolved is not True:
                raise _Failed("close-intervention answered but the intervention is still open")
        return closed

    async def _reread(
        self, invoice_id: str, write: str, how: str, cause: BaseException | None
    ) -> Invoice:
        # After ``write`` ``how`` (failed so, answered so). A failed read ends the run,
        # leaving the next one to decide from the server's state.
        try:
            invoice = self.invoice = await self._client.invoices.get(invoice_id)
        except CalypsoError as exc:
            raise _Failed(
                f"{write} {how} and the invoice could not be re-read ({type(exc).__name__}):"
                f" whether {write} took effect is unknown; a later run will decide from the "
                "invoice's state",
                cause or exc,
                # No such invoice or refused credentials: no later run can do better.
                not_before=(
                    None if isinstance(exc, _PERMANENT) else self._unanswered.remaining(invoice_id)
                ),
            ) from exc
        return invoice


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
