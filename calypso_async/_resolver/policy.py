"""What the resolver decides and reports: ``Decision``, ``Outcome``, ``Resolution``.

Kept apart from the resolver's machinery so that a policy module can import these
without the client or aiohttp.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import TypeAlias

import attrs

from .._types import InterventionType, Invoice

__all__ = ["Decision", "Outcome", "Policy", "Resolution", "Write", "default_policy"]


class Decision(enum.StrEnum):
    """What a policy wants done with an invoice in ``PENDING_INTERVENTION``."""

    RESOLVE = "RESOLVE"
    """Take the money: return-to-paid, then close the intervention once COMPLETED."""
    HOLD = "HOLD"
    """Write nothing; a human decides."""


class Outcome(enum.StrEnum):
    """How a resolution ended."""

    RESOLVED = "RESOLVED"
    """The invoice is COMPLETED and its intervention closed."""
    HELD = "HELD"
    """Nothing was written; the invoice waits for a human (``reason`` says why)."""
    SKIPPED = "SKIPPED"
    """Nothing to do: not an intervention, already resolved, or a type without them."""
    FAILED = "FAILED"
    """The run stopped on an error (``error``); ``writes`` says what was done before."""


class Write(enum.StrEnum):
    """A call of the intervention flow that changes the invoice on the server."""

    RETURN_TO_PAID = "return-to-paid"
    """Take the money: ``PENDING_INTERVENTION`` -> ``PAID``."""
    CLOSE_INTERVENTION = "close-intervention"
    """Mark the intervention of a ``COMPLETED`` invoice resolved."""


Policy: TypeAlias = Callable[[Invoice], "Decision | Awaitable[Decision]"]
"""Decides an invoice in ``PENDING_INTERVENTION``; a plain or an async callable."""


def default_policy(invoice: Invoice) -> Decision:
    """Resolve overpayments, hold underpayments and anything unknown.

    An overpaid invoice has received at least what was asked, so taking the money is
    safe; an underpaid one needs a merchant's judgement (ask for the rest, refund, accept).
    An invoice type the SDK does not know is held too: its rules may differ.
    """
    if invoice.intervention_type is InterventionType.OVERPAY and invoice.type.is_known:
        return Decision.RESOLVE
    return Decision.HOLD


@attrs.frozen
class Resolution:
    """The result of one resolver run for one invoice.

    Attributes:
        invoice_id: The invoice, or ``None`` if the event named none.
        outcome: ``RESOLVED``, ``HELD``, ``SKIPPED`` or ``FAILED``.
        reason: Why, in words fit for a log line or an operator's screen.
        invoice: The last state of the invoice this run saw, if it read one.
        decision: What the policy decided, if it was asked.
        writes: The write calls this run sent, in order (:class:`Write` members, equal
            to ``"return-to-paid"`` and ``"close-intervention"``), including one that
            failed, over every attempt (worker mode retries a ``FAILED`` run); a resumed
            run lists only its own.
        error: The exception behind a ``FAILED`` outcome: the API call's or the
            policy's own, else a ``ResolutionError`` (``ResolutionCancelledError`` when
            the run was cancelled or never started because the resolver shut down).
        attempts: How many times the flow ran for this resolution (more than 1 only in
            worker mode, when a ``FAILED`` run was retried).
        withheld: Writes this run decided not to send because the store showed another
            run's: a return-to-paid recorded by another worker that landed or may still
            land. A run that resumed after another worker's write lists it here, so it
            is never mistaken for the run that took the money.
    """

    invoice_id: str | None
    outcome: Outcome
    reason: str
    invoice: Invoice | None = None
    decision: Decision | None = None
    writes: tuple[Write, ...] = ()
    error: BaseException | None = attrs.field(default=None, eq=False)
    attempts: int = 1
    withheld: tuple[Write, ...] = ()
