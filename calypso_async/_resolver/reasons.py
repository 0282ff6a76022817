"""The words a run's :class:`Resolution` gives: why it held, skipped or resolved."""

from __future__ import annotations

from collections.abc import Sequence

from .._types import Invoice
from .policy import Policy, Write, default_policy

__all__ = ["CLAIM_LOST", "held", "nothing_to_do", "resolved"]

_RTP, _CLOSE = Write.RETURN_TO_PAID, Write.CLOSE_INTERVENTION

CLAIM_LOST = (
    "this run's claim on the invoice lapsed (the process stalled past its lease, or "
    "another worker took the invoice over): it sends nothing more and leaves the invoice "
    "to the store's queue, for the worker that holds it or takes it next"
)
"""Why a run whose claim lapsed ends without writing."""


def nothing_to_do(invoice: Invoice) -> str | None:
    """Why a run has nothing to do for ``invoice``, or ``None`` when it has."""
    # Only a known type without interventions is skipped; an unknown one is left to the
    # flow, which holds what it does not understand.
    if invoice.type.is_known and not invoice.supports_interventions:
        return f"{invoice.type} invoices have no interventions"
    if not invoice.has_open_intervention:
        if invoice.intervention_type is not None:
            return f"the {invoice.intervention_type} intervention is already resolved"
        return f"no intervention (state {invoice.state})"
    return None


def held(invoice: Invoice, policy: Policy) -> str:
    """Why ``invoice`` is held."""
    kind = invoice.intervention_type or "unknown"
    if policy is default_policy:
        return f"{kind} is held for a human by the default policy (only OVERPAY is resolved)"
    return f"the policy held this {kind} intervention"


def resolved(invoice: Invoice, writes: Sequence[Write], withheld: Sequence[Write]) -> str:
    """How ``invoice``'s intervention was resolved, from the writes sent and withheld."""
    kind = invoice.intervention_type or "intervention"
    if list(writes) == [_RTP, _CLOSE]:
        return f"{kind} resolved: returned to paid, completed and closed"
    if _RTP in withheld:
        return (
            f"{kind} resolved after another run's return-to-paid (this run withheld its "
            f"own and sent: {', '.join(writes) or 'nothing'})"
        )
    return f"{kind} resolved by resuming an earlier run (this run: {', '.join(writes)})"
