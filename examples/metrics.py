"""Per-path metrics of a run against FakeCalypso: the SDK's OpenTelemetry metrics, read back.

Three invoices are paid exactly, over and under, a gateway fault makes one read fail
with a 503 (retried), and an ``InterventionResolver`` settles the overpaid one and holds
the underpaid one. The client reports to an in-memory metric reader, which this program
reads at the end: per API path, the requests sent (one per attempt, so a retried call
counts twice), their statuses, the retries and the mean duration, then the resolver's
outcomes.

In an application, the reader is your exporter's (OTLP, Prometheus, ...) and the
providers are usually the global ones: ``CalypsoClient(..., telemetry=True)``. It needs
``pip install 'calypso_async[otel]' opentelemetry-sdk`` (the clone's test environment
has both). Run it from the repository's root::

    .venv/bin/python examples/metrics.py

The resolver also logs the underpaid invoice it holds, at WARNING, on stderr: a held
invoice waits for a human.

``tests/examples/test_metrics_example.py`` runs it and checks the table.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData

from calypso_async import InterventionResolver, InvoiceState, Telemetry
from calypso_async.testing import FakeCalypso

PAYMENTS = {"exact": "10.234", "over": "10.50", "under": "10.00"}


async def run(telemetry: Telemetry) -> None:
    """Create, pay and settle three invoices, with one read failing once on the way."""
    async with FakeCalypso(settle_delay=0.05) as fake, fake.client(telemetry=telemetry) as client:
        ids = {}
        for name, paid in PAYMENTS.items():
            invoice = await client.invoices.create_single(
                amount=Decimal("10.234"), currency="USDT", description=f"order {name}"
            )
            await fake.pay(invoice.id, Decimal(paid))
            ids[name] = invoice.id
        fake.fail("/api/v1/invoice", 503)  # the gateway fails once: the read is retried
        await client.invoices.wait_for(ids["exact"], InvoiceState.COMPLETED, interval=0.05)
        resolver = InterventionResolver(client, poll_interval=0.05)
        for name in ("over", "under"):
            await resolver.resolve(ids[name])


def _points(data: MetricsData | None, name: str) -> list[Any]:
    if data is None:
        return []
    return [
        point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def table(data: MetricsData | None) -> list[str]:
    """The per-path table, and a line of the resolver's outcomes."""
    requests: dict[str, int] = defaultdict(int)
    statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    retries: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    for point in _points(data, "calypso.client.requests"):
        path = str(point.attributes["url.template"])
        status = point.attributes.get("http.response.status_code")
        outcome = str(status) if status is not None else point.attributes["error.type"]
        requests[path] += point.value
        statuses[path][outcome] += point.value
    for point in _points(data, "calypso.client.retries"):
        retries[str(point.attributes["url.template"])] += point.value
    for point in _points(data, "calypso.client.request.duration"):
        seconds[str(point.attributes["url.template"])] += point.sum
    width = max(len(path) for path in requests)
    lines = [f"{'path':<{width}}  requests  retries  mean ms  statuses"]
    for path in sorted(requests):
        mean_ms = seconds[path] / requests[path] * 1000
        seen = " ".join(f"{status}x{count}" for status, count in sorted(statuses[path].items()))
        lines.append(
            f"{path:<{width}}  {requests[path]:>8}  {retries[path]:>7}  {mean_ms:>7.1f}  {seen}"
        )
    outcomes = {
        str(point.attributes["calypso.outcome"]): point.value
        for point in _points(data, "calypso.resolver.outcomes")
    }
    lines.append("resolver outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    return lines


def main() -> None:
    """Run against an in-process FakeCalypso and print what the metrics say."""
    # The held invoice is logged at WARNING, as every held one is: say whose line it is.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    try:
        # Spans go to the global tracer provider: none is set here, so nowhere.
        asyncio.run(run(Telemetry(meter_provider=meter_provider)))
        print("\n".join(table(reader.get_metrics_data())))
    finally:
        meter_provider.shutdown()


if __name__ == "__main__":
    main()
