"""OpenTelemetry for the resolver: one span per execution, the outcomes and the queue depth.

Imported only for a resolver whose client was given ``telemetry=`` (as is OpenTelemetry).

* An execution (one invoice's runs, its retries included) is one span,
  ``calypso resolve`` (kind INTERNAL), current while it runs: the calls it makes, the
  policy it asks and the ``on_outcome`` hook nest under it. A run a worker took from the
  store starts a trace of its own (nothing in the store links it to the webhook that
  queued it); a direct ``resolve()`` nests under its caller's span.
* ``calypso.resolver.outcomes`` counts every :class:`Resolution` reported, by outcome
  (the skipped events and the submissions a shutdown dropped too).
* ``calypso.resolver.queue.depth`` observes the invoices waiting in in-process stores
  (:class:`MemoryStore`), which the resolver can read without a round trip. A durable
  store's count costs a query, so it is not observed.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar

from opentelemetry import context, metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._http.otel import instruments_of, meter, tracer
from .._settings import Telemetry
from .policy import Outcome, Resolution
from .ports import ResolverStore
from .stores import MemoryStore

__all__ = ["ResolverTelemetry"]


class _Instruments:
    """The resolver's instruments on one meter (made once per meter)."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.outcomes = meter.create_counter(
            "calypso.resolver.outcomes",
            unit="{resolution}",
            description="Resolutions reported by intervention resolvers, by outcome",
        )
        self.stores: weakref.WeakSet[MemoryStore] = weakref.WeakSet()
        meter.create_observable_gauge(
            "calypso.resolver.queue.depth",
            callbacks=[self._depth],
            unit="{invoice}",
            description="Invoices accepted and waiting for a worker in this process's "
            "in-process stores",
        )

    def _depth(self, options: CallbackOptions) -> Iterable[Observation]:
        stores = list(self.stores)
        return [Observation(sum(store.pending for store in stores))] if stores else []


class _Run:
    """The span of the execution the current task runs, until its Resolution is reported."""

    __slots__ = ("invoice_id", "reported", "span")

    def __init__(self, invoice_id: str, span: trace.Span) -> None:
        self.invoice_id = invoice_id
        self.span = span
        self.reported = False


_current: ContextVar[_Run | None] = ContextVar("calypso_resolver_run", default=None)


class ResolverTelemetry:
    """Spans and metrics of one resolver.

    Args:
        telemetry: Where spans and metrics go (the client's).
        store: The resolver's store; an in-process one is counted in the queue depth.
    """

    def __init__(self, telemetry: Telemetry, store: ResolverStore) -> None:
        self._tracer = tracer(telemetry)
        instruments = instruments_of(meter(telemetry), _Instruments)
        self._outcomes = instruments.outcomes
        if isinstance(store, MemoryStore):
            instruments.stores.add(store)

    async def traced(
        self, invoice_id: str, work: Callable[[], Awaitable[Resolution]], *, root: bool
    ) -> Resolution:
        """Run ``work()`` (one execution) inside its ``calypso resolve`` span.

        Args:
            invoice_id: The invoice it resolves.
            work: Starts the execution (called inside the span, so that nothing is left
                un-awaited if this is cancelled before it starts).
            root: Start a trace of its own (a worker's run) rather than nest under the
                current span.
        """
        with self._tracer.start_as_current_span(
            "calypso resolve",
            context=context.Context() if root else None,
            kind=SpanKind.INTERNAL,
            attributes={"calypso.invoice_id": invoice_id},
            record_exception=False,  # a cancellation is reported as a FAILED Resolution
            set_status_on_exception=False,
        ) as span:
            token = _current.set(_Run(invoice_id, span))
            try:
                return await work()
            finally:
                _current.reset(token)

    def reported(self, resolution: Resolution) -> None:
        """Count a reported Resolution; the first one of an execution also ends up on its span."""
        self._outcomes.add(1, {"calypso.outcome": str(resolution.outcome)})
        run = _current.get()
        if run is None or run.reported or run.invoice_id != resolution.invoice_id:
            return  # not reported by an execution (a skipped event, a shutdown's drop)
        run.reported = True
        span = run.span
        span.set_attributes(
            {
                "calypso.outcome": str(resolution.outcome),
                "calypso.reason": resolution.reason,
                "calypso.writes": [str(write) for write in resolution.writes],
                "calypso.attempts": resolution.attempts,
            }
        )
        if resolution.outcome is Outcome.FAILED:
            if resolution.error is not None:
                span.set_attribute("error.type", type(resolution.error).__name__)
                span.record_exception(resolution.error)
            span.set_status(Status(StatusCode.ERROR, resolution.reason))
