"""Expiry on the fake: which invoices expire, and an expiration that is enforced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from calypso_async import CalypsoClient, EventType, InvoiceState
from calypso_async.testing import FakeCalypso, FakeCalypsoError

from .conftest import Receiver

AMOUNT = Decimal("10.234")
MONTH = 31 * 24 * 3600


async def create(client: CalypsoClient, **kwargs: object) -> str:
    invoice = await client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="order 42", **kwargs
    )
    return invoice.id


def expired_events(fake: FakeCalypso, invoice_id: str) -> list[dict[str, object]]:
    return [
        e
        for e in fake.events
        if e["invoiceId"] == invoice_id and e["eventType"] == EventType.INVOICE_EXPIRED
    ]


async def test_a_paid_invoice_does_not_expire_and_still_settles() -> None:
    """expire() on PAID is refused: the invoice completes and the account is credited."""
    async with FakeCalypso(settle_delay=0.01) as fake, fake.client() as client:
        invoice_id = await create(client)
        await fake.pay(invoice_id, AMOUNT)
        with pytest.raises(FakeCalypsoError, match="PAID: it cannot expire") as caught:
            await fake.expire(invoice_id)
        assert caught.value.error_code == "006"
        done = await client.invoices.wait_for(
            invoice_id, InvoiceState.COMPLETED, timeout=2, interval=0.01
        )
    assert done.state is InvoiceState.COMPLETED
    assert fake.balances == {"USDT": AMOUNT}


async def test_a_held_intervention_does_not_expire(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """An open intervention stays PENDING_INTERVENTION, unresolved, as the docs say."""
    invoice_id = await create(client)
    await fake.pay(invoice_id, "10.00")
    with pytest.raises(FakeCalypsoError, match="PENDING_INTERVENTION: it cannot expire"):
        await fake.expire(invoice_id)
    fake.clock_skew = MONTH  # nor does its expiration archive it
    snapshot = fake.invoice(invoice_id)
    assert (snapshot["state"], snapshot["isInterventionResolved"]) == (
        "PENDING_INTERVENTION",
        False,
    )
    assert expired_events(fake, invoice_id) == []


async def test_an_invoice_seen_in_the_mempool_can_expire(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """MEM_POOL_FOUND is still waiting for its money: it expires to ARCHIVED."""
    invoice_id = await create(client)
    await fake.mempool(invoice_id)
    assert (await fake.expire(invoice_id))["state"] == "ARCHIVED"


async def test_an_invoice_created_already_expired_takes_no_payment(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """An expiration in the past: the payment is refused and the invoice reads ARCHIVED."""
    invoice_id = await create(client, expiration=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(FakeCalypsoError, match="expired at") as caught:
        await fake.pay(invoice_id, AMOUNT)
    assert caught.value.error_code == "006"
    invoice = await client.invoices.get(invoice_id)
    assert invoice.state is InvoiceState.ARCHIVED
    assert invoice.total_debit_amount == 0
    assert fake.balances == {}


async def test_reaching_the_expiration_archives_the_invoice_once(
    client: CalypsoClient, fake: FakeCalypso, receiver: Receiver
) -> None:
    """When the fake's clock passes the expiration, the next read archives it: one webhook."""
    await client.webhooks.create(url=receiver.url, event_types=[EventType.INVOICE_EXPIRED])
    invoice_id = await create(client)
    assert (await client.invoices.get(invoice_id)).state is InvoiceState.PENDING_PAYMENT
    fake.clock_skew = MONTH  # the default expiration is 30 days after creation
    for _ in range(3):  # the client learns the skewed clock from the Date header
        assert (await client.invoices.get(invoice_id)).state is InvoiceState.ARCHIVED
    assert fake.invoices[0]["state"] == "ARCHIVED"
    with pytest.raises(FakeCalypsoError, match="expired at"):
        await fake.pay(invoice_id, AMOUNT)
    await fake.wait_for_deliveries()
    assert len(expired_events(fake, invoice_id)) == 1
    assert [e["eventType"] for e in receiver.events()] == ["INVOICE_EXPIRED"]


async def test_an_unlimited_invoice_past_its_expiration_takes_no_more_payments(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """A COMPLETED unlimited invoice keeps its state but refuses money once expired."""
    invoice = await client.invoices.create_unlimited(currency="ETH", description="client 1")
    await fake.pay(invoice.id, "0.1")
    await fake.settle(invoice.id)
    fake.clock_skew = MONTH
    with pytest.raises(FakeCalypsoError, match="expired at"):
        await fake.pay(invoice.id, "0.2")
    assert fake.invoice(invoice.id)["state"] == "COMPLETED"
    assert fake.balances == {"ETH": Decimal("0.1")}
