"""OpenTelemetry: a span per call with its attempts, the client's metrics, and no secret."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from calypso_async import (
    CalypsoClient,
    CalypsoConnectionError,
    ConfigurationError,
    EventType,
    InterventionResolver,
    NotFoundError,
    Outcome,
    Telemetry,
)
from calypso_async.testing import FakeCalypso
from tests.otel import Otel

from .conftest import CREATE, INVOICE, no_wait


@pytest.fixture
def otel() -> Iterator[Otel]:
    providers = Otel()
    yield providers
    providers.shutdown()


async def _create(client: CalypsoClient, key: str | None = None) -> str:
    invoice = await client.invoices.create_single(
        amount=Decimal("1"), currency="USDT", description="order 1", idempotency_key=key
    )
    return invoice.id


async def test_a_call_retried_once_is_one_span_with_two_attempts_and_a_retry(
    fake: FakeCalypso, otel: Otel
) -> None:
    """One CLIENT span for the logical call; each attempt and the retry are its events."""
    async with fake.client(sleep=no_wait, telemetry=otel.telemetry) as client:
        invoice_id = await _create(client)
        otel.exporter.clear()
        fake.fail(INVOICE, 503, retry_after="1")
        await client.invoices.get(invoice_id)
    [span] = otel.spans()
    assert span.name == f"calypso {INVOICE}"
    assert span.kind is SpanKind.CLIENT
    assert span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    port = int(fake.base_url.rsplit(":", 1)[1])
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.template": INVOICE,
        "url.full": fake.base_url + INVOICE,
        "server.address": "127.0.0.1",
        "server.port": port,
        "calypso.attempts": 2,
        "http.response.status_code": 200,
    }
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    assert [name for name, _ in events] == ["calypso.attempt", "calypso.retry", "calypso.attempt"]
    first, retry, second = (attributes for _, attributes in events)
    assert (first["calypso.attempt"], first["http.response.status_code"]) == (1, 503)
    assert first["calypso.trace_id"]  # the 503's, for Calypso's support
    assert first["calypso.duration_ms"] >= 0
    assert retry == {
        "calypso.attempt": 1,
        "calypso.retry.delay_s": 1.0,  # the server's Retry-After
        "error.type": "ServerError",
    }
    assert (second["calypso.attempt"], second["http.response.status_code"]) == (2, 200)
    assert "calypso.trace_id" not in second


async def test_an_error_answer_ends_its_span_in_error_with_calypsos_trace_id(
    fake: FakeCalypso, otel: Otel
) -> None:
    """A 404 is an ERROR span carrying the traceId to quote to Calypso and the exception."""
    async with fake.client(telemetry=otel.telemetry) as client:
        with pytest.raises(NotFoundError) as missing:
            await client.invoices.get("no-such-invoice")
    [span] = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert "NotFoundError" in (span.status.description or "")
    attributes = dict(span.attributes or {})
    assert attributes["http.response.status_code"] == 404
    assert attributes["calypso.trace_id"] == missing.value.trace_id
    assert missing.value.trace_id
    assert attributes["error.type"] == "NotFoundError"
    [exception] = [event for event in span.events if event.name == "exception"]
    assert (exception.attributes or {})["exception.type"].endswith("NotFoundError")


async def test_a_lost_answer_is_an_attempt_with_its_error_type(
    fake: FakeCalypso, otel: Otel
) -> None:
    """An attempt with no answer has no status: its event and its request say why."""
    async with fake.client(sleep=no_wait, max_retries=0, telemetry=otel.telemetry) as client:
        fake.drop(INVOICE)
        with pytest.raises(CalypsoConnectionError):
            await client.invoices.get("any")
    [span] = otel.spans()
    [attempt] = [event for event in span.events if event.name == "calypso.attempt"]
    assert dict(attempt.attributes or {}).keys() == {
        "calypso.attempt",
        "error.type",
        "calypso.duration_ms",
    }
    assert (attempt.attributes or {})["error.type"] == "CalypsoConnectionError"
    assert "http.response.status_code" not in (span.attributes or {})
    requests = otel.values(otel.metrics()["calypso.client.requests"])
    assert requests == {
        (
            ("error.type", "CalypsoConnectionError"),
            ("http.request.method", "POST"),
            ("url.template", INVOICE),
        ): 1
    }


async def test_a_create_span_carries_its_idempotency_key(fake: FakeCalypso, otel: Otel) -> None:
    """The key to look a create up by, if its fate is unknown, is on its span."""
    async with fake.client(telemetry=otel.telemetry) as client:
        await _create(client, key="order-42")
    [span] = otel.spans(f"calypso {CREATE}")
    assert (span.attributes or {})["calypso.idempotency_key"] == "order-42"


async def test_the_call_span_is_current_while_the_call_runs(fake: FakeCalypso, otel: Otel) -> None:
    """It nests under the caller's span, and what runs during the call nests under it
    (a hook here; an instrumented aiohttp's spans alike)."""

    def inner(event: object) -> None:
        with otel.tracer.start_as_current_span("inside the call"):
            pass

    async with fake.client(telemetry=otel.telemetry, event_hooks={"request": [inner]}) as client:
        with otel.tracer.start_as_current_span("checkout") as outer:
            await client.account.balances()
            with otel.tracer.start_as_current_span("after the call") as after:
                pass
    by_name = {span.name: span for span in otel.spans()}
    call = by_name["calypso /api/v1/account"]
    assert call.parent is not None
    assert call.parent.span_id == outer.get_span_context().span_id
    nested = by_name["inside the call"]
    assert nested.parent is not None
    assert call.context is not None
    assert nested.parent.span_id == call.context.span_id
    after_parent = by_name["after the call"].parent
    assert after_parent is not None
    assert after_parent.span_id == outer.get_span_context().span_id
    assert after.get_span_context().trace_id == outer.get_span_context().trace_id


async def test_metrics_count_requests_retries_and_durations_by_path_and_status(
    fake: FakeCalypso, otel: Otel
) -> None:
    """Requests and their durations per attempt, by method, path and status; retries by
    path and error type."""
    async with fake.client(sleep=no_wait, telemetry=otel.telemetry) as client:
        invoice_id = await _create(client)
        fake.fail(INVOICE, 503)
        await client.invoices.get(invoice_id)
        await client.invoices.get(invoice_id)
    metrics = otel.metrics()

    def labels(path: str, status: int) -> tuple[tuple[str, Any], ...]:
        return (
            ("http.request.method", "POST"),
            ("http.response.status_code", status),
            ("url.template", path),
        )

    expected = {labels(CREATE, 200): 1, labels(INVOICE, 503): 1, labels(INVOICE, 200): 2}
    requests = metrics["calypso.client.requests"]
    assert requests.unit == "{request}"
    assert otel.values(requests) == expected
    duration = metrics["calypso.client.request.duration"]
    assert duration.unit == "s"
    assert otel.values(duration) == expected  # one duration per request
    [point] = [p for p in duration.data.data_points if p.attributes == dict(labels(INVOICE, 200))]
    assert 0 < point.sum < 5
    assert list(point.explicit_bounds)[:3] == [0.005, 0.01, 0.025]  # seconds, not ms
    retries = metrics["calypso.client.retries"]
    assert retries.unit == "{retry}"
    assert otel.values(retries) == {
        (
            ("error.type", "ServerError"),
            ("http.request.method", "POST"),
            ("url.template", INVOICE),
        ): 1
    }


async def test_clients_sharing_providers_share_their_instruments(
    fake: FakeCalypso, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    """A second client on the same meter adds to the same counters, without the SDK
    complaining of an instrument made twice."""
    for _ in range(2):
        async with fake.client(telemetry=otel.telemetry) as client:
            await client.account.balances()
    requests = otel.values(otel.metrics()["calypso.client.requests"])
    assert list(requests.values()) == [2]
    assert [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry")] == []


def test_telemetry_without_opentelemetry_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asked for without the otel extra: refused before any I/O, naming the extra."""
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import opentelemetry fails
    monkeypatch.delitem(sys.modules, "calypso_async._http.otel", raising=False)
    with pytest.raises(ConfigurationError, match=r"calypso_async\[otel\]"):
        CalypsoClient(api_key="k", secret_key="s", account="a", telemetry=True)
    # Off, it is not needed at all.
    CalypsoClient(api_key="k", secret_key="s", account="a", telemetry=False)


@pytest.mark.parametrize(
    "telemetry",
    ["yes", 1.0, Telemetry],
    ids=["a-string", "a-number", "the-class"],
)
def test_a_bad_telemetry_value_is_refused(telemetry: Any) -> None:
    """telemetry is True, False, None or a Telemetry(...)."""
    with pytest.raises(ConfigurationError, match="telemetry must be"):
        CalypsoClient(api_key="k", secret_key="s", account="a", telemetry=telemetry)


def test_a_provider_that_is_not_one_is_refused() -> None:
    """A tracer provider without get_tracer (a tracer given by mistake, say) is refused."""
    with pytest.raises(ConfigurationError, match="tracer_provider"):
        Telemetry(tracer_provider=object())
    with pytest.raises(ConfigurationError, match="meter_provider"):
        Telemetry(meter_provider="global")


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_without_telemetry_nothing_of_opentelemetry_is_imported() -> None:
    """A client and a call with telemetry off load no opentelemetry module (installed or
    not): the default costs nothing."""
    out = _run_python(
        """
        import asyncio, sys
        from calypso_async.testing import FakeCalypso

        async def main():
            async with FakeCalypso() as fake, fake.client() as client:
                await client.account.balances()
                with client.capture():
                    await client.account.balances()

        asyncio.run(main())
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        print(loaded)
        """
    )
    assert out.strip() == "[]"


def test_telemetry_true_reports_to_the_global_providers_even_set_later() -> None:
    """telemetry=True follows OpenTelemetry's global providers, whenever the application
    sets them (in a process of its own: a global provider is set once per process)."""
    out = _run_python(
        """
        import asyncio
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from calypso_async.testing import FakeCalypso

        async def main():
            async with FakeCalypso() as fake, fake.client(telemetry=True) as client:
                exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
                provider = TracerProvider()
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(provider)
                metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
                await client.account.balances()
            print([span.name for span in exporter.get_finished_spans()])
            data = reader.get_metrics_data()
            print(sorted(m.name for r in data.resource_metrics
                         for s in r.scope_metrics for m in s.metrics))

        asyncio.run(main())
        """
    )
    assert out.splitlines() == [
        "['calypso /api/v1/account']",
        "['calypso.client.request.duration', 'calypso.client.requests']",
    ]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str | bytes):
        return [value if isinstance(value, str) else value.decode("latin-1")]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return [repr(value)]


async def test_no_secret_reaches_a_hook_event_a_span_a_metric_or_a_log(
    fake: FakeCalypso, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    """Calls that succeed, fail, retry and lose their answer, a webhook subscription
    (whose answer carries its secret) and a resolver run: no hook event (headers
    included), span attribute, span event, status, metric attribute or log record holds
    the API secret or key, a Sign, a webhook secret or a request body."""
    caplog.set_level(logging.DEBUG, logger="calypso_async")
    events: list[object] = []
    hooks = {"request": [events.append], "response": [events.append], "retry": [events.append]}
    body_marker = "order 7 for Jane Doe, 12 Main St"
    async with fake.client(sleep=no_wait, event_hooks=hooks, telemetry=otel.telemetry) as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("10.234"), currency="USDT", description=body_marker
        )
        subscription = await client.webhooks.create(
            url="http://127.0.0.1:9/hooks", event_types=[EventType.INVOICE_PENDING_INTERVENTION]
        )
        await client.webhooks.list()
        fake.fail(INVOICE, 503)
        fake.drop(INVOICE)
        await client.invoices.get(invoice.id)
        with pytest.raises(NotFoundError):
            await client.invoices.get("no-such-invoice")
        await fake.pay(invoice.id, Decimal("10.50"))  # overpaid
        fake.fail("/api/v1/invoice/return-to-paid", 401)
        resolution = await InterventionResolver(client).resolve(invoice.id)
        assert resolution.outcome is Outcome.FAILED
    secrets = {
        "API secret": fake.secret_key,
        "API key": fake.api_key,
        "webhook secret": subscription.secret_key,
        "request body": body_marker,
    }
    signs = {call.headers["Sign"] for call in fake.calls if "Sign" in call.headers}
    assert len(signs) >= 8
    secrets |= {f"Sign {n}": sign for n, sign in enumerate(signs)}
    assert all(secrets.values())

    seen: list[tuple[str, str]] = []
    for event in events:
        seen += [(f"hook {type(event).__name__}", text) for text in _strings(repr(event))]
        headers = dict(getattr(event, "headers", {}))
        seen += [(f"hook {type(event).__name__} headers", text) for text in _strings(headers)]
    spans = otel.spans()
    assert {span.name for span in spans} >= {"calypso resolve", f"calypso {INVOICE}"}
    for span in spans:
        where = f"span {span.name}"
        seen += [(where, text) for text in _strings([span.name, span.status.description])]
        seen += [(where, text) for text in _strings(dict(span.attributes or {}))]
        for span_event in span.events:
            seen += [
                (f"{where}, event {span_event.name}", text)
                for text in _strings([span_event.name, dict(span_event.attributes or {})])
            ]
    for name, metric in otel.metrics().items():
        for point in metric.data.data_points:
            seen += [(f"metric {name}", text) for text in _strings(dict(point.attributes or {}))]
    for record in caplog.records:
        seen += [(f"log {record.name}", text) for text in _strings(record.getMessage())]
        seen += [(f"log {record.name}", text) for text in _strings(list(vars(record).values()))]
    assert len(events) >= 20
    assert any(kind.startswith("span calypso resolve") for kind, _ in seen)
    leaks = {(at, what) for at, text in seen for what, value in secrets.items() if value in text}
    assert sorted(leaks) == []


async def test_a_failing_exporter_never_fails_a_call_the_server_carried_out(
    fake: FakeCalypso, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    """An exporter bug is logged; the created invoice is still returned to the caller."""
    from opentelemetry.sdk.trace import SpanProcessor

    class Broken(SpanProcessor):
        def on_end(self, span: Any) -> None:
            raise RuntimeError("exporter bug")

    otel.tracer_provider.add_span_processor(Broken())
    async with fake.client(telemetry=otel.telemetry) as client:
        invoice_id = await _create(client)
    assert fake.invoice(invoice_id) is not None
    failures = [r for r in caplog.records if "telemetry failed" in r.getMessage()]
    assert failures
    assert failures[0].levelno == logging.ERROR
