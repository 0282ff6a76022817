"""The aiohttp.web adapter: 2xx only once accepted, 401/400/413 otherwise, replays once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from calypso_async import ConfigurationError, LifecycleError, WebhookEvent, sign, webhook_handler
from tests.inbound.test_parse import EVENT, SUB_SECRET, signed

Post = Callable[..., Any]


class RecordingResolver:
    """Stands in for InterventionResolver.accept."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.submitted: list[WebhookEvent] = []
        self.error = error

    async def accept(self, event: WebhookEvent) -> bool:
        if self.error is not None:
            raise self.error
        self.submitted.append(event)
        return True


async def serve(handler: Any) -> AsyncIterator[Post]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    async with TestServer(app) as server, aiohttp.ClientSession() as http:

        async def post(body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
            async with http.post(server.make_url("/hook"), data=body, headers=headers) as resp:
                return resp.status, await resp.text()

        yield post


@pytest.fixture
def events() -> list[WebhookEvent]:
    return []


@pytest.fixture
async def post(events: list[WebhookEvent]) -> AsyncIterator[Post]:
    async for poster in serve(webhook_handler(SUB_SECRET, on_event=events.append)):
        yield poster


async def test_verified_event_is_handed_over_and_answered_200(post: Post, events: list) -> None:
    """A good delivery reaches the callback, then gets 200."""
    assert await post(EVENT, signed(EVENT)) == (200, "ok")
    assert [e.invoice_id for e in events] == ["d9732536-acdd-41bd-87c3-ec40aeeb6a37"]


async def test_tampered_byte_gets_401_without_detail(post: Post, events: list) -> None:
    """A bad signature is refused with an empty 401 and nothing is processed."""
    headers = signed(EVENT)
    status, text = await post(EVENT.replace(b'"id": 3', b'"id": 8'), headers)
    assert (status, text) == (401, "")
    assert events == []


async def test_signed_garbage_gets_400(post: Post, events: list) -> None:
    """A verified body that is not an event is a 400."""
    assert (await post(b"[]", signed(b"[]")))[0] == 400
    assert events == []


async def test_oversized_body_gets_413_before_parsing(events: list) -> None:
    """Bodies beyond the size limit are refused."""
    body = b'{"eventType": "X", "pad": "' + b"x" * 2048 + b'"}'
    handler = webhook_handler(SUB_SECRET, on_event=events.append, max_body_size=1024)
    async for post in serve(handler):
        assert (await post(body, signed(body)))[0] == 413
    assert events == []


async def test_replayed_event_is_answered_but_processed_once(post: Post, events: list) -> None:
    """The same event id delivered again is acknowledged without a second hand-over."""
    for _ in range(3):
        assert (await post(EVENT, signed(EVENT)))[0] == 200
    assert len(events) == 1


async def test_replay_memory_is_bounded() -> None:
    """Only the newest event ids are remembered."""
    seen: list[WebhookEvent] = []
    handler = webhook_handler(SUB_SECRET, on_event=seen.append, replay_cache_size=2)
    async for post in serve(handler):
        bodies = [EVENT.replace(b'"id": 3', f'"id": {n}'.encode()) for n in range(4)]
        for body in bodies:
            await post(body, signed(body))
        await post(bodies[0], signed(bodies[0]))  # forgotten: processed again
        await post(bodies[3], signed(bodies[3]))  # remembered: not processed
    assert [e.id for e in seen] == ["0", "1", "2", "3", "0"]


async def test_failing_callback_gets_500_so_calypso_retries() -> None:
    """An exception in the callback is not acknowledged, and the retry is processed."""
    calls: list[str | None] = []

    async def flaky(event: WebhookEvent) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("database down")

    async for post in serve(webhook_handler(SUB_SECRET, on_event=flaky)):
        assert (await post(EVENT, signed(EVENT)))[0] == 500
        assert (await post(EVENT, signed(EVENT)))[0] == 200
    assert calls == ["3", "3"]


async def test_intervention_events_are_submitted_to_the_resolver() -> None:
    """Only INVOICE_PENDING_INTERVENTION goes to the resolver; others are acknowledged."""
    resolver = RecordingResolver()
    other = EVENT.replace(
        b'"eventType": "INVOICE_PENDING_INTERVENTION"', b'"eventType": "INVOICE_PAID"'
    )
    async for post in serve(webhook_handler(SUB_SECRET, resolver=resolver)):  # type: ignore[arg-type]
        assert (await post(EVENT, signed(EVENT)))[0] == 200
        assert (await post(other, signed(other)))[0] == 200
    assert [e.id for e in resolver.submitted] == ["3"]


@pytest.mark.parametrize("error", [asyncio.QueueFull(), LifecycleError("not running")])
async def test_resolver_that_cannot_accept_gets_503(error: BaseException) -> None:
    """A full or stopped resolver answers 503, so the delivery is retried later."""
    resolver = RecordingResolver(error)
    async for post in serve(webhook_handler(SUB_SECRET, resolver=resolver)):  # type: ignore[arg-type]
        assert (await post(EVENT, signed(EVENT)))[0] == 503


async def test_any_of_several_secrets_verifies(events: list) -> None:
    """Several subscriptions (or a key rotation) can share one endpoint."""
    handler = webhook_handler(["old-secret", SUB_SECRET], on_event=events.append)
    async for post in serve(handler):
        assert (await post(EVENT, {"Sign": sign(EVENT, SUB_SECRET)}))[0] == 200
    assert len(events) == 1


def test_handler_needs_a_secret_and_a_destination() -> None:
    """Misconfiguration is caught when the handler is built."""
    with pytest.raises(ConfigurationError):
        webhook_handler("", on_event=print)
    with pytest.raises(ConfigurationError):
        webhook_handler(SUB_SECRET)


@pytest.mark.parametrize(
    "setting",
    [
        {"max_age": 300},  # seconds where a timedelta is meant
        {"max_age": timedelta(0)},
        {"max_body_size": 0},
        {"max_body_size": "64k"},
        {"replay_cache_size": -1},
    ],
)
def test_a_bad_setting_is_refused_when_the_handler_is_built(setting: dict[str, Any]) -> None:
    """Refused at delivery time instead, it would answer every webhook 500."""
    with pytest.raises(ConfigurationError):
        webhook_handler(SUB_SECRET, on_event=print, **setting)


def test_handler_repr_hides_secrets() -> None:
    """No secret in the handler's repr."""
    assert SUB_SECRET not in repr(webhook_handler(SUB_SECRET, on_event=print))


async def test_copy_arriving_while_the_first_fails_is_not_acknowledged() -> None:
    """The in-flight copy gets 409; when the first copy fails, the next delivery is processed."""
    gate = asyncio.Event()
    calls: list[str | None] = []

    async def failing_once(event: WebhookEvent) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            await gate.wait()
            raise RuntimeError("database down")

    async for post in serve(webhook_handler(SUB_SECRET, on_event=failing_once)):
        first = asyncio.create_task(post(EVENT, signed(EVENT)))
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.01)
        assert (await post(EVENT, signed(EVENT)))[0] == 409
        gate.set()
        assert (await first)[0] == 500
        assert (await post(EVENT, signed(EVENT)))[0] == 200
    assert calls == ["3", "3"]


