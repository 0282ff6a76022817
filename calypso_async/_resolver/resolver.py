"""``InterventionResolver``: settle underpaid and overpaid invoices, safely and re-entrantly.

The flow itself is a :class:`~calypso_async._resolver.run.Run`; executions
(:mod:`.executions`) make runs safe to start from anywhere; the store
(:mod:`.ports`) carries what every process sharing it must agree on; the worker pool
(:mod:`.pool`) runs what the store hands out. This module is the public face: direct
``resolve``, intake (``accept``, ``submit``), worker mode and its shutdown.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Self, TypeAlias

from .._aio import call_back
from .._core import checks
from .._errors import ConfigurationError, LifecycleError
from .._types import EventType, Invoice, WebhookEvent
from .executions import Executions, Settings
from .policy import Outcome, Policy, Resolution, default_policy
from .ports import Intake, ResolverStore
from .stores import MemoryStore
from .worker_mode import WorkerMode

if TYPE_CHECKING:
    from .._client import CalypsoClient
    from .telemetry import ResolverTelemetry

__all__ = ["InterventionResolver"]

logger = logging.getLogger("calypso_async.resolver")

Target: TypeAlias = "WebhookEvent | Invoice | str"
"""What ``resolve``, ``accept`` and ``submit`` take: an event, an invoice, or an id."""

_names = itertools.count(1)


class InterventionResolver:
    """Settles ``INVOICE_PENDING_INTERVENTION`` events with a merchant policy.

    Use it directly (``await resolver.resolve(event)``) or as a background worker::

        async with InterventionResolver(client, max_concurrency=10) as resolver:
            await resolver.accept(event)  # from a webhook handler: returns once stored
            await resolver.join()         # wait for everything accepted so far

    Its shared state lives in a store: the default :class:`MemoryStore` serves one
    process; a ``SQLiteStore`` or ``RedisStore`` lets every process that shares it
    resolve together, with at most one return-to-paid per invoice among them all.
    Time comes from the client (``CalypsoClient(sleep=..., clock=...)``), so tests that
    inject a sleep there never really wait.

    Args:
        client: The client to call Calypso with.
        policy: Decides invoices in ``PENDING_INTERVENTION``; :func:`default_policy` when
            ``None``.
        store: Where intake, claims, write-ahead records and outcomes live; a new
            :class:`MemoryStore` (this process only) when ``None``. The caller opens and
            closes a store it passes (``async with store:``).
        poll_interval: Seconds between polls while waiting for COMPLETED (backing off
            up to ten times this).
        completion_timeout: Seconds to wait for COMPLETED after return-to-paid, in all.
        max_concurrency: Invoices resolved at once in worker mode.
        max_queue: Invoices waiting at most in the default in-process store; beyond it
            ``submit`` raises ``asyncio.QueueFull``.
        shutdown_grace: Seconds leaving ``async with`` waits for queued and running
            work before cancelling it. A write in flight is finished even then, which
            can take up to the client's ``deadline`` more (again as much for the
            re-read after a lost answer).
        on_outcome: Called (sync or async) with every :class:`Resolution`: one per
            execution, a cancelled one included, and one per submission dropped at
            shutdown.
        retry_failed: In worker mode, how many times a ``FAILED`` run is run again
            before its Resolution is reported (``0``: never). ``resolve`` never retries.
        retry_backoff: Seconds before the first retry, doubling for each next one.
        resend_hold: Seconds after a return-to-paid went unanswered (timeout, lost
            connection, a 5xx other than Calypso's own 503), or was accepted (2xx)
            with the invoice still pending,
            during which no run of any process sharing the store sends another for
            that invoice, in case the server still carries out the first.
        lease: Seconds a claim on an invoice lives without renewal (renewed every third
            of it while the run goes on); after it, another worker takes over a claim
            whose process died. Must be shorter than ``resend_hold`` with a shared store.
        name: This resolver's name in the store's claims (host, process and a number
            by default).
    """

    def __init__(
        self,
        client: CalypsoClient,
        policy: Policy | None = None,
        *,
        store: ResolverStore | None = None,
        poll_interval: float = 2.0,
        completion_timeout: float = 600.0,
        max_concurrency: int = 10,
        max_queue: int = 10_000,
        shutdown_grace: float = 30.0,
        on_outcome: Callable[[Resolution], object] | None = None,
        retry_failed: int = 3,
        retry_backoff: float = 2.0,
        resend_hold: float = 120.0,
        lease: float = 30.0,
        name: str | None = None,
    ) -> None:
        if policy is not None and not callable(policy):
            raise ConfigurationError("policy must be a callable taking an Invoice")
        settings = Settings(
            policy=policy or default_policy,
            poll_interval=checks.seconds("poll_interval", poll_interval),
            completion_timeout=checks.seconds("completion_timeout", completion_timeout),
            retry_backoff=checks.seconds("retry_backoff", retry_backoff),
            resend_hold=checks.seconds("resend_hold", resend_hold),
            lease=checks.seconds("lease", lease),
        )
        shutdown_grace = checks.seconds("shutdown_grace", shutdown_grace)
        self._retry_failed = checks.integer("retry_failed", retry_failed)
        if store is None:
            store = MemoryStore(max_queue=max_queue)
        if isinstance(store, MemoryStore):
            store.use_clock(client.runtime.clock)
        elif store.shared and settings.resend_hold <= settings.lease:
            raise ConfigurationError(
                "resend_hold must be longer than lease: a worker that stalls past its "
                "lease must not find another's return-to-paid resendable"
            )
        self._store = store
        self._lease = settings.lease
        self.name = name or f"{socket.gethostname()}/{os.getpid()}/{next(_names)}"
        """This resolver's name in the store's claims."""
        self._on_outcome = on_outcome
        self._client = client
        self._listeners: list[weakref.WeakMethod[Callable[[Resolution], Awaitable[None]]]] = []
        self._telemetry: ResolverTelemetry | None = None
        if client.settings.telemetry is not None:
            from .telemetry import ResolverTelemetry  # OpenTelemetry: an optional extra

            self._telemetry = ResolverTelemetry(client.settings.telemetry, store)
        self._workers = WorkerMode(
            lambda claim: self._executions.resolve(claim.invoice_id, self._retry_failed, claim),
            self._report,
            max_concurrency=max_concurrency,
            shutdown_grace=shutdown_grace,
        )
        self._executions = Executions(
            client,
            store,
            self.name,
            settings,
            report=self._report,
            is_shutdown=self._workers.is_shutdown,
            on_shutdown=self._workers.hand_back,
            track=self._workers.own_tasks.add,
            telemetry=self._telemetry,
        )

    def __repr__(self) -> str:
        return f"InterventionResolver(name={self.name!r}, store={self._store.url!r})"

    @property
    def client(self) -> CalypsoClient:
        """The client the resolver reads and writes through."""
        return self._client

    def _listen(self, listener: Callable[[Resolution], Awaitable[None]]) -> None:
        # Called with every resolution before on_outcome (invoice tracking listens); held
        # weakly, so that a tracker dropped by its owner is not kept alive here.
        self._listeners = [ref for ref in self._listeners if ref() is not None]
        self._listeners.append(weakref.WeakMethod(listener))

    @property
    def store(self) -> ResolverStore:
        """Where this resolver's shared state lives."""
        return self._store

    # -- intake -----------------------------------------------------------------------

    async def accept(self, event_or_invoice_id: Target) -> bool:
        """Hand an event, invoice or invoice id over; return once the store holds it.

        A webhook endpoint answers 2xx only after this returns. The invoice is pending
        once however many copies arrive, at however many processes sharing the store;
        an event seen before (same subscription and event id) is a replay everywhere.
        Workers of any process sharing the store resolve it. An event that is not an
        intervention is reported ``SKIPPED`` at once, nothing stored.

        Returns:
            ``True`` if queued or marked to run again; ``False`` if that was already so,
            or for a replay or an event that is not an intervention.

        Raises:
            StoreError: The store could not take it: answer 503 so that Calypso delivers
                again.
            LifecycleError: The in-process store, and this resolver is not running (an
                event that is not an intervention is still reported ``SKIPPED``).
            asyncio.QueueFull: The in-process store is full.
        """
        invoice_id = _invoice_id_of(event_or_invoice_id)
        if invoice_id is None:  # nothing to keep, so nothing a stopped resolver refuses
            await self._report(_skip_event(event_or_invoice_id))
            return False
        if isinstance(self._store, MemoryStore) and not self._workers.running:
            # Nobody else could ever run what this process's own store holds.
            raise LifecycleError("intervention-resolver is not running: use it with 'async with'")
        await self._store.open()
        intake = await self._store.accept(invoice_id, event_key=_event_key(event_or_invoice_id))
        return intake in (Intake.QUEUED, Intake.AGAIN)

    def submit(self, event_or_invoice_id: Target) -> bool:
        """Queue an event, invoice or invoice id for resolution without waiting.

        Only with the in-process store (the default); with a durable store, ``await
        accept()``, which returns once the store holds it. A submission for an invoice
        being resolved right now does not take a worker: the invoice is run once more
        when its current run ends (at most once, however many copies arrive meanwhile).

        Returns:
            ``True`` if queued or marked to run again, ``False`` if that was already so
            (the coming run will see the latest server state anyway).

        Raises:
            LifecycleError: The resolver is not running (use ``async with resolver``), or
                its store is not in-process.
            asyncio.QueueFull: ``max_queue`` invoices are already waiting; a webhook
                handler should answer 503 so that Calypso delivers again later.
        """
        if not self._workers.running:
            raise LifecycleError("intervention-resolver is not running: use it with 'async with'")
        if not isinstance(self._store, MemoryStore):
            raise LifecycleError(
                f"submit() keeps work in this process only; with {self._store.url} "
                "await accept(), which returns once the store holds it"
            )
        invoice_id = _invoice_id_of(event_or_invoice_id)
        if invoice_id is None:
            self._workers.report_later(_skip_event(event_or_invoice_id))
            return True
        intake = self._store.accept_nowait(invoice_id)
        return intake in (Intake.QUEUED, Intake.AGAIN)

    # -- worker mode ------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._store.open()
        self._workers.start(lambda: self._store.source(self.name, self._lease))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def join(self) -> None:
        """Wait until everything accepted so far has been resolved (retries included).

        With a store shared by other processes, until the store holds nothing pending
        or running, whoever accepted it.
        """
        await self._workers.join()

    async def stop(self) -> tuple[str, ...]:
        """Stop the worker: drain for ``shutdown_grace`` seconds, then cancel the rest.

        Leaving ``async with`` calls this. A run cancelled here first finishes a write
        it has in flight. Every run cancelled and every submission dropped is reported
        to ``on_outcome`` (and logged at WARNING) as ``FAILED`` with a
        :class:`ResolutionCancelledError`. With the in-process store their webhooks
        were already acknowledged, so Calypso will not send them again; with a durable
        store they are back in its queue, and any worker sharing it resumes them.

        Calls made while a stop is draining wait for the same drain and get the same
        ids; cancelling one of them leaves the drain to the others, and cancelling the
        last one cancels the remaining work at once. Called from this resolver's own
        policy or ``on_outcome`` hook, it starts the shutdown and returns at once with
        the ids known so far (waiting would mean waiting for itself); a task such a hook
        creates waits like any other caller, so a hook must await ``stop()`` itself,
        not through ``asyncio.gather`` or ``asyncio.wait_for`` (which wrap it in a task
        that would wait for the hook until the grace runs out).

        Returns:
            The ids of those invoices, in no particular order. With the in-process
            store, submit them again when the resolver runs again: each new run resumes
            from the invoice's state.
        """
        return await self._workers.stop()

    # -- one resolution ---------------------------------------------------------------

    async def resolve(self, event_or_invoice_id: Target) -> Resolution:
        """Run the intervention flow for one invoice and report how it ended.

        Concurrent calls for the same invoice share one execution and return the same
        :class:`Resolution`; a run of another process sharing the store is waited for.
        Failures are reported as ``Outcome.FAILED``, not raised (and not retried:
        worker mode retries, ``resolve`` leaves that to the caller).

        Cancellation propagates to the caller. The shared execution is cancelled only
        when no caller is left waiting for it, and a write it has in flight is finished
        first (within the client's deadline), so no request of the run is still pending
        once the cancellation reaches the caller, and no later run repeats a write whose
        outcome is unknown. The cancelled run is reported ``FAILED`` to ``on_outcome``.

        Args:
            event_or_invoice_id: An ``INVOICE_PENDING_INTERVENTION`` event, an invoice,
                or an invoice id.
        """
        invoice_id = _invoice_id_of(event_or_invoice_id)
        if invoice_id is None:
            return await self._report(_skip_event(event_or_invoice_id))
        await self._store.open()
        return await self._executions.resolve(invoice_id, 0)

    async def _report(self, resolution: Resolution) -> Resolution:
        if self._telemetry is not None:
            self._telemetry.reported(resolution)
        # FAILED and HELD wait for a human (a held invoice's money is not taken yet).
        level = logging.WARNING if resolution.outcome in _NEEDS_A_HUMAN else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "invoice %s: %s (%s)",
                resolution.invoice_id,
                resolution.outcome,
                resolution.reason,
                extra={
                    "calypso_invoice_id": resolution.invoice_id,
                    "calypso_outcome": str(resolution.outcome),
                    "calypso_writes": resolution.writes,
                },
            )
        for ref in self._listeners:
            listener = ref()
            if listener is None:
                continue
            try:
                await listener(resolution)
            except Exception:
                logger.exception("tracking failed to note invoice %s", resolution.invoice_id)
        if self._on_outcome is not None:
            try:
                await call_back(self._on_outcome, resolution)
            except Exception:
                logger.exception("the on_outcome hook raised for invoice %s", resolution.invoice_id)
        return resolution


_NEEDS_A_HUMAN = frozenset({Outcome.FAILED, Outcome.HELD})


def _invoice_id_of(target: Target) -> str | None:
    if isinstance(target, str):
        if not target.strip():
            raise ConfigurationError("the invoice id must not be empty")
        return target
    if isinstance(target, Invoice):
        return target.id
    if isinstance(target, WebhookEvent):
        if target.event_type is not EventType.INVOICE_PENDING_INTERVENTION:
            return None
        return target.invoice_id
    raise ConfigurationError(
        f"resolve takes a WebhookEvent, an Invoice or an invoice id, not {type(target).__name__}"
    )


def _event_key(target: Target) -> str | None:
    """A delivery's identity: the subscription's request id and the event id."""
    if isinstance(target, WebhookEvent):
        return f"{target.request_id}/{target.id}"
    return None


def _skip_event(target: Target) -> Resolution:
    assert isinstance(target, WebhookEvent)
    if target.event_type is not EventType.INVOICE_PENDING_INTERVENTION:
        reason = f"event {target.event_type} is not INVOICE_PENDING_INTERVENTION"
    else:
        reason = "the event names no invoice (data.parentExternalId is missing)"
    return Resolution(target.invoice_id, Outcome.SKIPPED, reason)
