"""One run of the intervention flow for one invoice, step by step as the Calypso docs say.

::

    get the invoice -> policy: RESOLVE or HOLD -> return-to-paid -> PAID
      -> (by itself) COMPLETED -> close-intervention -> isInterventionResolved

Every decision comes from the invoice's state on the server, so a run after a crash,
a duplicate or a lost answer resumes instead of writing again. Two rules keep a write
from ever being sent twice:

* A write is never abandoned mid-flight. Cancelling a run while return-to-paid or
  close-intervention is on its way does not stop the server from carrying it out; a
  later run, reading the invoice before it does, would send it again. So a write (and
  the re-read that settles an ambiguous failure of it) runs to its end, bounded by the
  session's deadline, and only then is the cancellation let through.
* Return-to-paid is recorded in the store before it is sent (the write-ahead record of
  :class:`~calypso_async._resolver.claims.ClaimGuard`). The record is refused while an
  earlier one may still land: one that got no answer (a timeout, a lost connection, a
  502 or 504), or that the server accepted (a 2xx) while the invoice still reads
  unchanged, holds every run of every process sharing the store back for
  ``resend_hold`` seconds. A refused run sends nothing and goes on from the state a
  re-read shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._aio import call_back, finish_despite_cancellation
from .._errors import (
    APIError,
    AuthenticationError,
    CalypsoConnectionError,
    CalypsoError,
    CalypsoTimeoutError,
    DecodeError,
    ErrorCode,
    InvoiceStateError,
    NotFoundError,
    ResolutionError,
    WaitTimeoutError,
)
from .._types import Invoice, InvoiceState
from . import reasons
from .policy import Decision, Outcome, Policy, Resolution, Write

if TYPE_CHECKING:
    from .._client import CalypsoClient
    from .claims import ClaimGuard

__all__ = ["Run"]

_RTP, _CLOSE = Write.RETURN_TO_PAID, Write.CLOSE_INTERVENTION

_WRITE_FAILURES = (CalypsoConnectionError, CalypsoTimeoutError, DecodeError, APIError)
"""Failures of a write after which only the server knows whether it happened (a lost or
garbled answer, a 5xx from a proxy, a 400 because the state moved): re-read to know."""

_PERMANENT = (AuthenticationError, NotFoundError)
"""Failures a retry cannot mend: wrong credentials or account, no such invoice."""

_DONE_PAYING = (InvoiceState.PAID, InvoiceState.COMPLETED)


def _may_still_land(error: BaseException) -> bool:
    """Whether the server may have carried out, or may still carry out, a failed write.

    Only a request that provably never left, a refusal (4xx) and Calypso's own 503
    ("not now", with its ``errorCode``) say it did not act. A lost answer, a timeout,
    any other 5xx (the server may have acted before failing), a proxy's 503 (it may
    have forwarded the request before its upstream failed) and a garbled 2xx (it
    accepted) may all still land: the guarantee must not rest on the server refusing.
    """
    if getattr(error, "request_sent", None) is False:
        return False
    if isinstance(error, APIError):
        refused = 400 <= error.status < 500
        return not (refused or (error.status == 503 and error.error_code is not None))
    return True


def _failure(error: Exception) -> str:
    """How a write failed, in words: Calypso's wrong-state refusal (``006``) by name."""
    if isinstance(error, APIError) and error.code is ErrorCode.WRONG_INVOICE_STATE:
        return "was refused: the invoice was in the wrong state for it (errorCode 006)"
    return f"failed ({type(error).__name__})"


