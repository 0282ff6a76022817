"""Webhook delivery: sign each event with its subscription's secret, POST it, retry.

Events caused by one operation form a batch. One worker delivers batches in order, each
message's first attempt in turn, so a test sees the order Calypso would usually produce;
a failed attempt is retried later by its own task (so later events can overtake it, as
with the real service). Duplicates and shuffling imitate at-least-once, out-of-order
delivery on request.

Retries wait on the fake's clock, so ``FakeCalypso.advance`` brings them forward. As
Calypso publishes: only a ``200`` counts as delivered, and a subscription whose
deliveries fail more than 100 times within 10 minutes with no success is blocked; what
it would have been sent waits, and is sent again once it is unblocked.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import attrs

from .._core import json as _json
from .._core.signing import sign
from ._invoice import InvoiceEvent, wire_date_naive
from ._records import Delivery
from ._subscriptions import FakeSubscription, SubscriptionBook

__all__ = ["BLOCK_AFTER_ERRORS", "BLOCK_WINDOW", "CALYPSO_WEBHOOK_RETRY_DELAYS", "Deliverer"]

logger = logging.getLogger("calypso_async.testing")

_SERVICE = "INVOICE"

BLOCK_AFTER_ERRORS = 100
"""More failed deliveries than this within :data:`BLOCK_WINDOW`, none succeeding, blocks."""
BLOCK_WINDOW = 600.0
"""Seconds (10 minutes) over which failed deliveries count towards blocking."""


def _fibonacci_gaps(count: int, unit: float, cap: float) -> tuple[float, ...]:
    gaps, a, b = [], 1, 2
    for _ in range(count):
        gaps.append(min(unit * a, cap))
        a, b = b, a + b
    return tuple(gaps)


CALYPSO_WEBHOOK_RETRY_DELAYS = _fibonacci_gaps(19, 30.0, 4 * 3600.0)
"""Calypso's published retry schedule, as the fake reads it: 19 retries, 30 s, 60 s,
90 s, 150 s, 240 s, ... (30 s times the Fibonacci numbers), each gap at most 4 h, so
about 32 hours in all ("about 34 hours" in Calypso's words; the docs give no cap)."""


@attrs.frozen
class _Message:
    subscription: FakeSubscription
    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]


_Attempt = tuple[_Message, int]
"""A message and the number of the attempt to make next."""


