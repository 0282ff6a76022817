"""``calypso-async demo``: three invoices, three stories, all against an in-process fake.

One invoice is paid exactly, one short, one over. Everything after the payments happens
the way it would in production: FakeCalypso sends signed webhooks to an aiohttp.web
endpoint built with :func:`webhook_handler`, which hands ``INVOICE_PENDING_INTERVENTION``
events to an :class:`InterventionResolver` running as a background worker. The default
policy resolves the overpaid invoice and holds the underpaid one.

Each story is told once everything has settled, not as things arrive: webhooks race the
resolver's calls, so arrival order would change from run to run. The webhooks received
are put in the order the server raised them (their event ids), and each resolver write
where it causally belongs: ``return-to-paid`` just before the ``INVOICE_PAID`` it
caused, ``close-intervention`` after ``INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED`` (the
fake accepts it only once the invoice is ``COMPLETED``).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TextIO

import attrs
from aiohttp import web

from .._client import CalypsoClient
from .._core.json import format_decimal
from .._errors import CalypsoError
from .._inbound import webhook_handler
from .._resolver import InterventionResolver, Outcome, Resolution
from .._types import EventType, Invoice, InvoiceState, ServiceType, WebhookEvent
from ..testing import UNDERPAY_THRESHOLD, FakeCalypso, FakeCalypsoError

__all__ = ["Story", "run_demo"]

AMOUNT = Decimal("10.234")
CURRENCY = "USDT"
OVERPAY_TOLERANCE = Decimal(0)
_SCENARIOS = (
    ("paid exactly", Decimal("10.234")),
    ("paid short", Decimal("10.00")),
    ("paid over", Decimal("10.50")),
)
_SETTLE_DELAY = 0.05
_RETURN = "resolver: return-to-paid"
_CLOSE = "resolver: close-intervention"


@attrs.define
class Story:
    """What happened to one demo invoice.

    Attributes:
        title: A few words on the scenario (``"paid short"``).
        paid: What the payer sent.
        invoice: The last state of the invoice the demo read.
        steps: Webhooks received and resolver writes, in causal order.
        outcome: One sentence on how it ended.
    """

    title: str
    paid: Decimal
    invoice: Invoice
    steps: list[str] = attrs.field(factory=list)
    outcome: str = ""


def _webhook(event_type: EventType) -> str:
    return f"webhook {event_type}"


def _event_order(event: WebhookEvent) -> tuple[int, int, str]:
    # The server numbers events as it raises them; a copy keeps its number.
    event_id = event.id
    numbered = event_id.isascii() and event_id.isdigit()
    return (0, int(event_id), "") if numbered else (1, 0, event_id)


class _Narrator:
    """Collects webhooks and resolutions, then tells each invoice's story in causal order."""

    def __init__(self) -> None:
        self.stories: dict[str, Story] = {}
        self._events: dict[str, dict[tuple[int, int, str], EventType]] = {}
        self._resolutions: dict[str, list[Resolution]] = {}

    def on_event(self, event: WebhookEvent) -> None:
        if event.invoice_id in self.stories:
            events = self._events.setdefault(event.invoice_id, {})
            events[_event_order(event)] = event.event_type

    def on_outcome(self, resolution: Resolution) -> None:
        if resolution.invoice_id in self.stories:
            self._resolutions.setdefault(resolution.invoice_id, []).append(resolution)

    def tell(self) -> list[Story]:
        """Fill in every story's steps and outcome from what was collected."""
        for invoice_id, story in self.stories.items():
            events = self._events.get(invoice_id, {})
            story.steps = [_webhook(events[key]) for key in sorted(events)]
            resolutions = self._resolutions.get(invoice_id, [])
            writes = [write for resolution in resolutions for write in resolution.writes]
            if "return-to-paid" in writes:
                _insert_return(story.steps)
            if "close-intervention" in writes:
                _insert_close(story.steps)
            story.outcome = _outcome(story, resolutions)
        return list(self.stories.values())


def _insert_return(steps: list[str]) -> None:
    """Put return-to-paid before the INVOICE_PAID that followed the intervention."""
    opened = _webhook(EventType.INVOICE_PENDING_INTERVENTION)
    start = steps.index(opened) + 1 if opened in steps else len(steps)
    paid = _webhook(EventType.INVOICE_PAID)
    position = steps.index(paid, start) if paid in steps[start:] else start
    steps.insert(position, _RETURN)


def _insert_close(steps: list[str]) -> None:
    """Put close-intervention after the settlement (the fake refuses it before)."""
    settled = _webhook(EventType.INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED)
    last = max((i for i, step in enumerate(steps) if step == settled), default=len(steps) - 1)
    steps.insert(last + 1, _CLOSE)