async def test_stale_event_is_acknowledged_and_dropped_not_401(
    events: list, caplog: pytest.LogCaptureFixture
) -> None:
    """An old but genuine event gets 200 (so Calypso stops retrying it), is logged with
    its id, and is not processed; a forged one still gets 401."""
    handler = webhook_handler(SUB_SECRET, on_event=events.append, max_age=timedelta(hours=1))
    with caplog.at_level(logging.WARNING, logger="calypso_async.webhooks"):
        async for post in serve(handler):
            assert await post(EVENT, signed(EVENT)) == (200, "stale: ignored")
            assert (await post(EVENT, signed(EVENT, "forged")))[0] == 401
    assert events == []
    (record,) = [r for r in caplog.records if "not passed on" in r.getMessage()]
    assert record.calypso_event_id == "3"  # type: ignore[attr-defined]


async def test_stale_intervention_event_still_reaches_the_resolver() -> None:
    """The resolver acts on the invoice's state, so an old intervention event is safe to
    hand over; dropping it would leave the intervention open for good."""
    resolver: Any = RecordingResolver()
    handler = webhook_handler(SUB_SECRET, resolver=resolver, max_age=timedelta(hours=1))
    async for post in serve(handler):
        assert await post(EVENT, signed(EVENT)) == (200, "stale: ignored")
    assert [e.id for e in resolver.submitted] == ["3"]


async def test_stale_intervention_event_the_resolver_cannot_take_gets_503() -> None:
    """A full resolver answers 503 for an old event too, so Calypso delivers it again."""
    resolver: Any = RecordingResolver(asyncio.QueueFull())
    handler = webhook_handler(SUB_SECRET, resolver=resolver, max_age=timedelta(hours=1))
    async for post in serve(handler):
        assert (await post(EVENT, signed(EVENT)))[0] == 503
