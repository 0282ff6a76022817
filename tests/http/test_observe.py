"""Event hooks, capture() and the http log lines, as a user of the client sees them."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import pytest

from calypso_async import (
    CalypsoClient,
    CalypsoTimeoutError,
    ConfigurationError,
    NotFoundError,
    RequestEvent,
    ResponseEvent,
    ServerError,
)
from calypso_async.testing import FakeCalypso

from .conftest import CREATE, INVOICE, no_wait


async def test_hooks_see_each_attempt_of_a_retried_call(fake: FakeCalypso) -> None:
    """request, response and retry events, sync and async hooks alike, in order."""
    seen: list[Any] = []

    async def on_response(event: ResponseEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event)

    hooks = {"request": [seen.append], "response": [on_response], "retry": [seen.append]}
    async with fake.client(sleep=no_wait, event_hooks=hooks) as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("1"), currency="USDT", description="order 1", idempotency_key="k-1"
        )
        seen.clear()
        fake.fail(INVOICE, 503, retry_after="1")
        await client.invoices.get(invoice.id)
    kinds = [(type(e).__name__, e.attempt) for e in seen]
    assert kinds == [
        ("RequestEvent", 1),
        ("ResponseEvent", 1),
        ("RetryEvent", 1),
        ("RequestEvent", 2),
        ("ResponseEvent", 2),
    ]
    first, answered = seen[1], seen[4]
    assert (first.status, answered.status) == (503, 200)
    assert answered.path == INVOICE
    assert answered.method == "POST"
    assert answered.duration_ms >= 0
    assert "Date" in answered.headers
    retry = seen[2]
    assert isinstance(retry.error, ServerError)
    assert retry.delay == 1.0  # the server's Retry-After
    assert seen[0].headers == {"Key": "***", "Sign": "***", "Content-Type": "application/json"}


async def test_a_create_reports_its_idempotency_key_and_an_error_its_trace_id(
    fake: FakeCalypso,
) -> None:
    """The key an invoice create sent, and Calypso's traceId of an error answer."""
    seen: list[ResponseEvent] = []
    async with fake.client(event_hooks={"response": [seen.append]}) as client:
        await client.invoices.create_single(
            amount=Decimal("1"), currency="USDT", description="order 1", idempotency_key="k-7"
        )
        with pytest.raises(NotFoundError) as missing:
            await client.invoices.get("no-such-invoice")
    assert seen[0].idempotency_key == "k-7"
    assert seen[0].path == CREATE
    assert seen[1].status == 404
    assert seen[1].trace_id == missing.value.trace_id
    assert seen[1].trace_id


async def test_a_hook_that_raises_is_logged_and_the_call_goes_on(
    fake: FakeCalypso, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken hook never breaks a payment call; it is not silent either."""

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("hook bug")

    async with fake.client(event_hooks={"request": [broken]}) as client:
        balances = await client.account.balances()
    assert balances is not None
    [record] = [r for r in caplog.records if r.name == "calypso_async.http"]
    assert record.levelno == logging.ERROR
    assert "event hook" in record.getMessage()
    assert record.exc_info is not None


@pytest.mark.parametrize(
    "hooks",
    [{"requests": []}, {"retry": print}, {"response": ["not callable"]}, ["request"]],
    ids=["unknown-event", "not-a-list", "not-callable", "not-a-dict"],
)
def test_bad_hooks_are_refused_before_any_io(hooks: Any) -> None:
    """A typo in event_hooks is a ConfigurationError when the client is made."""
    with pytest.raises(ConfigurationError, match="event_hooks"):
        CalypsoClient(api_key="k", secret_key="s", account="a", event_hooks=hooks)


async def test_capture_gives_the_status_and_headers_of_this_tasks_calls(
    fake: FakeCalypso,
) -> None:
    """capture() records the answers of the calls inside it, not another task's."""
    async with fake.client(sleep=no_wait) as client:

        async def elsewhere() -> None:
            for _ in range(3):
                await client.account.balances()

        fake.fail(INVOICE, 503)
        other = asyncio.create_task(elsewhere())
        invoice = await client.invoices.create_single(
            amount=Decimal("1"), currency="USDT", description="order 1"
        )
        with client.capture() as seen:
            await client.invoices.get(invoice.id)
        await other
        with client.capture() as nothing:
            pass
    assert [r.status for r in seen.responses] == [503, 200]
    assert seen.last.status == 200
    assert {r.path for r in seen.responses} == {INVOICE}
    assert "Date" in seen.last.headers
    with pytest.raises(LookupError):
        _ = nothing.last


async def test_retries_log_at_info_and_exhausted_retries_at_warning(
    fake: FakeCalypso, caplog: pytest.LogCaptureFixture
) -> None:
    """An app with no logging set up prints nothing for a retry that worked."""
    caplog.set_level(logging.INFO, logger="calypso_async.http")
    async with fake.client(sleep=no_wait, max_retries=1) as client:
        fake.fail("/api/v1/account", 503)
        await client.account.balances()
        retried = [(r.levelno, r.calypso_attempt) for r in caplog.records]  # type: ignore[attr-defined]
        caplog.clear()
        fake.fail("/api/v1/account", 503, times=2)
        with pytest.raises(ServerError):
            await client.account.balances()
    assert retried == [(logging.INFO, 1)]
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels[0][0] == logging.INFO
    assert levels[-1][0] == logging.WARNING
    assert "failed after 2 attempts" in levels[-1][1]
    assert caplog.records[-1].calypso_status == 503  # type: ignore[attr-defined]


async def test_a_write_whose_answer_was_lost_is_a_warning(
    fake: FakeCalypso, caplog: pytest.LogCaptureFixture
) -> None:
    """return-to-paid is never repeated: a lost answer is worth an operator's look."""
    caplog.set_level(logging.INFO, logger="calypso_async.http")
    async with fake.client(sleep=no_wait, max_retries=0) as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("1"), currency="USDT", description="order 1"
        )
        await fake.pay(invoice.id, Decimal("1.5"))
        fake.drop("/api/v1/invoice/return-to-paid", after_action=True)
        with pytest.raises(Exception):  # noqa: B017, PT011 - the type is the session's business
            await client.invoices.return_to_paid(invoice.id)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "the server may have acted" in record.getMessage()


async def test_a_request_hook_that_uses_up_the_deadline_leaves_the_request_unsent(
    fake: FakeCalypso,
) -> None:
    """Hook time counts in the deadline; what was never sent says so (request_sent False),
    so a write is not mistaken for one that may have landed."""
    now = [0.0]

    async def slow(event: RequestEvent) -> None:
        now[0] += 1.2  # a hook that takes 1.2 s of the call's 1 s

    async with fake.client(
        deadline=1.0, clock=lambda: now[0], event_hooks={"request": [slow]}
    ) as client:
        calls = len(fake.calls)
        with pytest.raises(CalypsoTimeoutError) as late:
            await client.account.balances()
    assert late.value.request_sent is False
    assert "before the request was sent" in str(late.value)
    assert len(fake.calls) == calls


async def test_capture_leaves_out_tasks_started_inside_the_block(fake: FakeCalypso) -> None:
    """A task started in the block inherits its context but is not this task."""
    async with fake.client() as client:
        with client.capture() as seen:
            other = asyncio.create_task(client.account.balances())
            await client.account.balances()
            await other
            await asyncio.gather(client.account.balances())  # gather wraps it in a task
    assert len(seen.responses) == 1
