"""The fake's moving parts in one place: books, clock, settlement timers and deliveries.

The HTTP layer and the ``FakeCalypso`` facade both act through this object, so a payment
simulated in Python and a ``return-to-paid`` received over HTTP follow the same path:
archive the invoice if its expiration has passed, change the book, then
:meth:`Engine.commit` the events (deliver them, start settlement).

Expiry is lazy: an invoice past its expiration is archived (``INVOICE_EXPIRED``) the
next time anything reads or acts on it, so it needs no timer and follows ``clock_skew``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .._errors import LifecycleError
from .._types import EventType, InvoiceState
from ._customers import CustomerBook
from ._delivery import Deliverer
from ._exchange import ExchangeBook
from ._faults import FaultPlan
from ._invoice import FakeInvoice, InvoiceDraft, InvoiceEvent, wire_date_naive
from ._payout import PayoutBook
from ._records import RecordedCall
from ._state import InvoiceBook
from ._subscriptions import SubscriptionBook

__all__ = ["Engine"]

logger = logging.getLogger("calypso_async.testing")


class Engine:
    """State and background work of one fake server (see ``FakeCalypso`` for the args)."""

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        account: str,
        settle_delay: float | None,
        overpay_tolerance: Decimal,
        latency: float,
        clock_skew: float,
        timestamp_window: float,
        webhook_retry_delays: Sequence[float],
        webhook_timeout: float,
        fiat_rates: Mapping[tuple[str, str], Decimal],
        seed: int | None,
    ) -> None:
        self.api_key = api_key
        self.secret_key = secret_key
        self.account = account
        self.settle_delay = settle_delay
        self.latency = latency
        self.clock_skew = clock_skew
        self.timestamp_window = timestamp_window
        self.book = InvoiceBook(overpay_tolerance=overpay_tolerance, fiat_rates=fiat_rates)
        self.payouts = PayoutBook(account, self.book.balances)
        self.payout_step_delay: float | None = 0.05
        self.exchanges = ExchangeBook(account=account, balances=self.book.balances)
        self.customers = CustomerBook(balances=self.book.balances)
        self.subscriptions = SubscriptionBook()
        self.faults = FaultPlan()
        self.calls: list[RecordedCall] = []
        self.events: list[dict[str, Any]] = []
        self.deliverer = Deliverer(
            self.subscriptions,
            retry_delays=webhook_retry_delays,
            timeout=webhook_timeout,
            rand=random.Random(seed),
            now=self.now,
        )
        self.advanced = 0.0
        self._settling: dict[str, asyncio.Task[None]] = {}
        self._closing = asyncio.Event()
        self.running = False

    def now(self) -> float:
        """The fake's Unix time in seconds, for expiry, dates, retries and blocking.

        The local clock plus ``clock_skew``, plus the time :meth:`advance` made pass.
        """
        return time.time() + self.clock_skew + self.advanced

    def wall(self) -> float:
        """The clock requests are checked against and the ``Date`` header tells.

        The local clock plus ``clock_skew``, unmoved by :meth:`advance`.
        """
        return time.time() + self.clock_skew

    def advance(self, seconds: float) -> None:
        """Make ``seconds`` pass on the fake's clock: due webhook retries go out."""
        self.advanced += seconds
        self.deliverer.clock_moved()

    def utcnow(self) -> datetime:
        """The fake's time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)

    async def start(self) -> None:
        """Start the delivery worker."""
        self._closing.clear()
        await self.deliverer.start()
        self.running = True

    async def close(self) -> None:
        """Wake every pause, cancel settlement timers and stop deliveries."""
        self.running = False
        self._closing.set()
        timers = list(self._settling.values())
        self._settling.clear()
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        await self.deliverer.close()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the fake is closing meanwhile."""
        if seconds <= 0:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            pass

    async def wait_quiet(self, timeout: float, *, settlements: bool = True) -> None:
        """Wait until no delivery is pending and, with ``settlements``, no settle timer.

        Raises:
            TimeoutError: Something was still pending after ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                # A settlement sends an event, and a delivery may be retried: loop until
                # both are quiet at the same moment.
                while True:
                    timers = list(self._settling.values()) if settlements else []
                    if timers:
                        await asyncio.wait(timers)
                    await self.deliverer.wait_idle()
                    if not (settlements and self._settling):
                        return
        except TimeoutError:
            pending = []
            if self.deliverer.pending:
                pending.append(f"{self.deliverer.pending} webhook deliveries")
            if settlements and self._settling:
                pending.append(f"{len(self._settling)} settlement(s)")
            raise TimeoutError(
                f"{' and '.join(pending)} still pending after {timeout:g} s"
            ) from None

    def require_running(self) -> None:
        """Raise ``LifecycleError`` (a ``RuntimeError``) unless the fake is started."""
        if not self.running:
            raise LifecycleError("FakeCalypso is not running: use 'async with' or await start()")

    def commit(self, events: Sequence[InvoiceEvent]) -> None:
        """Log ``events``, send them to subscribers and start settling what became PAID."""
        for event in events:
            self.events.append(
                {
                    "eventType": str(event.event_type),
                    "level": str(event.level),
                    "invoiceId": event.invoice_id,
                    "idempotencyKey": event.idempotency_key,
                    "message": event.message,
                    "createdDate": wire_date_naive(event.created),
                }
            )
            if event.event_type is EventType.INVOICE_PAID:
                self._schedule_settle(event.invoice_id)
        # A request finishing while the fake closes must not start work nobody awaits.
        if self.running:
            self.deliverer.enqueue(events)

    def publish(self, events: Sequence[InvoiceEvent], *, service: str) -> None:
        """Send events of another service than invoices (``"PAYOUT"``) to subscribers."""
        if self.running:
            self.deliverer.enqueue(events, service=service)

    def schedule(self, key: str, delay: float, step: Callable[[], None]) -> None:
        """Run ``step`` in ``delay`` seconds, as settlements run.

        ``wait_quiet`` waits for it and closing cancels it; a later call with the same
        ``key`` replaces it.
        """
        if not self.running:
            return
        previous = self._settling.pop(key, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._run_later(key, delay, step), name=f"FakeCalypso {key}")
        self._settling[key] = task

    async def _run_later(self, key: str, delay: float, step: Callable[[], None]) -> None:
        await asyncio.sleep(delay)
        if self._settling.get(key) is asyncio.current_task():
            del self._settling[key]
        step()

    def _schedule_settle(self, invoice_id: str) -> None:
        if self.settle_delay is None or not self.running:
            return
        previous = self._settling.pop(invoice_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(
            self._settle_later(invoice_id, self.settle_delay),
            name=f"FakeCalypso settle {invoice_id}",
        )
        self._settling[invoice_id] = task

    async def _settle_later(self, invoice_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._settling.get(invoice_id) is asyncio.current_task():
            del self._settling[invoice_id]
        if self.book.find(invoice_id).state is InvoiceState.PAID:
            self.commit(self.book.settle(invoice_id, self.utcnow()))

    # -- invoices: every read and action archives what has expired first -----------

    def find(self, invoice_id: str) -> FakeInvoice:
        """Return an invoice, archived first if its expiration has passed (404 if none)."""
        self.commit(self.book.expire_due(invoice_id, self.utcnow()))
        return self.book.find(invoice_id)

    def find_by_key(self, idempotency_key: str) -> FakeInvoice:
        """Return the invoice created with ``idempotency_key``, as :meth:`find` does."""
        return self.find(self.book.find_by_key(idempotency_key).id)

    def all_invoices(self) -> list[FakeInvoice]:
        """Every invoice, oldest first, each archived first if it has expired."""
        return [self.find(invoice_id) for invoice_id in list(self.book.invoices)]

    def invoice_json(self, invoice_id: str) -> dict[str, Any]:
        """Return an invoice's wire JSON, or raise ``FakeCalypsoError`` (404)."""
        return self.find(invoice_id).to_wire()

    def create(self, draft: InvoiceDraft) -> FakeInvoice:
        """Create an invoice (or find the one its idempotency key made)."""
        invoice, events = self.book.create(draft, self.utcnow())
        self.commit(events)
        return self.find(invoice.id)

    def pay(self, invoice_id: str, amount: Decimal) -> None:
        """Record a payment and apply the payment rules."""
        self.find(invoice_id)
        self.commit(self.book.pay(invoice_id, amount, self.utcnow()))

    def mempool(self, invoice_id: str) -> None:
        """Mark a pending invoice's payment as seen in the mempool."""
        self.find(invoice_id)
        self.commit(self.book.mempool(invoice_id, self.utcnow()))

    def return_to_paid(self, invoice_id: str) -> None:
        """Accept an intervention's money: ``PENDING_INTERVENTION`` -> ``PAID``."""
        self.find(invoice_id)
        self.commit(self.book.return_to_paid(invoice_id, self.utcnow()))

    def close_intervention(self, invoice_id: str) -> None:
        """Mark a ``COMPLETED`` invoice's open intervention resolved."""
        self.find(invoice_id)
        self.book.close_intervention(invoice_id)

    def settle_now(self, invoice_id: str) -> None:
        """Settle a ``PAID`` invoice at once, cancelling its timer."""
        self.find(invoice_id)
        events = self.book.settle(invoice_id, self.utcnow())
        timer = self._settling.pop(invoice_id, None)
        if timer is not None:
            timer.cancel()
        self.commit(events)

    def expire(self, invoice_id: str) -> None:
        """Expire an invoice still waiting for its money (``ARCHIVED``)."""
        self.find(invoice_id)
        self.commit(self.book.expire(invoice_id, self.utcnow()))
