"""Invoices on the fake through the SDK: idempotency, lookups, payments, interventions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calypso_async import (
    BadRequestError,
    CalypsoClient,
    InterventionType,
    InvoiceState,
    NotFoundError,
)
from calypso_async.testing import FakeCalypso, FakeCalypsoError

AMOUNT = Decimal("10.234")


async def create(client: CalypsoClient, amount: Decimal = AMOUNT, **kwargs: object) -> str:
    invoice = await client.invoices.create_single(
        amount=amount, currency="USDT", description="order 42", **kwargs
    )
    return invoice.id


async def test_create_with_a_used_key_returns_the_same_invoice(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """Idempotency: the same key twice makes one invoice and answers it both times."""
    first = await client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="a", idempotency_key="order-42"
    )
    second = await client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="a", idempotency_key="order-42"
    )
    assert second.id == first.id
    assert len(fake.invoices) == 1


async def test_get_by_id_and_by_idempotency_key(client: CalypsoClient) -> None:
    """Both lookups find the invoice the create answered with."""
    created = await client.invoices.create_single(
        amount=AMOUNT, currency="USDT", description="a", idempotency_key="k-1"
    )
    assert (await client.invoices.get(created.id)).id == created.id
    assert (await client.invoices.get(idempotency_key="k-1")).id == created.id


async def test_unknown_invoice_is_not_found(client: CalypsoClient) -> None:
    """An id the fake never issued is a 404 with code 004."""
    with pytest.raises(NotFoundError) as caught:
        await client.invoices.get("6f0e3d4c-0000-4000-8000-000000000000")
    assert caught.value.error_code == "004"


async def test_invoice_snapshot_is_wire_json(client: CalypsoClient, fake: FakeCalypso) -> None:
    """fake.invoice() gives camelCase keys and exact Decimal money, detached from the fake."""
    invoice_id = await create(client)
    snapshot = fake.invoice(invoice_id)
    assert snapshot["amount"] == AMOUNT
    assert snapshot["state"] == "PENDING_PAYMENT"
    assert snapshot["invoiceAddress"].startswith("0x")
    assert len(snapshot["invoiceAddress"]) == 42
    snapshot["state"] = "COMPLETED"
    assert fake.invoice(invoice_id)["state"] == "PENDING_PAYMENT"


@pytest.mark.parametrize(
    ("paid", "state", "intervention"),
    [
        ("10.234", InvoiceState.PAID, None),
        ("10.23", InvoiceState.PAID, None),
        ("10.00", InvoiceState.PENDING_INTERVENTION, InterventionType.UNDERPAY),
        ("10.50", InvoiceState.PENDING_INTERVENTION, InterventionType.OVERPAY),
    ],
)
async def test_payment_rules_seen_through_the_client(
    client: CalypsoClient,
    fake: FakeCalypso,
    paid: str,
    state: InvoiceState,
    intervention: InterventionType | None,
) -> None:
    """10.23 on 10.234 passes, 10.00 is an underpay, 10.50 an overpay."""
    invoice_id = await create(client)
    answered = await fake.pay(invoice_id, paid)
    invoice = await client.invoices.get(invoice_id)
    assert answered["state"] == invoice.state == state
    assert invoice.intervention_type == intervention
    assert invoice.is_intervention_resolved is (intervention is None)
    assert invoice.total_debit_amount == Decimal(paid)


async def test_overpay_tolerance_accepts_a_small_overpayment() -> None:
    """With 1% tolerance, 10.30 on 10.234 is PAID; 10.40 is still an overpay."""
    async with (
        FakeCalypso(settle_delay=None, overpay_tolerance=Decimal("0.01")) as fake,
        fake.client() as client,
    ):
        a, b = await create(client), await create(client)
        assert (await fake.pay(a, "10.30"))["state"] == "PAID"
        assert (await fake.pay(b, "10.40"))["interventionType"] == "OVERPAY"


async def test_paid_invoice_completes_by_itself_after_the_settle_delay() -> None:
    """PAID turns COMPLETED after settle_delay without anyone asking."""
    async with FakeCalypso(settle_delay=0.01) as fake, fake.client() as client:
        invoice_id = await create(client)
        await fake.pay(invoice_id, AMOUNT)
        done = await client.invoices.wait_for(
            invoice_id, InvoiceState.COMPLETED, timeout=2, interval=0.01
        )
    assert done.state is InvoiceState.COMPLETED


async def test_settle_delay_none_waits_for_settle(client: CalypsoClient, fake: FakeCalypso) -> None:
    """With settle_delay=None a PAID invoice stays PAID until fake.settle()."""
    invoice_id = await create(client)
    await fake.pay(invoice_id, AMOUNT)
    assert (await client.invoices.get(invoice_id)).state is InvoiceState.PAID
    settled = await fake.settle(invoice_id)
    assert settled["state"] == "COMPLETED"
    assert fake.balances == {"USDT": AMOUNT}


async def test_overpaid_intervention_resolved_through_the_api(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """return-to-paid -> PAID (intervention open) -> COMPLETED -> close-intervention."""
    invoice_id = await create(client)
    await fake.pay(invoice_id, "10.50")
    paid = await client.invoices.return_to_paid(invoice_id)
    assert paid.state is InvoiceState.PAID
    assert paid.intervention_type is InterventionType.OVERPAY
    assert paid.is_intervention_resolved is False
    await fake.settle(invoice_id)
    closed = await client.invoices.close_intervention(invoice_id)
    assert closed.state is InvoiceState.COMPLETED
    assert closed.is_intervention_resolved is True
    assert closed.intervention_type is InterventionType.OVERPAY


async def test_illegal_intervention_calls_are_invalid_state(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """Calls out of order are 400 with code 006 and change nothing."""
    invoice_id = await create(client)
    with pytest.raises(BadRequestError) as caught:
        await client.invoices.return_to_paid(invoice_id)
    assert caught.value.error_code == "006"
    await fake.pay(invoice_id, "10.00")
    with pytest.raises(BadRequestError, match="needs COMPLETED"):
        await client.invoices.close_intervention(invoice_id)
    await client.invoices.return_to_paid(invoice_id)
    with pytest.raises(BadRequestError, match="PENDING_INTERVENTION"):
        await client.invoices.return_to_paid(invoice_id)
    await fake.settle(invoice_id)
    await client.invoices.close_intervention(invoice_id)
    with pytest.raises(BadRequestError, match="no open intervention"):
        await client.invoices.close_intervention(invoice_id)


async def test_close_intervention_on_a_plain_completed_invoice_is_refused(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """An exact payment never opened an intervention, so there is nothing to close."""
    invoice_id = await create(client)
    await fake.pay(invoice_id, AMOUNT)
    await fake.settle(invoice_id)
    with pytest.raises(BadRequestError, match="no open intervention"):
        await client.invoices.close_intervention(invoice_id)


async def test_pay_refuses_an_invoice_that_takes_no_payment(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """A second payment into a held intervention is a Python error, not a silent no-op."""
    invoice_id = await create(client)
    await fake.pay(invoice_id, "10.00")
    with pytest.raises(FakeCalypsoError, match="PENDING_INTERVENTION"):
        await fake.pay(invoice_id, "0.234")
    with pytest.raises(FakeCalypsoError, match="not found"):
        await fake.pay("no-such-invoice", "1")
    with pytest.raises(TypeError, match="float"):
        await fake.pay(invoice_id, 10.5)  # type: ignore[arg-type]


async def test_mempool_invoice_still_takes_the_payment(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """MEM_POOL_FOUND is a payable state."""
    invoice_id = await create(client)
    assert (await fake.mempool(invoice_id))["state"] == "MEM_POOL_FOUND"
    assert (await fake.pay(invoice_id, AMOUNT))["state"] == "PAID"


async def test_expired_invoice_is_archived(client: CalypsoClient, fake: FakeCalypso) -> None:
    """expire() ends a pending invoice ARCHIVED; it then takes no payment or expiry."""
    invoice_id = await create(client)
    await fake.expire(invoice_id)
    assert (await client.invoices.get(invoice_id)).state is InvoiceState.ARCHIVED
    with pytest.raises(FakeCalypsoError):
        await fake.pay(invoice_id, AMOUNT)
    with pytest.raises(FakeCalypsoError, match="cannot expire"):
        await fake.expire(invoice_id)
    assert [e["eventType"] for e in fake.events][-1] == "INVOICE_EXPIRED"


async def test_bound_invoice_collects_partial_payments(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """A bound invoice stays PENDING_PAYMENT below its lower bound, PAID at it."""
    invoice = await client.invoices.create_bound(
        lower_bound="5", currency="USDT", description="top-up"
    )
    assert (await fake.pay(invoice.id, "3"))["state"] == "PENDING_PAYMENT"
    assert (await fake.pay(invoice.id, "2"))["state"] == "PAID"
    assert fake.invoice(invoice.id)["totalDebitAmount"] == Decimal(5)


async def test_unlimited_invoice_takes_payment_after_payment(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """Each payment into an unlimited invoice is PAID, then COMPLETED, then more is taken."""
    invoice = await client.invoices.create_unlimited(currency="ETH", description="client 1")
    await fake.pay(invoice.id, "0.1")
    await fake.settle(invoice.id)
    assert (await fake.pay(invoice.id, "0.2"))["state"] == "PAID"
    await fake.settle(invoice.id)
    assert fake.balances == {"ETH": Decimal("0.3")}
    assert (await client.invoices.get(invoice.id)).intervention_type is None


async def test_a_repeated_return_to_paid_can_be_taken_and_counted_as_money_taken(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """Refused by default; with the switch on, taken (200) and counted: a test that must
    not rely on the server refusing a second one sees it as money taken twice."""
    invoice_id = await create(client)
    await fake.pay(invoice_id, "10.50")
    await client.invoices.return_to_paid(invoice_id)
    with pytest.raises(BadRequestError):
        await client.invoices.return_to_paid(invoice_id)
    assert fake.returns_to_paid == {invoice_id: 1}
    fake.accept_repeated_return_to_paid = True
    again = await client.invoices.return_to_paid(invoice_id)
    assert again.state is InvoiceState.PAID
    await fake.settle(invoice_id)
    await client.invoices.return_to_paid(invoice_id)
    assert fake.returns_to_paid == {invoice_id: 3}
    plain = await create(client)
    await fake.pay(plain, "10.234")  # paid exactly: no intervention, nothing to take
    with pytest.raises(BadRequestError):
        await client.invoices.return_to_paid(plain)
