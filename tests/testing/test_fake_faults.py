"""Fault injection, observed the way a user of the SDK would meet it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calypso_async import (
    CalypsoClient,
    CalypsoConnectionError,
    CalypsoTimeoutError,
    DecodeError,
    InvoiceState,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from calypso_async.testing import FakeCalypso

from .conftest import Sleeps

AMOUNT = Decimal("10.234")
GET = "/api/v1/invoice"
CREATE = "/api/v1/invoice/single/create"
RETURN = "/api/v1/invoice/return-to-paid"


async def overpaid(client: CalypsoClient, fake: FakeCalypso) -> str:
    invoice = await client.invoices.create_single(amount=AMOUNT, currency="USDT", description="a")
    await fake.pay(invoice.id, "10.50")
    return invoice.id


async def test_failed_read_is_retried_and_succeeds(
    client: CalypsoClient, fake: FakeCalypso, sleeps: Sleeps
) -> None:
    """Two 503s on a read: the SDK backs off twice and the third attempt answers."""
    invoice_id = await overpaid(client, fake)
    fake.fail(GET, 503, times=2)
    invoice = await client.invoices.get(invoice_id)
    assert invoice.id == invoice_id
    assert [c.status for c in fake.calls_to(GET)] == [503, 503, 200]
    assert fake.calls_to(GET)[0].error_code == "000"
    assert len(sleeps.delays) == 2


async def test_retry_after_is_honoured(
    client: CalypsoClient, fake: FakeCalypso, sleeps: Sleeps
) -> None:
    """A 429 with Retry-After: 3 makes the SDK wait exactly 3 seconds (injected sleep)."""
    invoice_id = await overpaid(client, fake)
    fake.fail(GET, 429, retry_after="3")
    await client.invoices.get(invoice_id)
    assert sleeps.delays == [3.0]


async def test_failures_outlasting_the_retries_raise_a_typed_error(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """More 429s than retries: RateLimitError with the status and the fake's errorCode."""
    fake.fail(GET, 429, times=5)
    with pytest.raises(RateLimitError) as caught:
        await client.invoices.get("anything")
    assert caught.value.error_code == "001"
    assert fake.calls_to(GET)[-1].status == 429
    assert len(fake.calls_to(GET)) == 3  # max_retries=2 by default


async def test_failed_write_is_not_replayed(client: CalypsoClient, fake: FakeCalypso) -> None:
    """A 503 on return-to-paid surfaces at once and the invoice is untouched."""
    invoice_id = await overpaid(client, fake)
    fake.fail(RETURN, 503)
    with pytest.raises(ServerError):
        await client.invoices.return_to_paid(invoice_id)
    assert len(fake.calls_to(RETURN)) == 1
    assert fake.invoice(invoice_id)["state"] == "PENDING_INTERVENTION"


