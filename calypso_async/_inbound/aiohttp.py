"""An aiohttp.web handler for Calypso webhooks: a thin shell around ``parse_event``.

It answers 2xx only once the event is accepted (handed to the callback, which returned,
or held by the resolver's store), so Calypso delivers again whenever accepting failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Protocol

from aiohttp import web

from .._aio import call_back
from .._core import checks
from .._errors import (
    ConfigurationError,
    DecodeError,
    LifecycleError,
    SignatureVerificationError,
    StaleEventError,
    StoreError,
)
from .._types import EventType, WebhookEvent
from .parse import check_max_age, parse_event, secret_keys

__all__ = ["EventSink", "WebhookHandler", "webhook_handler"]

logger = logging.getLogger("calypso_async.inbound")

EventCallback = Callable[[WebhookEvent], "Awaitable[object] | object"]


class EventSink(Protocol):
    """What takes intervention events off the handler: an ``InterventionResolver``."""

    async def accept(self, event_or_invoice_id: WebhookEvent) -> bool:
        """Return once the event is held (``StoreError`` and friends when it cannot be)."""
        ...


class WebhookHandler:
    """Receives Calypso webhook deliveries in an aiohttp.web application.

    Build it with :func:`webhook_handler`. Answers: 200 once accepted (or a replay of an
    event already accepted, or a genuine event older than ``max_age``, which is logged
    and not passed to ``on_event`` so that Calypso stops sending it, though an old
    intervention event still goes to the resolver, which acts on the invoice's current
    state); 409 for a copy arriving while another copy of the same event is still being
    accepted; 401 with no detail for a missing or wrong signature; 400 for a verified
    body that is not an event; 413 beyond ``max_body_size``; 500 when the callback
    raised and 503 when the resolver cannot take more (Calypso retries all of 409, 500
    and 503).

    With both ``on_event`` and ``resolver``, the callback runs first; if the resolver
    then answers 503, Calypso delivers the event again and the callback runs again for
    it. Make ``on_event`` idempotent (keyed on ``event.id``).
    """

    def __init__(
        self,
        secret_keys: Sequence[str],
        *,
        on_event: EventCallback | None,
        resolver: EventSink | None,
        max_body_size: int,
        max_age: timedelta | None,
        replay_cache_size: int,
    ) -> None:
        self._secret_keys = tuple(secret_keys)
        self._on_event = on_event
        self._resolver = resolver
        self._max_body_size = max_body_size
        self._max_age = max_age
        self._replay_cache_size = replay_cache_size
        self._accepted: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._in_progress: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"WebhookHandler(secret_keys=*** x{len(self._secret_keys)})"

    async def handle(self, request: web.Request) -> web.Response:
        """Handle one delivery (the aiohttp.web request handler)."""
        body = await self._read_body(request)
        if body is None:
            return web.Response(status=413, text="body too large")
        try:
            event = self._parse(body, request)
        except SignatureVerificationError:
            # No detail: a prober learns nothing about why.
            return web.Response(status=401)
        except StaleEventError as exc:
            # Genuine but too old: refusing it would have Calypso retry it for 34 hours
            # and count the refusals toward blocking the subscription.
            return await self._stale(exc.event, exc)
        except DecodeError as exc:
            logger.warning("webhook body refused: %s", exc)
            return web.Response(status=400, text="malformed event")
        replay_key = (event.request_id, event.id)
        if replay_key in self._accepted:
            logger.info("webhook event %s replayed; already accepted", event.id)
            return web.Response(status=200, text="duplicate")
        if replay_key in self._in_progress:
            # Not accepted yet: the first copy may still fail, so this one must not
            # close the delivery. Calypso delivers again later.
            return web.Response(status=409, text="in progress")
        self._in_progress.add(replay_key)
        try:
            status = await self._accept(event)
        finally:
            self._in_progress.discard(replay_key)
        if status == 200:
            self._remember(replay_key)
        return web.Response(status=status, text="ok" if status == 200 else "not accepted")

    async def _stale(self, event: WebhookEvent, why: StaleEventError) -> web.Response:
        logger.warning(
            "webhook event %s not passed on: %s",
            event.id,
            why,
            extra={"calypso_event_id": event.id, "calypso_invoice_id": event.invoice_id},
        )
        # The resolver decides from the invoice's state on the server, so an old
        # intervention event is as good as a fresh one; dropping it would leave the
        # intervention open for good.
        if self._resolver is not None and await self._hand_over(event) != 200:
            return web.Response(status=503, text="not accepted")
        return web.Response(status=200, text="stale: ignored")

    async def _hand_over(self, event: WebhookEvent) -> int:
        if event.event_type is not EventType.INVOICE_PENDING_INTERVENTION:
            return 200
        assert self._resolver is not None
        try:
            await self._resolver.accept(event)
        except (asyncio.QueueFull, LifecycleError, StoreError) as exc:
            logger.error(
                "the resolver cannot take event %s: %s",
                event.id,
                exc or type(exc).__name__,
                extra={"calypso_event_id": event.id, "calypso_invoice_id": event.invoice_id},
            )
            return 503
        return 200

    async def _read_body(self, request: web.Request) -> bytes | None:
        if request.content_length is not None and request.content_length > self._max_body_size:
            return None
        chunks: list[bytes] = []
        size = 0
        while chunk := await request.content.read(65536):
            size += len(chunk)
            if size > self._max_body_size:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, body: bytes, request: web.Request) -> WebhookEvent:
        return parse_event(body, request.headers, self._secret_keys, max_age=self._max_age)

    async def _accept(self, event: WebhookEvent) -> int:
        if self._on_event is not None:
            try:
                await call_back(self._on_event, event)
            except Exception:
                logger.exception("the webhook callback raised for event %s", event.id)
                return 500
        if self._resolver is not None:
            return await self._hand_over(event)
        return 200

    def _remember(self, key: tuple[str, str]) -> None:
        self._accepted[key] = None
        while len(self._accepted) > self._replay_cache_size:
            self._accepted.popitem(last=False)


def webhook_handler(
    secret_key: str | Sequence[str],
    *,
    on_event: EventCallback | None = None,
    resolver: EventSink | None = None,
    max_body_size: int = 64 * 1024,
    max_age: timedelta | None = None,
    replay_cache_size: int = 10_000,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Build an aiohttp.web handler for Calypso webhook deliveries.

    ::

        app.router.add_post("/calypso/webhook", webhook_handler(sub.secret_key, resolver=r))

    Args:
        secret_key: The subscription's ``secretKey``, or several (any may match: for
            several subscriptions or a key rotation).
        on_event: Called (sync or async) with every verified event; the delivery is
            answered 200 only after it returns. Called again for a redelivery when the
            resolver answered 503 (see :class:`WebhookHandler`): keep it idempotent.
        resolver: An ``InterventionResolver``: ``INVOICE_PENDING_INTERVENTION`` events
            are handed to its ``accept()``, and the delivery is answered 200 once the
            resolver's store holds the invoice (503 when it cannot take it).
        max_body_size: Larger bodies are refused with 413 before parsing.
        max_age: Do not pass events older than this to ``on_event`` (see
            ``parse_event``), answering 200 so that Calypso stops delivering them; an
            old ``INVOICE_PENDING_INTERVENTION`` still goes to the resolver, which is
            safe (it acts on the invoice's state). Off by default.
        replay_cache_size: Event ids remembered to answer replays without processing
            them twice (oldest forgotten first).

    Returns:
        The bound ``WebhookHandler.handle`` coroutine method (aiohttp wants a coroutine
        function, not a callable object).
    """
    keys = secret_keys(secret_key)
    if on_event is None and resolver is None:
        raise ConfigurationError("give on_event, resolver, or both")
    checks.integer("max_body_size", max_body_size, least=1)
    checks.integer("replay_cache_size", replay_cache_size, least=0)
    # Checked now: refused later, it would turn every delivery into a 500.
    check_max_age(max_age)
    return WebhookHandler(
        keys,
        on_event=on_event,
        resolver=resolver,
        max_body_size=max_body_size,
        max_age=max_age,
        replay_cache_size=replay_cache_size,
    ).handle
