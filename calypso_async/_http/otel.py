"""OpenTelemetry for the session: one span per call, its attempts as events, and metrics.

Imported by :func:`~calypso_async._http.telemetry.observers` only for a client given
``telemetry=``. :class:`CallTelemetry` is an :class:`~calypso_async._http.observe.Observer`:
the session reports each call's attempts to it as it reports them to event hooks. It
reads the events' method, path, status, attempt number, duration, ``traceId``,
idempotency key and error type; never their headers, the body or a secret.

A call is one span, ``calypso <path>`` (kind CLIENT), current while the call runs so that
spans of instrumented libraries (aiohttp's) nest under it. Its attempts are events on
that span rather than child spans: a call rarely takes more than one, an event carries
all an attempt says (number, status, duration, ``traceId`` or error type), and it needs
no context switched per attempt (an instrumented aiohttp adds a span per attempt anyway).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from functools import cache
from importlib import metadata
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from .._errors import ConfigurationError
from .._settings import Telemetry
from .observe import RequestEvent, ResponseEvent, RetryEvent

try:
    from opentelemetry import context, metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.util.types import AttributeValue
except ImportError:
    raise ConfigurationError(
        "telemetry needs OpenTelemetry: pip install 'calypso_async[otel]' "
        "(the otel extra brings opentelemetry-api)"
    ) from None

__all__ = ["SCOPE", "CallTelemetry", "instruments_of", "meter", "tracer"]

T = TypeVar("T")

SCOPE = "calypso_async"
"""The instrumentation scope of every span and instrument the SDK makes."""

# The HTTP semantic conventions' advice for http.client.request.duration, in seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def _version() -> str | None:
    try:
        return metadata.version("calypso_async")
    except metadata.PackageNotFoundError:  # run from a source tree never installed
        return None


_VERSION = _version()


def tracer(telemetry: Telemetry) -> trace.Tracer:
    """The SDK's tracer on the given provider, or on the global one (even if set later)."""
    if telemetry.tracer_provider is None:
        return trace.get_tracer(SCOPE, _VERSION)
    provider = cast("trace.TracerProvider", telemetry.tracer_provider)
    return provider.get_tracer(SCOPE, _VERSION)


@cache
def _global_meter() -> metrics.Meter:
    # One per process: a proxy until the application sets its provider, then its meter.
    return metrics.get_meter_provider().get_meter(SCOPE, _VERSION)


def meter(telemetry: Telemetry) -> metrics.Meter:
    """The SDK's meter on the given provider, or on the global one (even if set later)."""
    if telemetry.meter_provider is None:
        return _global_meter()
    provider = cast("metrics.MeterProvider", telemetry.meter_provider)
    return provider.get_meter(SCOPE, _VERSION)


