"""``calypso-async demo``: three invoices, three stories, all against an in-process fake.

One invoice is paid exactly, one short, one over. The exact one completes by itself; the
two interventions are then handled by :func:`handle_interventions` (resolve the overpaid
one, hold the underpaid one), which is the part meant to be swapped for an
``InterventionResolver`` fed by webhooks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

import attrs

from ._client import CalypsoClient
from ._enums import InterventionType, InvoiceState
from ._errors import CalypsoError
from ._models import Invoice
from .testing import FakeCalypso, FakeCalypsoError

__all__ = ["Story", "handle_interventions", "run_demo"]

AMOUNT = Decimal("10.234")
CURRENCY = "USDT"
_SCENARIOS = (
    ("paid exactly", Decimal("10.234")),
    ("paid short", Decimal("10.00")),
    ("paid over", Decimal("10.50")),
)
_WAIT = {"timeout": 10.0, "interval": 0.02, "max_interval": 0.1}


@attrs.define
class Story:
    """What happened to one demo invoice, told as it happens.

    Attributes:
        title: A few words on the scenario (``"paid short"``).
        paid: What the payer sent.
        invoice: The last state of the invoice the demo read.
        steps: The states and calls, in order (``PENDING_PAYMENT``, ``return-to-paid``...).
        outcome: One sentence on how it ended.
    """

    title: str
    paid: Decimal
    invoice: Invoice
    steps: list[str] = attrs.field(factory=list)
    outcome: str = ""

    def saw(self, invoice: Invoice) -> None:
        """Remember ``invoice`` and note its state if it changed."""
        self.invoice = invoice
        state = str(invoice.state)
        if invoice.intervention_type is not None and invoice.state is (
            InvoiceState.PENDING_INTERVENTION
        ):
            state += f" ({invoice.intervention_type})"
        if not self.steps or self.steps[-1] != state:
            self.steps.append(state)


async def handle_interventions(client: CalypsoClient, stories: list[Story]) -> None:
    """Resolve the overpaid invoice and hold the underpaid one, with explicit calls.

    Overpaid: ``return-to-paid`` -> wait for ``COMPLETED`` -> ``close-intervention``.
    Underpaid: nothing is written; a human decides.
    """
    for story in stories:
        invoice = story.invoice
        if invoice.state is not InvoiceState.PENDING_INTERVENTION:
            continue
        if invoice.intervention_type is InterventionType.OVERPAY:
            story.steps.append("return-to-paid")
            story.saw(await client.invoices.return_to_paid(invoice.id))
            story.saw(await client.invoices.wait_for(invoice.id, InvoiceState.COMPLETED, **_WAIT))
            closed = await client.invoices.close_intervention(invoice.id)
            story.invoice = closed
            story.steps.append("close-intervention")
            extra = story.paid - AMOUNT
            story.outcome = (
                f"Resolved: {story.paid} {CURRENCY} taken ({extra} more than asked); "
                f"isInterventionResolved is now {str(closed.is_intervention_resolved).lower()}."
            )
        else:
            missing = AMOUNT - story.paid
            story.outcome = (
                f"Held for a human: {missing} {CURRENCY} short; the invoice stays "
                f"{invoice.state} until someone decides."
            )


async def _pay_and_settle(client: CalypsoClient, fake: FakeCalypso) -> list[Story]:
    stories = []
    for index, (title, paid) in enumerate(_SCENARIOS, start=1):
        invoice = await client.invoices.create_single(
            amount=AMOUNT,
            currency=CURRENCY,
            description=f"demo order {index}: {title}",
            idempotency_key=f"calypso-async-demo-{index}",
        )
        story = Story(title=title, paid=paid, invoice=invoice)
        story.saw(invoice)
        await fake.pay(invoice.id, paid)
        story.saw(await client.invoices.get(invoice.id))
        stories.append(story)
    for story in stories:
        if story.invoice.state is InvoiceState.PAID:
            story.saw(
                await client.invoices.wait_for(story.invoice.id, InvoiceState.COMPLETED, **_WAIT)
            )
            story.outcome = "Completed by itself: nothing to do."
    return stories


def _check(stories: list[Story]) -> str | None:
    exact, short, over = (story.invoice for story in stories)
    if exact.state is not InvoiceState.COMPLETED:
        return f"the exactly paid invoice ended {exact.state}, not COMPLETED"
    if short.state is not InvoiceState.PENDING_INTERVENTION:
        return f"the underpaid invoice ended {short.state}, not PENDING_INTERVENTION"
    if over.state is not InvoiceState.COMPLETED or over.is_intervention_resolved is not True:
        return "the overpaid invoice did not end COMPLETED with its intervention closed"
    return None


def _tell(out: TextIO, stories: list[Story]) -> None:
    for index, story in enumerate(stories, start=1):
        out.write(
            f"\n{index}. {story.title.capitalize()}: {story.paid} of {AMOUNT} {CURRENCY}\n"
            f"   invoice {story.invoice.id}\n"
            f"   {' -> '.join(story.steps)}\n"
            f"   {story.outcome}\n"
        )


async def run_demo(out: TextIO) -> int:
    """Run the demo against an in-process ``FakeCalypso`` and tell ``out`` what happened.

    Returns:
        0 when every invoice ended as expected, 1 otherwise (with the reason written).
    """
    try:
        async with FakeCalypso(settle_delay=0.05) as fake, fake.client() as client:
            out.write(
                f"calypso-async demo against an in-process FakeCalypso at {fake.base_url}\n"
                f"Three SINGLE invoices of {AMOUNT} {CURRENCY}: "
                "paid exactly, paid short, paid over.\n"
            )
            stories = await _pay_and_settle(client, fake)
            await handle_interventions(client, stories)
            _tell(out, stories)
            balances = await client.account.balances()
            held = ", ".join(f"{b.amount} {b.currency}" for b in balances.balances) or "nothing"
            out.write(f"\nAccount balance after settlement: {held}\n")
    except (CalypsoError, FakeCalypsoError, OSError) as exc:
        out.write(f"\ndemo failed: {type(exc).__name__}: {exc}\n")
        return 1
    problem = _check(stories)
    if problem is not None:
        out.write(f"\ndemo failed: {problem}\n")
        return 1
    return 0