def _outcome(story: Story, resolutions: list[Resolution]) -> str:
    # A duplicate webhook may add a SKIPPED run; the run that did the work tells more.
    telling = [r for r in resolutions if r.outcome is not Outcome.SKIPPED] or resolutions
    if telling:
        return f"{telling[-1].outcome}: {telling[-1].reason}."
    if story.invoice.state is InvoiceState.COMPLETED:
        return "Completed by itself: no intervention, nothing to do."
    return ""


def _rule(paid: Decimal, amount: Decimal = AMOUNT) -> str:
    """The payment rule applied to one payment, with the numbers, as the fake applies it."""
    ratio = f"{format_decimal(paid)} / {format_decimal(amount)} = {paid / amount:.3f}"
    ceiling = format_decimal(1 + OVERPAY_TOLERANCE)
    if paid < amount * UNDERPAY_THRESHOLD:
        return f"{ratio} < {UNDERPAY_THRESHOLD} -> UNDERPAY intervention"
    if paid > amount * (1 + OVERPAY_TOLERANCE):
        return f"{ratio} > {ceiling} -> OVERPAY intervention"
    return f"{ratio}, from {UNDERPAY_THRESHOLD} to {ceiling} -> PAID"


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


def _credited(stories: list[Story]) -> Decimal:
    return sum(
        (s.invoice.total_debit_amount or Decimal(0) for s in stories if _is_completed(s)),
        Decimal(0),
    )


def _is_completed(story: Story) -> bool:
    return story.invoice.state is InvoiceState.COMPLETED


def _check(stories: list[Story], balance: Decimal) -> str | None:
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
    if balance != _credited(stories):
        return f"the account holds {balance} {CURRENCY}, not what the completed invoices paid"
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
            f"   rule: {_rule(story.paid)}\n"
            + "".join(f"   - {step}\n" for step in story.steps)
            + f"   {now}\n   {story.outcome}\n"
        )


def _tell_balance(out: TextIO, stories: list[Story], balance: Decimal) -> None:
    """Explain the balance: which invoices were credited, and why the others were not."""
    out.write(f"\nAccount balance after settlement: {format_decimal(balance)} {CURRENCY}\n")
    sign = "="
    for index, story in enumerate(stories, start=1):
        invoice = story.invoice
        if not _is_completed(story):
            continue
        how = (
            "completed by itself"
            if invoice.intervention_type is None
            else f"{invoice.intervention_type} taken by return-to-paid, then completed"
        )
        out.write(f"   {sign} {format_decimal(story.paid)} from invoice {index} ({how})\n")
        sign = "+"
    for index, story in enumerate(stories, start=1):
        invoice = story.invoice
        if _is_completed(story):
            continue
        why = (
            f"its {invoice.intervention_type} intervention is held for a human"
            if invoice.state is InvoiceState.PENDING_INTERVENTION
            else f"it is {invoice.state}"
        )
        out.write(
            f"   Not invoice {index}'s {format_decimal(story.paid)} {CURRENCY}: {why};\n"
            "   only a COMPLETED invoice credits the account.\n"
        )


async def run_demo(out: TextIO) -> int:
    """Run the demo against an in-process ``FakeCalypso`` and tell ``out`` what happened.

    Returns:
        0 when every invoice ended as expected, 1 otherwise (with the reason written).
    """
    narrator = _Narrator()
    try:
        async with (
            FakeCalypso(settle_delay=_SETTLE_DELAY, overpay_tolerance=OVERPAY_TOLERANCE) as fake,
            fake.client() as client,
        ):
            out.write(
                f"calypso-async demo against an in-process FakeCalypso at {fake.base_url}\n"
                f"Three SINGLE invoices of {AMOUNT} {CURRENCY}: "
                "paid exactly, paid short, paid over.\n"
                f"The rule: paid / amount below {UNDERPAY_THRESHOLD} is an UNDERPAY, above "
                f"1 + the overpay tolerance ({format_decimal(OVERPAY_TOLERANCE)} here) an "
                "OVERPAY;\nboth wait in PENDING_INTERVENTION for the merchant.\n"
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
                # The payments' webhooks and settlements; the resolver's work on the
                # interventions; then the webhooks and settlement that work caused.
                await fake.wait_for_deliveries(timeout=10)
                await resolver.join()
                await fake.wait_for_deliveries(timeout=10)
            for story in narrator.stories.values():
                story.invoice = await client.invoices.get(story.invoice.id)
            stories = narrator.tell()
            balances = (await client.account.balances()).balances
            balance = sum((b.amount for b in balances if b.currency == CURRENCY), Decimal(0))
            _tell(out, stories)
            _tell_balance(out, stories, balance)
    except (CalypsoError, FakeCalypsoError, OSError, TimeoutError) as exc:
        out.write(f"\ndemo failed: {type(exc).__name__}: {exc}\n")
        return 1
    problem = _check(stories, balance)
    if problem is not None:
        out.write(f"\ndemo failed: {problem}\n")
        return 1
    return 0
