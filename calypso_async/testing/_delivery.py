"""Webhook delivery: sign each event with its subscription's secret, POST it, retry.

Events caused by one operation form a batch. One worker delivers batches in order, each
message's first attempt in turn, so a test sees the order Calypso would usually produce;
a failed attempt is retried later by its own task (so later events can overtake it, as
with the real service). Duplicates and shuffling imitate at-least-once, out-of-order
delivery on request.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Sequence
from typing import Any

import aiohttp
import attrs

from .._core import json as _json
from .._core.signing import sign
from ._invoice import InvoiceEvent, wire_date_naive
from ._records import Delivery
from ._subscriptions import FakeSubscription, SubscriptionBook

__all__ = ["Deliverer"]

logger = logging.getLogger("calypso_async.testing")

_SERVICE = "INVOICE"


@attrs.frozen
class _Message:
    subscription: FakeSubscription
    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]


class Deliverer:
    """Sends invoice events to the matching webhook subscriptions.

    Args:
        subscriptions: Where to look up who wants each event.
        retry_delays: Seconds before each retry of a failed attempt; after the last
            one the message is given up.
        timeout: Seconds one attempt may take.
        rand: Shuffles batches when ``reorder`` is on.
    """

    def __init__(
        self,
        subscriptions: SubscriptionBook,
        *,
        retry_delays: Sequence[float],
        timeout: float,
        rand: random.Random,
    ) -> None:
        self._subscriptions = subscriptions
        self._retry_delays = tuple(retry_delays)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._rand = rand
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[list[_Message]] = asyncio.Queue()
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
        batch: list[_Message] = []
        for event in events:
            for subscription in self._subscriptions.matching(str(event.event_type), service):
                message = self._message(subscription, event, service)
                batch.extend([message] * (1 + self.duplicates))
        if not batch:
            return
        if self.reorder:
            self._rand.shuffle(batch)
        self._pending += len(batch)
        self._idle.clear()
        self._queue.put_nowait(batch)

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
            for message in batch:
                await self._attempt(message, 1)

    async def _retry(self, message: _Message, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._attempt(message, attempt)

    async def _attempt(self, message: _Message, attempt: int) -> None:
        assert self._http is not None
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
        if error is None and status is not None and not 200 <= status < 300:
            error = f"the receiver answered {status}"
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
            message.subscription.blocked_by_error_count = 0
            self._done()
            return
        message.subscription.blocked_by_error_count += 1
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
            self._retry(message, attempt + 1, self._retry_delays[attempt - 1]),
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
