"""OpenTelemetry's SDK in memory, for the telemetry tests: spans and metrics as data."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from calypso_async import Telemetry


class Otel:
    """A tracer provider and a meter provider of their own (never the global ones)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        self.tracer = self.tracer_provider.get_tracer("tests")

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """The spans ended so far, in the order they ended (named ``name``, if given)."""
        spans = list(self.exporter.get_finished_spans())
        return [span for span in spans if name is None or span.name == name]

    def metrics(self) -> dict[str, Any]:
        """Every metric collected now, by name."""
        data = self.reader.get_metrics_data()
        found: dict[str, Any] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = metric
        return found

    def values(self, metric: Any) -> dict[tuple[tuple[str, Any], ...], Any]:
        """A metric's data points by their sorted attributes: a sum's value, a histogram's
        count, a gauge's value."""
        return {
            tuple(sorted(dict(point.attributes or {}).items())): getattr(
                point, "value", getattr(point, "count", None)
            )
            for point in metric.data.data_points
        }
