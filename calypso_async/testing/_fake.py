"""``FakeCalypso``: the embedded fake server, and what a test does with it."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Self

from .._client import CalypsoClient
from .._core import checks
from .._errors import ConfigurationError, LifecycleError
from ._currencies import lever_decimal
from ._engine import Engine
from ._faults import FaultInjection
from ._payout_levers import PayoutLevers
from ._purse_levers import CustomerLevers, ExchangeLevers
from ._records import Delivery, RecordedCall, WrongType
from ._rules import FAKE_FIAT_RATES
from ._server import FakeServer
from ._webhook_levers import WebhookLevers

__all__ = ["FakeCalypso"]


def _seconds(name: str, value: float, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WrongType(f"{name} must be a number of seconds")
    return checks.seconds(name, value, allow_zero=not positive)


def _skew(value: float) -> float:
    # NaN or infinity would make every timestamp check, and so every request, fail.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError("clock_skew must be a finite number of seconds (may be negative)")
    return float(value)


class FakeCalypso(WebhookLevers, PayoutLevers, ExchangeLevers, CustomerLevers, FaultInjection):
    """A real aiohttp.web server on loopback speaking the Calypso 2.0 wire protocol.

    It checks keys, signatures, timestamps and accounts as Calypso does, keeps invoices
    and webhook subscriptions in memory, applies the payment and intervention rules,
    delivers signed webhooks, and records every call, so tests can drive a real
    :class:`~calypso_async.CalypsoClient` end to end and inject faults::

        async with FakeCalypso(settle_delay=None) as fake:
            async with fake.client() as client:
                invoice = await client.invoices.create_single(
                    amount=Decimal("10.234"), currency="USDT", description="order 42"
                )
                await fake.pay(invoice.id, "10.00")  # an underpay: PENDING_INTERVENTION

    Where the Calypso docs are silent, the fake chooses (and the tests pin): an unknown
    invoice is a 404 ``004``; an illegal transition a 400 ``006``; a bad payload field
    a 400 ``001`` whose message names it (refusals carry Calypso's published codes);
    ``isInterventionResolved`` is ``true`` until an intervention opens; single-fiat
    amounts come from :data:`FAKE_FIAT_RATES`; an unlimited invoice goes ``PAID`` then
    ``COMPLETED`` on each payment and keeps accepting more; only an invoice still waiting
    for its money (``PENDING_PAYMENT`` or ``MEM_POOL_FOUND``) expires, to ``ARCHIVED``,
    either when :meth:`expire` is called or the first time anything reads or acts on it
    once its ``expiration`` has passed on the fake's clock (there is no timer), and past
    its expiration no invoice takes a payment. Webhooks follow Calypso's delivery rules
    (only a 200 counts; more than 100 failures in 10 minutes block a subscription, see
    :meth:`unblock_subscription`), with fast retries unless ``webhook_retry_delays`` is
    :data:`CALYPSO_WEBHOOK_RETRY_DELAYS`; :meth:`advance` moves the fake's clock.

    Args:
        api_key: The API key it accepts; random hex when ``None``.
        secret_key: The secret that signs requests; random hex when ``None``.
        account: The merchant account id; ``0x`` + 40 random hex when ``None``.
        host: The address to listen on: loopback by default. ``"0.0.0.0"`` serves every
            interface (and anyone who can reach them), yet :attr:`base_url` still names
            ``127.0.0.1``.
        port: The port; ``0`` picks a free one (read :attr:`base_url`).
        settle_delay: Seconds a ``PAID`` invoice waits before ``COMPLETED``; ``None``
            means never by itself (call :meth:`settle`).
        overpay_tolerance: The fraction of the amount a payment may exceed it by and
            still be exact, such as ``Decimal("0.01")``.
        latency: Seconds added before every API answer.
        clock_skew: Seconds added to the fake's clock (finite, may be negative), for the
            timestamp check, the ``Date`` header it sends and invoice expiry.
        timestamp_window: Seconds a request timestamp may be off (180, as Calypso).
        webhook_retry_delays: Seconds (on the fake's clock) before each retry of a
            failed delivery; after the last one the event is given up. The default is
            quick for tests; :data:`CALYPSO_WEBHOOK_RETRY_DELAYS` is Calypso's own (19
            retries over about 32 h), to step through with :meth:`advance`.
        webhook_timeout: Seconds a webhook receiver has to answer.
        seed: Seeds the shuffling of :attr:`reorder_deliveries`.
        fiat_rates: Crypto per fiat unit for ``single-fiat`` invoices, keyed
            ``(fiatCurrency, currency)``; :data:`FAKE_FIAT_RATES` by default.
        accept_repeated_return_to_paid: Answer a return-to-paid for an invoice already
            returned to paid (``PAID`` or ``COMPLETED``) with 200 instead of a 400, and
            count it in :attr:`returns_to_paid`, as money taken twice. Calypso does not
            document what it does: a test that must not rely on the server refusing a
            second one turns this on.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        account: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        settle_delay: float | None = 0.05,
        overpay_tolerance: Decimal | str | int = Decimal("0"),
        latency: float = 0.0,
        clock_skew: float = 0.0,
        timestamp_window: float = 180.0,
        webhook_retry_delays: Sequence[float] = (0.05, 0.1, 0.2, 0.4),
        webhook_timeout: float = 5.0,
        seed: int | None = None,
        fiat_rates: Mapping[tuple[str, str], Decimal] = FAKE_FIAT_RATES,
        accept_repeated_return_to_paid: bool = False,
    ) -> None:
        tolerance = lever_decimal("overpay_tolerance", overpay_tolerance)
        if not tolerance.is_finite() or tolerance < 0:
            raise ConfigurationError("overpay_tolerance must be a fraction of 0 or more")
        self._host = host
        self._port = port
        self._engine = Engine(
            api_key=api_key or secrets.token_hex(16),
            secret_key=secret_key or secrets.token_hex(16),
            account=account or "0x" + secrets.token_hex(20),
            settle_delay=None if settle_delay is None else _seconds("settle_delay", settle_delay),
            overpay_tolerance=tolerance,
            latency=_seconds("latency", latency),
            clock_skew=_skew(clock_skew),
            timestamp_window=_seconds("timestamp_window", timestamp_window, positive=True),
            webhook_retry_delays=[
                _seconds("webhook_retry_delays", d) for d in webhook_retry_delays
            ],
            webhook_timeout=_seconds("webhook_timeout", webhook_timeout, positive=True),
            fiat_rates=fiat_rates,
            seed=seed,
        )
        self._engine.book.accept_repeated_return_to_paid = bool(accept_repeated_return_to_paid)
        self._faults = self._engine.faults
        self._server = FakeServer(self._engine)
        self._started = False

    def __repr__(self) -> str:
        where = self._server.base_url or "not started"
        return f"FakeCalypso({where}, account={self.account!r})"

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening and delivering webhooks.

        Raises:
            LifecycleError: It was already started (a ``RuntimeError``).
            OSError: The port is taken.
        """
        if self._started:
            raise LifecycleError("this FakeCalypso was already started; create a new one")
        self._started = True
        await self._engine.start()
        try:
            await self._server.start(self._host, self._port)
        except BaseException:
            await self._engine.close()
            raise

    async def close(self) -> None:
        """Stop: cancel settlement timers and pending deliveries, close every connection."""
        await self._engine.close()
        await self._server.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- connection details ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the host it listens on), once started."""
        if not self._server.base_url:
            raise LifecycleError("FakeCalypso is not started yet")
        return self._server.base_url

    @property
    def api_key(self) -> str:
        """The API key the fake accepts."""
        return self._engine.api_key

    @property
    def secret_key(self) -> str:
        """The API secret the fake verifies ``Sign`` with."""
        return self._engine.secret_key

    @property
    def account(self) -> str:
        """The merchant account id the fake expects in every envelope."""
        return self._engine.account

    def client(self, **options: Any) -> CalypsoClient:
        """Return a :class:`~calypso_async.CalypsoClient` pointed at this fake.

        Args:
            **options: Any keyword argument of ``CalypsoClient`` (``sleep=``,
                ``max_retries=``, ``timeout=``...); ``api_key``, ``secret_key`` and
                ``account`` override the fake's own, to test refusals.

        The caller closes it (``async with fake.client() as client:``).
        """
        settings: dict[str, Any] = {
            "api_key": self.api_key,
            "secret_key": self.secret_key,
            "account": self.account,
            "base_url": self.base_url,
        }
        settings.update(options)
        return CalypsoClient(**settings)

    # -- settings that may change while running --------------------------------------

    @property
    def latency(self) -> float:
        """Seconds added before every API answer."""
        return self._engine.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._engine.latency = _seconds("latency", seconds)

    @property
    def clock_skew(self) -> float:
        """Seconds added to the fake's clock."""
        return self._engine.clock_skew

    @clock_skew.setter
    def clock_skew(self, seconds: float) -> None:
        self._engine.clock_skew = _skew(seconds)

    @property
    def accept_repeated_return_to_paid(self) -> bool:
        """Whether a second return-to-paid for an invoice is taken (and counted)."""
        return self._engine.book.accept_repeated_return_to_paid

    @accept_repeated_return_to_paid.setter
    def accept_repeated_return_to_paid(self, on: bool) -> None:
        self._engine.book.accept_repeated_return_to_paid = bool(on)

    @property
    def returns_to_paid(self) -> dict[str, int]:
        """Return-to-paid calls the fake carried out, per invoice id (the money taken)."""
        return dict(self._engine.book.returns_to_paid)

    @property
    def duplicate_deliveries(self) -> int:
        """Extra copies sent of every webhook event (0: each is sent once)."""
        return self._engine.deliverer.duplicates

    @duplicate_deliveries.setter
    def duplicate_deliveries(self, copies: int) -> None:
        self._engine.deliverer.duplicates = checks.integer("duplicate_deliveries", copies)

    @property
    def reorder_deliveries(self) -> bool:
        """Whether events caused together are delivered in a shuffled (seeded) order."""
        return self._engine.deliverer.reorder

    @reorder_deliveries.setter
    def reorder_deliveries(self, on: bool) -> None:
        self._engine.deliverer.reorder = bool(on)

    # -- simulating the outside world ------------------------------------------------

    async def pay(self, invoice_id: str, amount: Decimal | str | int) -> dict[str, Any]:
        """Simulate a payment of ``amount`` into an invoice, then apply the rules.

        SINGLE and SINGLE_FIAT: less than 0.995 of the amount -> ``PENDING_INTERVENTION``
        (``UNDERPAY``); more than ``amount * (1 + overpay_tolerance)`` ->
        ``PENDING_INTERVENTION`` (``OVERPAY``); else ``PAID`` (then ``COMPLETED`` after
        ``settle_delay``). BOUND: ``PAID`` once the total reaches ``lowerBound``.
        UNLIMITED: every payment is ``PAID``.

        Returns:
            The invoice's wire JSON after the rules applied.

        Raises:
            FakeCalypsoError: Unknown invoice, past its expiration, or a state that takes
                no payment; ``amount`` not positive, or with more decimals than the
                currency's ``scale`` (400 ``001``).
            ConfigurationError: ``amount`` is a float (also a ``TypeError``) or not a
                number.
        """
        self._engine.require_running()
        value = lever_decimal("amount", amount)
        self._engine.pay(invoice_id, value)
        return self._engine.invoice_json(invoice_id)

    async def mempool(self, invoice_id: str) -> dict[str, Any]:
        """Simulate a payment seen in the mempool: ``PENDING_PAYMENT`` -> ``MEM_POOL_FOUND``."""
        self._engine.require_running()
        self._engine.mempool(invoice_id)
        return self._engine.invoice_json(invoice_id)

    async def settle(self, invoice_id: str) -> dict[str, Any]:
        """Move a ``PAID`` invoice to ``COMPLETED`` now, crediting the account.

        Raises:
            FakeCalypsoError: Unknown invoice, or not ``PAID``.
        """
        self._engine.require_running()
        self._engine.settle_now(invoice_id)
        return self._engine.invoice_json(invoice_id)

    async def expire(self, invoice_id: str) -> dict[str, Any]:
        """Expire an invoice now: it ends ``ARCHIVED`` (event ``INVOICE_EXPIRED``).

        Only ``PENDING_PAYMENT`` and ``MEM_POOL_FOUND`` invoices expire: a ``PAID``
        invoice settles, and a held intervention stays ``PENDING_INTERVENTION``.

        Raises:
            FakeCalypsoError: Unknown invoice, or in a state that does not expire.
        """
        self._engine.require_running()
        self._engine.expire(invoice_id)
        return self._engine.invoice_json(invoice_id)

    # -- looking inside --------------------------------------------------------------

    def invoice(self, invoice_id: str) -> dict[str, Any]:
        """Return a snapshot of an invoice as its wire JSON (camelCase, ``Decimal``).

        Raises:
            FakeCalypsoError: No such invoice (status 404).
        """
        return self._engine.invoice_json(invoice_id)

    @property
    def invoices(self) -> list[dict[str, Any]]:
        """Snapshots of every invoice, oldest first."""
        return [invoice.to_wire() for invoice in self._engine.all_invoices()]

    @property
    def subscriptions(self) -> list[dict[str, Any]]:
        """Every webhook subscription as its wire JSON (secret key included)."""
        return [s.to_wire() for s in self._engine.subscriptions.subscriptions.values()]

    @property
    def balances(self) -> dict[str, Decimal]:
        """What ``COMPLETED`` invoices credited to the account, per currency."""
        return dict(self._engine.book.balances)

    @property
    def calls(self) -> list[RecordedCall]:
        """Every API request received, in order (refused and dropped ones included)."""
        return list(self._engine.calls)

    def calls_to(self, path: str) -> list[RecordedCall]:
        """The recorded requests to ``path``, such as ``"/api/v1/invoice/return-to-paid"``."""
        return [call for call in self._engine.calls if call.path == path]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every invoice event raised, subscribed to or not, in order.

        Each is ``{eventType, level, invoiceId, idempotencyKey, message, createdDate}``.
        """
        return list(self._engine.events)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery attempt made, in order of completion."""
        return list(self._engine.deliverer.deliveries)

    async def wait_for_deliveries(self, timeout: float = 5.0, *, settlements: bool = True) -> None:
        """Wait until the fake has sent every webhook its current state leads to.

        That is: no delivery queued, in flight or waiting for a retry and, with
        ``settlements`` (the default), no ``PAID`` invoice waiting for ``settle_delay``
        (its ``COMPLETED`` sends ``INVOICE_TRANSLATION_TO_ACCOUNT_COMPLETED``). What a
        receiver does in answer, such as a resolver's ``return-to-paid``, may cause more:
        wait for that work (``resolver.join()``), then call this again.

        Args:
            timeout: Seconds to wait at most.
            settlements: ``False`` waits for the deliveries already caused only.

        Raises:
            TimeoutError: Something was still pending after ``timeout`` seconds.
        """
        await self._engine.wait_quiet(timeout, settlements=settlements)
