"""``calypso-async demo``: three invoices, three stories, all against an in-process fake.

One invoice is paid exactly, one short, one over. Everything after the payments happens
the way it would in production: FakeCalypso sends signed webhooks to an aiohttp.web
endpoint built with :func:`webhook_handler`, which hands ``INVOICE_PENDING_INTERVENTION``
events to an :class:`InterventionResolver` running as a background worker. The default
policy resolves the overpaid invoice and holds the underpaid one.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TextIO

import attrs
from aiohttp import web

from ._client import CalypsoClient
from ._enums import EventType, InvoiceState, ServiceType
from ._errors import CalypsoError
from ._models import Invoice, WebhookEvent
from ._resolution import Outcome, Resolution
from ._resolver import InterventionResolver
from ._webhook_handler import webhook_handler
from .testing import FakeCalypso, FakeCalypsoError

__all__ = ["Story", "run_demo"]

AMOUNT = Decimal("10.234")
CURRENCY = "USDT"
_SCENARIOS = (
    ("paid exactly", Decimal("10.234")),
    ("paid short", Decimal("10.00")),
    ("paid over", Decimal("10.50")),
)
_SETTLE_DELAY = 0.05


@attrs.define
class Story:
    """What happened to one demo invoice, told as it happens.

    Attributes:
        title: A few words on the scenario (``"paid short"``).
        paid: What the payer sent.
        invoice: The last state of the invoice the demo read.
        steps: Webhooks received and resolver steps, in order.
        outcome: One sentence on how it ended.
    """

    title: str
    paid: Decimal
    invoice: Invoice
    steps: list[str] = attrs.field(factory=list)
    outcome: str = ""


class _Narrator:
    """Collects webhooks and resolutions into the story of each invoice."""

    def __init__(self) -> None:
        self.stories: dict[str, Story] = {}

    def on_event(self, event: WebhookEvent) -> None:
        story = self.stories.get(event.invoice_id or "")
        if story is not None and event.event_type is not None:
            story.steps.append(f"webhook {event.event_type}")

    def on_outcome(self, resolution: Resolution) -> None:
        story = self.stories.get(resolution.invoice_id or "")
        if story is None:
            return
        # Place each write where it happened: return-to-paid answers the intervention
        # webhook (and causes the PAID/COMPLETED ones); close-intervention comes last.
        after = f"webhook {EventType.INVOICE_PENDING_INTERVENTION}"
        position = story.steps.index(after) + 1 if after in story.steps else len(story.steps)
        for write in resolution.writes:
            if write == "return-to-paid":
                story.steps.insert(position, f"resolver: {write}")
            else:
                story.steps.append(f"resolver: {write}")
        story.outcome = f"{resolution.outcome}: {resolution.reason}."


@asynccontextmanager
async def _webhook_endpoint(
    narrator: _Narrator, resolver: InterventionResolver, client: CalypsoClient
) -> AsyncIterator[None]:
    """Subscribe a loopback endpoint to every invoice event and serve it."""
    # Bind first so the URL is known before subscribing, and the subscription's secret
    # before the handler is built.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        subscription = await client.webhooks.create(
            url=f"http://127.0.0.1:{port}/calypso/webhooks",
            service_types=[ServiceType.INVOICE],
        )
        assert subscription.secret_key is not None
        handler = webhook_handler(
            subscription.secret_key, on_event=narrator.on_event, resolver=resolver
        )
        app = web.Application()
        app.router.add_post("/calypso/webhooks", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, listener).start()
            yield
        finally:
            await runner.cleanup()


async def _create_and_pay(client: CalypsoClient, fake: FakeCalypso, narrator: _Narrator) -> None:
    for index, (title, paid) in enumerate(_SCENARIOS, start=1):
        invoice = await client.invoices.create_single(
            amount=AMOUNT,
            currency=CURRENCY,
            description=f"demo order {index}: {title}",
            idempotency_key=f"calypso-async-demo-{index}",
        )
        narrator.stories[invoice.id] = Story(title=title, paid=paid, invoice=invoice)
        await fake.pay(invoice.id, paid)


async def _finish(client: CalypsoClient, stories: list[Story]) -> None:
    for story in stories:
        story.invoice = await client.invoices.get(story.invoice.id)
        if story.invoice.state is InvoiceState.PAID and not story.invoice.intervention_type:
            story.invoice = await client.invoices.wait_for(
                story.invoice.id, InvoiceState.COMPLETED, timeout=10, interval=_SETTLE_DELAY
            )
        if not story.outcome and story.invoice.state is InvoiceState.COMPLETED:
            story.outcome = "Completed by itself: no intervention, nothing to do."


def _check(stories: list[Story]) -> str | None:
    exact, short, over = (story.invoice for story in stories)
    if exact.state is not InvoiceState.COMPLETED:
        return f"the exactly paid invoice ended {exact.state}, not COMPLETED"
    if short.state is not InvoiceState.PENDING_INTERVENTION:
        return f"the underpaid invoice ended {short.state}, not PENDING_INTERVENTION"
    if over.state is not InvoiceState.COMPLETED or over.is_intervention_resolved is not True:
        return "the overpaid invoice did not end COMPLETED with its intervention closed"
    if not stories[1].outcome.startswith(Outcome.HELD):
        return "the resolver did not report the underpaid invoice as HELD"
    if not stories[2].outcome.startswith(Outcome.RESOLVED):
        return "the resolver did not report the overpaid invoice as RESOLVED"
    return None


def _tell(out: TextIO, stories: list[Story]) -> None:
    for index, story in enumerate(stories, start=1):
        invoice = story.invoice
        now = f"now {invoice.state}"
        if invoice.intervention_type is not None:
            resolved = "closed" if invoice.is_intervention_resolved else "open"
            now += f", {invoice.intervention_type} intervention {resolved}"
        out.write(
            f"\n{index}. {story.title.capitalize()}: {story.paid} of {AMOUNT} {CURRENCY}\n"
            f"   invoice {invoice.id}\n"
            + "".join(f"   - {step}\n" for step in story.steps)
            + f"   {now}\n   {story.outcome}\n"
        )


async def run_demo(out: TextIO) -> int:
    """Run the demo against an in-process ``FakeCalypso`` and tell ``out`` what happened.

    Returns:
        0 when every invoice ended as expected, 1 otherwise (with the reason written).
    """
    narrator = _Narrator()
    try:
        async with FakeCalypso(settle_delay=_SETTLE_DELAY) as fake, fake.client() as client:
            out.write(
                f"calypso-async demo against an in-process FakeCalypso at {fake.base_url}\n"
                f"Three SINGLE invoices of {AMOUNT} {CURRENCY}: "
                "paid exactly, paid short, paid over.\n"
                "Webhooks go to a local aiohttp endpoint feeding an InterventionResolver "
                "(default policy: resolve OVERPAY, hold UNDERPAY).\n"
            )
            resolver = InterventionResolver(
                client,
                poll_interval=_SETTLE_DELAY,
                completion_timeout=10,
                on_outcome=narrator.on_outcome,
            )
            async with resolver, _webhook_endpoint(narrator, resolver, client):
                await _create_and_pay(client, fake, narrator)
                stories = list(narrator.stories.values())
                # Webhooks of the exact payment keep coming until it is COMPLETED.
                await _finish(client, stories)
                await fake.wait_for_deliveries(timeout=10)
                await resolver.join()
                await _finish(client, stories)
            _tell(out, stories)
            balances = await client.account.balances()
            held = ", ".join(f"{b.amount} {b.currency}" for b in balances.balances) or "nothing"
            out.write(f"\nAccount balance after settlement: {held}\n")
    except (CalypsoError, FakeCalypsoError, OSError, TimeoutError) as exc:
        out.write(f"\ndemo failed: {type(exc).__name__}: {exc}\n")
        return 1
    problem = _check(stories)
    if problem is not None:
        out.write(f"\ndemo failed: {problem}\n")
        return 1
    return 0