class _Failed(Exception):
    """Ends a run as FAILED, carrying the reason, the underlying error and when to retry.

    ``wait`` is the fewest seconds before another run may help; ``final`` says that no
    later run can (no such invoice, refused credentials, a claim another worker holds).
    """

    def __init__(
        self,
        reason: str,
        error: BaseException | None = None,
        *,
        wait: float = 0.0,
        final: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.wait = wait
        self.final = final


class Run:
    """One pass of the flow for one invoice; what it did survives any exception.

    ``earlier_writes`` are those of earlier attempts of the same resolution: a
    close-intervention among them that turns out to have taken effect makes this run
    ``RESOLVED``, not ``SKIPPED``.

    Attributes:
        invoice_id: The invoice this run is for.
        writes: The write calls sent, in order.
        withheld: The writes the store showed another run had made, so this one did not.
        invoice: The last state of the invoice seen.
        decision: The policy's decision, if it was asked.
        retryable: After a ``FAILED`` end, whether another run may help at all (not for
            no such invoice, refused credentials, or a claim lost to another worker).
        retry_wait: After a ``FAILED`` end, the fewest seconds before another run may
            help (what is left of a resend hold, say).
    """

    def __init__(
        self,
        client: CalypsoClient,
        guard: ClaimGuard,
        *,
        policy: Policy,
        poll_interval: float,
        completion_timeout: float,
        earlier_writes: tuple[Write, ...] = (),
    ) -> None:
        self._client = client
        self._guard = guard
        self._earlier_writes = earlier_writes
        self.invoice_id = guard.invoice_id
        self._policy = policy
        self._poll_interval = poll_interval
        self._completion_timeout = completion_timeout
        self.writes: list[Write] = []
        self.withheld: list[Write] = []
        self.invoice: Invoice | None = None
        self._read_at = 0.0  # when self.invoice was read (client clock)
        self.decision: Decision | None = None
        self.retryable = True
        self.retry_wait = 0.0

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
            withheld=tuple(self.withheld),
        )

    async def execute(self) -> Resolution:
        """Run the flow; failures end ``FAILED``, cancellation and bugs propagate."""
        try:
            return await self._steps()
        except _Failed as failed:
            self.retryable, self.retry_wait = not failed.final, failed.wait
            error = failed.error or ResolutionError(failed.reason)
            return self.end(Outcome.FAILED, failed.reason, error)
        except CalypsoError as exc:
            self.retryable = not isinstance(exc, _PERMANENT)
            return self.end(Outcome.FAILED, f"{type(exc).__name__}: {exc}", exc)

    async def _steps(self) -> Resolution:
        # 1. Read the invoice: every decision below comes from the server's state.
        invoice = await self._read(self.invoice_id)
        if invoice.state is not InvoiceState.PENDING_INTERVENTION:
            await self._guard.landed(_RTP)  # an earlier return-to-paid did act
        skip = reasons.nothing_to_do(invoice)
        if skip is not None:
            if _CLOSE in self._earlier_writes and invoice.is_intervention_resolved:
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
                return self.end(Outcome.HELD, reasons.held(invoice, self._policy))
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
        if not await self._guard.check():
            raise _Failed(reasons.CLAIM_LOST, final=True)
        self.invoice = await finish_despite_cancellation(self._close(invoice))
        return self.end(
            Outcome.RESOLVED, reasons.resolved(self.invoice, self.writes, self.withheld)
        )

    async def _decide(self, invoice: Invoice) -> Decision:
        try:
            answer = await call_back(self._policy, invoice)
        except Exception as exc:  # a policy is user code: its bug must not kill a worker
            raise _Failed(f"the policy raised {type(exc).__name__}: {exc}", exc) from exc
        try:
            return Decision(answer)
        except (ValueError, TypeError):
            raise _Failed(f"the policy returned {answer!r}, not a Decision") from None

    async def _read(self, invoice_id: str) -> Invoice:
        self.invoice = invoice = await self._client.invoices.get(invoice_id)
        self._read_at = self._client.runtime.clock()
        return invoice

    async def _return_to_paid(self, invoice: Invoice) -> Invoice:
        if self._client.runtime.clock() - self._read_at > self._guard.resend_hold / 4:
            # A slow decision: a return-to-paid another worker sent just before this
            # run's read may have landed since, and its record lapsed meanwhile. Decide
            # on the invoice as it is now.
            invoice = await self._read(invoice.id)
            if invoice.state is not InvoiceState.PENDING_INTERVENTION:
                return invoice
        refused = await self._guard.begin(_RTP)
        if refused is not None:
            self.withheld.append(_RTP)
            if refused.claim_lost:
                raise _Failed(reasons.CLAIM_LOST, final=True)
            current = await self._reread(invoice.id, _RTP, "was withheld", None)
            if current.state in _DONE_PAYING:
                return current  # another run's landed: go on from here
            if refused.landed:
                raise _Failed(
                    "another run's return-to-paid is recorded as landed, yet the invoice "
                    f"reads {current.state}: none is sent again; left for a human",
                    final=True,
                )
            wait = refused.hold or await self._guard.hold_left(_RTP)
            raise _Failed(
                "an earlier return-to-paid for this invoice (by this or another worker) "
                "has no settled answer and the server may still carry it out: none is "
                f"sent for another {wait:.0f} s",
                wait=wait,
            )
        # The record holds every other run back for resend_hold: this request must reach
        # the server, and be answered or given up, well inside it, however long this
        # process stalls on the way.
        send_by = self._client.runtime.clock() + self._guard.resend_hold / 2
        self.writes.append(_RTP)
        try:
            invoice = self.invoice = await self._client.invoices.return_to_paid(
                invoice.id, send_by=send_by
            )
        except _WRITE_FAILURES as exc:
            # The answer was lost or the state moved under us: the server knows whether
            # the write happened. Never send it a second time. (A cancellation of the
            # write's own task leaves the record as it is: it holds others back.)
            may_land = _may_still_land(exc)
            if may_land:
                await self._guard.settle(_RTP, None)
            current = await self._reread(invoice.id, _RTP, _failure(exc), exc)
            if current.state in _DONE_PAYING:
                await self._guard.settle(_RTP, True)
                return current
            if not may_land:
                await self._guard.settle(_RTP, False)
            raise _Failed(
                f"return-to-paid {_failure(exc)} and the invoice is still "
                f"{current.state}; a later run will decide again from its state",
                exc,
                wait=await self._guard.hold_left(_RTP),
            ) from exc
        if invoice.state not in _DONE_PAYING:
            # Accepted (2xx), yet not moved on: it may still be carried out, so none is
            # resent for a while, whatever the re-read says or fails to say.
            await self._guard.settle(_RTP, None)
            answered = f"was answered with the invoice {invoice.state}"
            invoice = await self._reread(invoice.id, _RTP, answered, None)
            if invoice.state not in _DONE_PAYING:
                raise _Failed(
                    f"return-to-paid {answered}, and a re-read still finds it "
                    f"{invoice.state}; none is sent again while the server may carry it out",
                    wait=await self._guard.hold_left(_RTP),
                )
        await self._guard.settle(_RTP, True)
        return invoice

    async def _wait_completed(self, invoice: Invoice) -> Invoice:
        runtime = self._client.runtime
        give_up_at = runtime.clock() + self._completion_timeout
        # PAID turns COMPLETED by itself; polling at once would only cost a request. The
        # pause leaves half the budget at least, so a poll always gets to run.
        await runtime.sleep(min(self._poll_interval, self._completion_timeout / 2))
        try:
            return await self._client.invoices.wait_for(
                invoice.id,
                InvoiceState.COMPLETED,
                # The pause above counts: completion_timeout bounds the whole wait.
                timeout=max(give_up_at - runtime.clock(), 1e-9),
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
        self.writes.append(_CLOSE)
        try:
            closed = await self._client.invoices.close_intervention(invoice.id)
        except _WRITE_FAILURES as exc:
            closed = await self._reread(invoice.id, _CLOSE, _failure(exc), exc)
            if closed.is_intervention_resolved is not True:
                raise _Failed(
                    f"close-intervention {_failure(exc)} and the intervention is still "
                    f"open (the invoice is {closed.state}); a later run will close it",
                    exc,
                ) from exc
        if closed.is_intervention_resolved is not True:
            closed = await self._reread(invoice.id, _CLOSE, "was answered with it still open", None)
            if closed.is_intervention_resolved is not True:
                raise _Failed("close-intervention answered but the intervention is still open")
        return closed

    async def _reread(
        self, invoice_id: str, write: Write, how: str, cause: BaseException | None
    ) -> Invoice:
        # After ``write`` ``how`` (failed so, answered so). A failed read ends the run,
        # leaving the next one to decide from the server's state.
        try:
            invoice = await self._read(invoice_id)
        except CalypsoError as exc:
            # No such invoice or refused credentials: no later run can do better.
            final = isinstance(exc, _PERMANENT)
            raise _Failed(
                f"{write} {how} and the invoice could not be re-read ({type(exc).__name__}):"
                f" whether {write} took effect is unknown; a later run will decide from the "
                "invoice's state",
                cause or exc,
                wait=0.0 if final else await self._guard.hold_left(_RTP),
                final=final,
            ) from exc
        return invoice
