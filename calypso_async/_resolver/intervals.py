"""When a tracked invoice is polled next: a plain function of what its last poll read.

Money arrives mostly soon after an invoice is made and just before it expires, so
those are polled often; a quiet ``PENDING_PAYMENT`` rarely; an invoice on its way
(mempool, compliance, ``PAID``) often enough to see it settle. While webhooks are heard,
quiet invoices are polled ``relax`` times less often: the events say when they move.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from .._core import checks
from .._errors import ConfigurationError
from .._types import Invoice, InvoiceState

__all__ = ["PollSchedule", "is_final"]

_MOVING = frozenset(
    {InvoiceState.MEM_POOL_FOUND, InvoiceState.PENDING_COMPLIANCE_CHECK, InvoiceState.PAID}
)


def is_final(invoice: Invoice) -> bool:
    """Whether nothing more can happen to ``invoice`` that the merchant must act on.

    ``ARCHIVED`` (expired) and ``DECLINED`` are final; ``COMPLETED`` is once no
    intervention is open on it.
    """
    if invoice.state in (InvoiceState.ARCHIVED, InvoiceState.DECLINED):
        return True
    return invoice.state is InvoiceState.COMPLETED and not invoice.has_open_intervention


@attrs.frozen(kw_only=True)
class PollSchedule:
    """How often tracked invoices are polled (seconds), by what their last poll read.

    Attributes:
        fresh: Between polls during ``fresh_for`` after the invoice was created.
        fresh_for: How long an invoice counts as fresh.
        quiet: Between polls of a ``PENDING_PAYMENT`` invoice neither fresh nor near
            its expiration.
        near_expiry: Between polls during the last ``near_expiry_for`` before expiry
            (and after it, until it reads ``ARCHIVED``).
        near_expiry_for: How long before its expiration an invoice counts as near it.
        moving: Between polls of an invoice in the mempool, compliance or ``PAID``.
        intervention: Between polls of an invoice handed to the resolver, until the
            resolver reports it resolved or held.
        after_event: How soon a webhook that says an invoice was paid brings its
            next poll (to see it ``COMPLETED`` and stop tracking it).
        relax: How many times less often quiet and fresh invoices are polled while
            webhooks are heard.
        heard_for: How long after the last webhook they count as heard.
    """

    fresh: float = 15.0
    fresh_for: float = 600.0
    quiet: float = 300.0
    near_expiry: float = 30.0
    near_expiry_for: float = 600.0
    moving: float = 20.0
    intervention: float = 60.0
    after_event: float = 2.0
    relax: float = 10.0
    heard_for: float = 300.0

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):
            checks.seconds(field.name, getattr(self, field.name))
        if self.relax < 1:
            raise ConfigurationError("relax must be 1 or more (1: never relax)")

    def next_poll(self, invoice: Invoice, now: datetime, *, heard: bool = False) -> float | None:
        """Seconds until ``invoice`` is polled again, or ``None``: it is final.

        Args:
            invoice: What the poll read.
            now: The current time (timezone-aware, UTC).
            heard: Whether webhooks are being heard (quiet invoices wait longer).
        """
        if is_final(invoice):
            return None
        state = invoice.state
        if state is InvoiceState.PENDING_INTERVENTION or invoice.has_open_intervention:
            return self.intervention
        if state in _MOVING:
            return self.moving
        if state is not InvoiceState.PENDING_PAYMENT:
            return self.intervention  # an unknown state: neither rare nor hurried
        relax = self.relax if heard else 1.0
        if invoice.expiration is not None:
            left = (invoice.expiration - now).total_seconds()
            if left <= self.near_expiry_for:
                return self.near_expiry
        else:
            left = float("inf")
        if invoice.created_date is not None:
            age = (now - invoice.created_date).total_seconds()
            if age < self.fresh_for:
                return min(self.fresh * relax, max(left - self.near_expiry_for, 0.0))
        # Wake up in time for the last stretch before expiry, however quiet.
        return min(self.quiet * relax, max(left - self.near_expiry_for, self.near_expiry))
