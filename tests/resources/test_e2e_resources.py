"""End to end: every resource of CalypsoClient against the embedded FakeCalypso."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from calypso_async import (
    AccountBalances,
    CalypsoClient,
    EventType,
    Invoice,
    InvoiceState,
    InvoiceStateError,
    InvoiceType,
    ServiceType,
    WaitTimeoutError,
    WebhookSubscription,
)
from calypso_async._types.converter import make_converter
from calypso_async.testing import FakeCalypso

TINY = Decimal("0.000042026017236")


@pytest.fixture
async def fake() -> AsyncIterator[FakeCalypso]:
    async with FakeCalypso(settle_delay=None) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCalypso) -> AsyncIterator[CalypsoClient]:
    async def no_wait(_: float) -> None:
        return None

    async with fake.client(sleep=no_wait) as c:
        yield c


async def test_single_invoice_carries_every_optional_field(client: CalypsoClient) -> None:
    """What create_single sends comes back on the invoice, under the snake_case names."""
    expiration = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    invoice = await client.invoices.create_single(
        amount=Decimal("10.234"),
        currency="USDT",
        description="order 42",
        idempotency_key="order-42",
        external_id="ext-42",
        expiration=expiration,
        return_url="https://shop.example/return",
        logo_url="https://shop.example/logo.png",
        support_url="https://shop.example/help",
        fiat_available=True,
    )
    assert invoice.type is InvoiceType.SINGLE
    assert invoice.state is InvoiceState.PENDING_PAYMENT
    assert invoice.amount == Decimal("10.234")
    assert invoice.idempotency_key == "order-42"
    assert invoice.external_id == "ext-42"
    assert invoice.expiration == expiration
    assert invoice.return_url == "https://shop.example/return"
    assert invoice.logo_url == "https://shop.example/logo.png"
    assert invoice.support_url == "https://shop.example/help"
    assert invoice.fiat_available is True
    assert invoice.has_open_intervention is False
    assert invoice.supports_interventions is True


async def test_tiny_amount_survives_the_round_trip_digit_for_digit(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """0.000042026017236 is sent and answered with every digit, never through a float."""
    invoice = await client.invoices.create_single(amount=TINY, currency="ETH", description="dust")
    (call,) = fake.calls_to("/api/v1/invoice/single/create")
    assert b'"amount":0.000042026017236' in call.body
    assert fake.invoice(invoice.id)["amount"] == TINY
    again = await client.invoices.get(invoice.id)
    assert str(again.amount) == "0.000042026017236"
    await fake.pay(invoice.id, TINY)
    await fake.settle(invoice.id)
    balances = await client.account.balances()
    assert [(b.currency, str(b.amount)) for b in balances.balances] == [
        ("ETH", "0.000042026017236")
    ]


async def test_fiat_invoice_gets_its_crypto_amount_from_the_rate(client: CalypsoClient) -> None:
    """25.50 USD in ETH at the fake's fixed 0.0004 rate is exactly 0.010200."""
    invoice = await client.invoices.create_fiat(
        fiat_amount=Decimal("25.50"), fiat_currency="USD", currency="ETH", description="fiat"
    )
    assert invoice.type is InvoiceType.SINGLE_FIAT
    assert invoice.fiat_amount == Decimal("25.50")
    assert invoice.fiat_currency == "USD"
    assert invoice.amount == Decimal("0.010200")
    assert invoice.last_fiat_updated is not None


async def test_unlimited_and_bound_invoices(client: CalypsoClient) -> None:
    """Both create calls answer invoices of their type, with their own fields."""
    unlimited = await client.invoices.create_unlimited(currency="ETH", description="client 1")
    assert unlimited.type is InvoiceType.UNLIMITED
    assert unlimited.amount is None
    assert unlimited.is_intervention_resolved is True
    bound = await client.invoices.create_bound(
        lower_bound=Decimal("0.5"), currency="BTC", description="deposit"
    )
    assert bound.type is InvoiceType.BOUND
    assert bound.lower_bound == Decimal("0.5")
    assert bound.supports_interventions is False


async def test_generated_idempotency_key_finds_the_invoice(client: CalypsoClient) -> None:
    """The key the SDK generated is on the invoice and gets it back."""
    invoice = await client.invoices.create_single(amount="1.5", currency="USDT", description="a")
    assert invoice.idempotency_key
    found = await client.invoices.get(idempotency_key=invoice.idempotency_key)
    assert found.id == invoice.id