async def test_proxy_html_error_body_still_gives_the_status(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """body= replaces the Calypso error JSON: the SDK still raises a typed 502."""
    fake.fail(GET, 502, body=b"<html>bad gateway</html>", times=3)
    with pytest.raises(ServerError) as caught:
        await client.invoices.get("anything")
    assert caught.value.status == 502
    assert caught.value.error_code is None


async def test_empty_200_is_a_decode_error(client: CalypsoClient, fake: FakeCalypso) -> None:
    """An empty 200 where an invoice was promised is a DecodeError, not a crash."""
    invoice_id = await overpaid(client, fake)
    fake.fail(GET, 200, body=b"")
    with pytest.raises(DecodeError):
        await client.invoices.get(invoice_id)


async def test_garbage_answer_hides_a_write_that_happened(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """garbage() acts first: the client sees a DecodeError, the invoice moved to PAID."""
    invoice_id = await overpaid(client, fake)
    fake.garbage(RETURN)
    with pytest.raises(DecodeError):
        await client.invoices.return_to_paid(invoice_id)
    assert fake.invoice(invoice_id)["state"] == "PAID"
    assert fake.calls_to(RETURN)[0].status == 200


async def test_drop_before_action_is_retried_safely_for_keyed_creates(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """A dropped create carrying its idempotency key is retried: one invoice results."""
    fake.drop(CREATE)
    invoice = await client.invoices.create_single(amount=AMOUNT, currency="USDT", description="a")
    calls = fake.calls_to(CREATE)
    assert [(c.status, c.dropped) for c in calls] == [(None, True), (200, False)]
    assert calls[0].payload == calls[1].payload
    assert [i["id"] for i in fake.invoices] == [invoice.id]


async def test_drop_after_action_is_the_lost_response(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """return-to-paid applied, then the connection closed: the client cannot know."""
    invoice_id = await overpaid(client, fake)
    fake.drop(RETURN, after_action=True)
    with pytest.raises(CalypsoConnectionError):
        await client.invoices.return_to_paid(invoice_id)
    assert fake.invoice(invoice_id)["state"] == "PAID"
    (call,) = fake.calls_to(RETURN)
    assert (call.status, call.dropped, call.payload) == (None, True, {"id": invoice_id})
    assert (await client.invoices.get(invoice_id)).state is InvoiceState.PAID


async def test_drop_before_action_changes_nothing(client: CalypsoClient, fake: FakeCalypso) -> None:
    """Dropped before acting: the write did not happen."""
    invoice_id = await overpaid(client, fake)
    fake.drop(RETURN)
    with pytest.raises(CalypsoConnectionError):
        await client.invoices.return_to_paid(invoice_id)
    assert fake.invoice(invoice_id)["state"] == "PENDING_INTERVENTION"


async def test_delay_past_the_client_timeout_is_a_timeout_after_the_write(
    fake: FakeCalypso,
) -> None:
    """A slow answer times the client out; by default the write was still made."""
    async with fake.client(timeout=0.05, max_retries=0) as client:
        invoice_id = await overpaid(client, fake)
        fake.delay(RETURN, 1.0)
        with pytest.raises(CalypsoTimeoutError):
            await client.invoices.return_to_paid(invoice_id)
    assert fake.invoice(invoice_id)["state"] == "PAID"


async def test_delay_before_action_answers_late_but_correctly(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """A short delay before acting only slows the answer down."""
    invoice_id = await overpaid(client, fake)
    fake.delay(RETURN, 0.02, after_action=False)
    assert (await client.invoices.return_to_paid(invoice_id)).state is InvoiceState.PAID


async def test_faults_queued_for_a_path_are_used_in_order(
    client: CalypsoClient, fake: FakeCalypso, sleeps: Sleeps
) -> None:
    """FIFO: the first fault is used for its `times` calls, then the next one."""
    invoice_id = await overpaid(client, fake)
    fake.fail(GET, 503, times=1)
    fake.fail(GET, 504, times=1)
    await client.invoices.get(invoice_id)
    assert [c.status for c in fake.calls_to(GET)] == [503, 504, 200]
    # Faults are per path: other paths were not touched.
    assert all(c.status == 200 for c in fake.calls_to(CREATE))


async def test_latency_slows_every_answer() -> None:
    """latency= is added to each API answer."""
    import time

    async with FakeCalypso(latency=0.05) as fake, fake.client() as client:
        started = time.monotonic()
        await client.account.balances()
        assert time.monotonic() - started >= 0.05


async def test_bad_fault_arguments_are_refused(fake: FakeCalypso) -> None:
    """Mistakes in a test's fault setup fail loudly, not silently."""
    with pytest.raises(ValueError, match="times"):
        fake.fail(GET, times=0)
    with pytest.raises(ValueError, match="status"):
        fake.fail(GET, 42)
    with pytest.raises(ValueError, match="path"):
        fake.drop("api/v1/invoice")
    with pytest.raises(ValueError, match="seconds"):
        fake.delay(GET, -1)
    for copies in (-1, True, "2"):
        with pytest.raises(ValueError, match="duplicate_deliveries"):
            fake.duplicate_deliveries = copies  # type: ignore[assignment]
    assert fake.duplicate_deliveries == 0


async def test_pending_faults_count_down_as_calls_use_them(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """pending_faults() tells a test whether its fault was actually met."""
    fake.fail(GET, 503, times=2)
    fake.drop(RETURN)
    assert (fake.pending_faults(), fake.pending_faults(GET)) == (3, 2)
    with pytest.raises(NotFoundError):
        await client.invoices.get("x")  # three attempts: two 503s, then a 404
    assert fake.pending_faults(GET) == 0
    fake.clear_faults()
    assert fake.pending_faults() == 0


async def test_a_fault_can_wait_for_one_http_method(
    client: CalypsoClient, fake: FakeCalypso
) -> None:
    """method='DELETE' on the webhook path spares the list (POST) and hits the delete."""
    path = "/api/v1/subscription/webhook"
    await client.webhooks.create(url="http://127.0.0.1:9/h", event_types=["X"], request_id="s")
    fake.fail(path, 503, method="delete")
    assert [s.request_id for s in await client.webhooks.list()] == ["s"]
    assert fake.pending_faults(path) == 1
    await client.webhooks.delete("s")  # a delete is safe to retry
    assert [(c.method, c.status) for c in fake.calls_to(path)] == [
        ("POST", 200),
        ("DELETE", 503),
        ("DELETE", 200),
    ]
    fake.drop(path, method="POST")
    fake.fail(path, 500)  # no method: the next call of any kind, behind the POST fault
    with pytest.raises(ServerError):
        await client.session.call(path, None, method="DELETE", retry=False)
    assert fake.pending_faults(path) == 1
    with pytest.raises(ValueError, match="method"):
        fake.fail(path, method="DE LETE")