class Deliverer:
    """Sends invoice events to the matching webhook subscriptions.

    Args:
        subscriptions: Where to look up who wants each event.
        retry_delays: Seconds before each retry of a failed attempt; after the last
            one the message is given up.
        timeout: Seconds one attempt may take.
        rand: Shuffles batches when ``reorder`` is on.
        now: The fake's clock (Unix seconds), which retries and blocking follow.
    """

    def __init__(
        self,
        subscriptions: SubscriptionBook,
        *,
        retry_delays: Sequence[float],
        timeout: float,
        rand: random.Random,
        now: Callable[[], float],
    ) -> None:
        self._subscriptions = subscriptions
        self._now = now
        self._tick = asyncio.Event()
        self._retry_delays = tuple(retry_delays)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._rand = rand
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[list[_Attempt]] = asyncio.Queue()
        self._held: dict[str, list[_Attempt]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self._retries: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.deliveries: list[Delivery] = []
        self.duplicates = 0
        self.reorder = False

    async def start(self) -> None:
        """Open the HTTP session and start the delivery worker."""
        self._http = aiohttp.ClientSession(timeout=self._timeout)
        self._worker = asyncio.create_task(self._work(), name="FakeCalypso webhook delivery")

    async def close(self) -> None:
        """Stop delivering (undelivered events are dropped) and close the session."""
        tasks = [*self._retries, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._retries.clear()
        self._worker = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    def enqueue(self, events: Sequence[InvoiceEvent], *, service: str = _SERVICE) -> None:
        """Queue ``events`` (one batch) for every subscription that wants them.

        ``service`` is the events' ``service`` (``"PAYOUT"`` for payout events, whose
        ``invoice_id`` then holds the payout's id, sent as ``parentExternalId``).
        """
        batch: list[_Attempt] = []
        for event in events:
            for subscription in self._subscriptions.matching(str(event.event_type), service):
                message = self._message(subscription, event, service)
                copies = [(message, 1)] * (1 + self.duplicates)
                if subscription.blocked:
                    self._hold(subscription, *copies)
                else:
                    batch.extend(copies)
        if self.reorder:
            self._rand.shuffle(batch)
        self._send(batch)

    def _send(self, batch: list[_Attempt]) -> None:
        if not batch:
            return
        self._pending += len(batch)
        self._idle.clear()
        self._queue.put_nowait(batch)

    def clock_moved(self) -> None:
        """Wake the retries waiting on the fake's clock: it was moved forward."""
        self._tick.set()
        self._tick = asyncio.Event()

    def block(self, subscription: FakeSubscription) -> None:
        """Block ``subscription``: what it would be sent waits until it is unblocked."""
        subscription.blocked = True

    def unblock(self, subscription: FakeSubscription) -> int:
        """Unblock ``subscription`` and send again what failed or waited; return how many."""
        subscription.blocked = False
        subscription.recent_failures.clear()
        held = self._held.pop(subscription.request_id, [])
        self._send(held)
        return len(held)

    def _hold(self, subscription: FakeSubscription, *attempts: _Attempt) -> None:
        self._held.setdefault(subscription.request_id, []).extend(attempts)

    def held(self, subscription: FakeSubscription) -> int:
        """How many messages wait for ``subscription`` to be unblocked."""
        return len(self._held.get(subscription.request_id, ()))

    def _message(
        self, subscription: FakeSubscription, event: InvoiceEvent, service: str
    ) -> _Message:
        wire = {
            "requestId": subscription.request_id,
            "id": next(self._ids),
            "createdDate": wire_date_naive(event.created),
            "level": str(event.level),
            "service": service,
            "eventType": str(event.event_type),
            "data": {
                "parentExternalId": event.invoice_id,
                "message": event.message,
                "type": str(event.event_type),
                "idempotencyKey": event.idempotency_key,
            },
        }
        body = _json.dumps(wire)
        headers = {
            "Key": subscription.public_key,
            "Sign": sign(body, subscription.secret_key),
            "Content-Type": "application/json",
        }
        return _Message(subscription, wire, body, headers)

    async def wait_idle(self) -> None:
        """Return once nothing is queued, in flight or waiting for a retry."""
        await self._idle.wait()

    async def _work(self) -> None:
        while True:
            batch = await self._queue.get()
            for message, attempt in batch:
                await self._attempt(message, attempt)

    async def _retry(self, message: _Message, attempt: int, due: float) -> None:
        while (left := due - self._now()) > 0:
            tick = self._tick
            try:
                async with asyncio.timeout(left):
                    await tick.wait()
            except TimeoutError:
                pass
        await self._attempt(message, attempt)

    async def _attempt(self, message: _Message, attempt: int) -> None:
        assert self._http is not None
        subscription = message.subscription
        if subscription.blocked:
            self._hold(subscription, (message, attempt))
            self._done()
            return
        status: int | None = None
        error: str | None = None
        try:
            async with self._http.post(
                message.subscription.url,
                data=message.body,
                headers=message.headers,
                allow_redirects=False,
            ) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            error = f"no answer within {self._timeout.total:g} s"
        except Exception as exc:
            # Whatever a receiver does, the worker must live on and count the attempt.
            error = f"{type(exc).__name__}: {exc}"
        if error is None and status != 200:
            error = f"the receiver answered {status} (only a 200 counts)"
        self.deliveries.append(
            Delivery(
                url=message.subscription.url,
                event=message.event,
                body=message.body,
                headers=message.headers,
                status=status,
                error=error,
                attempt=attempt,
                request_id=message.subscription.request_id,
            )
        )
        if error is None:
            subscription.blocked_by_error_count = 0
            subscription.recent_failures.clear()
            self._done()
            return
        subscription.blocked_by_error_count += 1
        now = self._now()
        failures = subscription.recent_failures
        failures.append(now)
        while failures and failures[0] <= now - BLOCK_WINDOW:
            failures.popleft()
        if len(failures) > BLOCK_AFTER_ERRORS and not subscription.blocked:
            logger.warning(
                "webhook subscription %s blocked: %d failed deliveries in %g s",
                subscription.request_id,
                len(failures),
                BLOCK_WINDOW,
            )
            subscription.blocked = True
        if subscription.blocked:
            self._hold(subscription, (message, attempt + 1))
            self._done()
            return
        if attempt > len(self._retry_delays):
            logger.info(
                "webhook %s to %s given up after %d attempts",
                message.event["id"],
                message.subscription.url,
                attempt,
            )
            self._done()
            return
        task = asyncio.create_task(
            self._retry(message, attempt + 1, now + self._retry_delays[attempt - 1]),
            name=f"FakeCalypso webhook retry {message.event['id']}",
        )
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    def _done(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    @property
    def pending(self) -> int:
        """Messages queued, in flight or waiting for a retry."""
        return self._pending