class _Instruments:
    """The client's instruments on one meter (made once: a second set would be refused)."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.requests = meter.create_counter(
            "calypso.client.requests",
            unit="{request}",
            description="Requests sent to the Calypso API, one per attempt",
        )
        self.duration = meter.create_histogram(
            "calypso.client.request.duration",
            unit="s",
            description="From sending a request to the last byte of its answer, or its failure",
            explicit_bucket_boundaries_advisory=_BUCKETS,
        )
        self.retries = meter.create_counter(
            "calypso.client.retries",
            unit="{retry}",
            description="Attempts that failed and were sent again",
        )


_made: weakref.WeakKeyDictionary[metrics.Meter, dict[object, Any]] = weakref.WeakKeyDictionary()


def instruments_of(meter: metrics.Meter, kind: Callable[[metrics.Meter], T]) -> T:
    """``kind(meter)``, made once per meter: the SDK refuses a second set of instruments."""
    made = _made.setdefault(meter, {})
    found = made.get(kind)
    if found is None:
        found = made[kind] = kind(meter)
    return cast("T", found)


class CallTelemetry:
    """Follows each call of one session with a span and the client's metrics.

    Args:
        telemetry: Where spans and metrics go.
        base_url: The API root the session calls (``url.full`` and ``server.*``).
        clock: The session's monotonic clock, to time attempts that got no answer.
    """

    def __init__(self, telemetry: Telemetry, base_url: str, clock: Callable[[], float]) -> None:
        self.tracer = tracer(telemetry)
        self.instruments = instruments_of(meter(telemetry), _Instruments)
        self.base_url = base_url
        self.clock = clock
        url = urlsplit(base_url)
        self.server: dict[str, AttributeValue] = {
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }

    def start(self, method: str, path: str) -> _Call:
        """A call begins: its span starts and becomes the current one."""
        return _Call(self, method, path)


class _Call:
    """One call's span, current from ``start`` to ``end``, and its attempts' metrics."""

    __slots__ = (
        "_attempt",
        "_began",
        "_labels",
        "_open",
        "_owner",
        "_sent",
        "_span",
        "_status",
        "_token",
        "_trace_id",
    )

    def __init__(self, owner: CallTelemetry, method: str, path: str) -> None:
        self._owner = owner
        self._labels: dict[str, AttributeValue] = {
            "http.request.method": method,
            "url.template": path,
        }
        self._span = owner.tracer.start_span(
            f"calypso {path}",
            kind=SpanKind.CLIENT,
            attributes={**self._labels, "url.full": owner.base_url + path, **owner.server},
        )
        # start() and end() run in the caller's task, in its context: attached here,
        # detached in end(), so that whatever the call does meanwhile nests under it.
        self._token = context.attach(trace.set_span_in_context(self._span))
        self._sent = 0  # requests sent (a rejected timestamp's resend counts too)
        self._attempt = 0
        self._open = False  # an attempt started whose answer or failure is not recorded
        self._began = 0.0
        self._status: int | None = None
        self._trace_id: str | None = None

    def request(self, event: RequestEvent) -> None:
        """An attempt starts (before any wait for a free connection)."""
        self._sent += 1
        self._attempt = event.attempt
        self._open = True
        self._began = self._owner.clock()
        self._status = self._trace_id = None
        if self._sent == 1 and event.idempotency_key is not None:
            self._span.set_attribute("calypso.idempotency_key", event.idempotency_key)

    def response(self, event: ResponseEvent) -> None:
        """An attempt got an answer: an event, a request counted, its duration."""
        self._open = False
        self._status, self._trace_id = event.status, event.trace_id
        attributes: dict[str, AttributeValue] = {
            "calypso.attempt": event.attempt,
            "http.response.status_code": event.status,
            "calypso.duration_ms": round(event.duration_ms, 3),
        }
        if event.trace_id is not None:
            attributes["calypso.trace_id"] = event.trace_id
        self._span.add_event("calypso.attempt", attributes)
        labels = {**self._labels, "http.response.status_code": event.status}
        self._owner.instruments.requests.add(1, labels)
        self._owner.instruments.duration.record(event.duration_ms / 1000, labels)

    def retry(self, event: RetryEvent) -> None:
        """An attempt failed and the call will be sent again after ``event.delay``."""
        kind = type(event.error).__name__
        if self._open:
            self._unanswered(kind)
        self._span.add_event(
            "calypso.retry",
            {
                "calypso.attempt": event.attempt,
                "calypso.retry.delay_s": event.delay,
                "error.type": kind,
            },
        )
        self._owner.instruments.retries.add(1, {**self._labels, "error.type": kind})

    def _unanswered(self, kind: str) -> None:
        """The attempt under way failed with no answer (a timeout, a lost connection)."""
        self._open = False
        took = self._owner.clock() - self._began
        self._span.add_event(
            "calypso.attempt",
            {
                "calypso.attempt": self._attempt,
                "error.type": kind,
                "calypso.duration_ms": round(took * 1000, 3),
            },
        )
        labels = {**self._labels, "error.type": kind}
        self._owner.instruments.requests.add(1, labels)
        self._owner.instruments.duration.record(took, labels)

    def end(self, error: BaseException | None) -> None:
        """The call returned or raised: its span ends, and is no longer current."""
        span = self._span
        try:
            if error is not None and self._open:
                self._unanswered(type(error).__name__)
            span.set_attribute("calypso.attempts", self._sent)
            if self._status is not None:
                span.set_attribute("http.response.status_code", self._status)
            if self._trace_id is not None:
                span.set_attribute("calypso.trace_id", self._trace_id)
            if error is not None:
                span.set_attribute("error.type", type(error).__name__)
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        finally:
            span.end()
            context.detach(self._token)