async def test_fake_writes_only_fields_the_models_know(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """The strict converter (unknown keys forbidden) reads everything the fake answers."""
    strict = make_converter(strict=True)
    await client.webhooks.create(url="http://127.0.0.1:9/h", event_types=["INVOICE_PAID"])
    invoice = await client.invoices.create_fiat(
        fiat_amount="10", fiat_currency="EUR", currency="USDT", description="fiat"
    )
    await fake.pay(invoice.id, "10.80")
    await fake.settle(invoice.id)
    strict.structure(fake.invoice(invoice.id), Invoice)
    for subscription in fake.subscriptions:
        strict.structure(subscription, WebhookSubscription)
    balances = await client.session.call("/api/v1/account")
    strict.structure(balances, AccountBalances)


async def test_wait_for_sees_the_invoice_complete() -> None:
    """wait_for polls until COMPLETED once the fake settles the payment by itself."""
    async with FakeCalypso(settle_delay=0.02) as fake, fake.client() as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("3"), currency="USDT", description="a"
        )
        await fake.pay(invoice.id, 3)
        done = await client.invoices.wait_for(
            invoice.id, InvoiceState.COMPLETED, timeout=5, interval=0.01
        )
    assert done.state is InvoiceState.COMPLETED
    assert done.total_debit_amount == Decimal(3)


async def test_wait_for_stops_at_a_final_state_it_was_not_waiting_for(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """An invoice that expires while awaited ends the wait with InvoiceStateError."""
    invoice = await client.invoices.create_single(
        amount=Decimal(3), currency="USDT", description="a"
    )
    await fake.expire(invoice.id)
    with pytest.raises(InvoiceStateError) as caught:
        await client.invoices.wait_for(invoice.id, InvoiceState.COMPLETED, timeout=1)
    assert caught.value.invoice.state is InvoiceState.ARCHIVED


async def test_wait_for_times_out_on_a_held_intervention(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """An underpaid invoice never completes by itself: the wait gives up with the last read."""
    invoice = await client.invoices.create_single(
        amount=Decimal(3), currency="USDT", description="a"
    )
    await fake.pay(invoice.id, 2)
    clock = iter(range(0, 1000, 1))
    async with fake.client(clock=lambda: float(next(clock)), sleep=_no_wait) as fast:
        with pytest.raises(WaitTimeoutError) as caught:
            await fast.invoices.wait_for(invoice.id, InvoiceState.COMPLETED, timeout=5)
    assert caught.value.last_invoice is not None
    assert caught.value.last_invoice.state is InvoiceState.PENDING_INTERVENTION


async def _no_wait(_: float) -> None:
    return None


async def test_wait_for_sees_a_payment_made_during_its_last_pause(fake: FakeCalypso) -> None:
    """A state reached in the last interval is seen: the last pause leaves a last poll
    time to be answered, instead of sleeping to the very end of the timeout."""
    now = 0.0
    invoice_id = ""

    async def sleep(seconds: float) -> None:
        nonlocal now
        if now < 1.0 <= now + seconds:
            await fake.pay(invoice_id, 3)  # paid 1 s into a 2 s wait, polls 5 s apart
        now += seconds

    async with fake.client(clock=lambda: now, sleep=sleep) as client:
        invoice_id = (
            await client.invoices.create_single(amount=Decimal(3), currency="USDT", description="a")
        ).id
        paid = await client.invoices.wait_for(
            invoice_id, {InvoiceState.PAID, InvoiceState.COMPLETED}, timeout=2, interval=5
        )
    assert paid.state is InvoiceState.PAID
    assert now == 1.5  # one pause, ending a quarter of the timeout early


async def test_webhook_subscriptions_round_trip(client: CalypsoClient) -> None:
    """create, list and delete through client.webhooks."""
    created = await client.webhooks.create(
        url="https://merchant.example/hooks",
        event_types=[EventType.INVOICE_PENDING_INTERVENTION, EventType.INVOICE_PAID],
        service_types=[ServiceType.PAYOUT],
    )
    listed = await client.webhooks.list()
    assert [s.request_id for s in listed] == [created.request_id]
    assert listed[0].notification_event_types == (
        EventType.INVOICE_PENDING_INTERVENTION,
        EventType.INVOICE_PAID,
    )
    assert listed[0].notification_service_types == (ServiceType.PAYOUT,)
    assert listed[0].url == "https://merchant.example/hooks"
    await client.webhooks.delete(created.request_id)
    assert await client.webhooks.list() == []


async def test_account_balances_reflect_completed_invoices(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """Balances start empty and grow by what completed invoices received."""
    assert (await client.account.balances()).balances == ()
    for amount in ("1.10", "2.25"):
        invoice = await client.invoices.create_single(
            amount=Decimal(amount), currency="USDT", description="a"
        )
        await fake.pay(invoice.id, amount)
        await fake.settle(invoice.id)
    balances = await client.account.balances()
    assert balances.account == fake.account
    assert [(b.currency, b.amount) for b in balances.balances] == [("USDT", Decimal("3.35"))]


async def test_created_dates_are_recent_and_aware(client: CalypsoClient) -> None:
    """Dates parse as aware UTC, near now; the default expiration is 30 days on."""
    invoice = await client.invoices.create_unlimited(currency="ETH", description="a")
    assert invoice.created_date is not None
    assert invoice.expiration is not None
    assert abs(invoice.created_date - datetime.now(UTC)) < timedelta(minutes=1)
    lifetime = invoice.expiration - invoice.created_date
    assert abs(lifetime - timedelta(days=30)) < timedelta(seconds=1)
