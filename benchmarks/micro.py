"""One call's client-side CPU work, without a network: the SDK against the raw dict path.

``python -m benchmarks.micro`` times, in microseconds per call (best of ``--repeat``
runs of ``--iterations`` calls), each step a poll does besides waiting:

* envelope + serialise, sign, parse: the SDK's ``CalypsoSession.envelope``, ``Signer`` and
  ``Decimal``-preserving ``loads`` against ``json.dumps``, a keyed HMAC and ``json.loads``;
* structure: turning the parsed dict into an ``Invoice`` (the SDK only);
* whole get, stub transport: ``client.invoices.get`` and the raw client's
  ``get_invoice`` end to end with aiohttp's ``request`` replaced by a canned answer,
  so the session layer's own cost (retry loop, timeout, error checks) shows too. The
  stub also skips aiohttp's own timeout timer, which the raw client relies on, while the
  SDK's per-attempt timer is counted: this step overstates the difference a live poll
  sees (``benchmarks.instructions`` measures that).

The answer body is a real invoice as FakeCalypso writes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from calypso_async import CalypsoClient, Invoice, Telemetry
from calypso_async._core import json as sdk_json
from calypso_async._core.signing import Signer
from calypso_async._types.converter import structure
from calypso_async.testing import FakeCalypso

from . import _stats
from ._raw import RawClient, RawSigner, raw_body

# The published test-vector credentials: nothing secret, and nothing is sent anyway.
API_KEY = "c529e14832b34b74972365cf7bf02430"
SECRET_KEY = "b823a6b9ea72408583cef9ec8d67fa52"  # noqa: S105
ACCOUNT = "0xc195df92dd9db2a8f28e597981f113d6e7582f8b"
BASE_URL = "http://127.0.0.1:9"  # never contacted: the transport is a stub


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line (``--help`` lists every option and its default)."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.micro",
        description="Client-side CPU per call without a network: SDK vs raw dicts.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--iterations", type=int, default=5_000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per step (best is kept)")
    parser.add_argument(
        "--output", type=Path, default=_stats.default_output("micro"), help="JSON path"
    )
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.repeat < 1:
        parser.error("--iterations and --repeat must be at least 1")
    return args


async def _sample_answer() -> bytes:
    """A fresh SINGLE invoice exactly as FakeCalypso answers it."""
    async with FakeCalypso() as fake, fake.client() as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("10.234"), currency="USDT", description="order 42"
        )
        return sdk_json.dumps(fake.invoice(invoice.id))


class _StubResponse:
    def __init__(self, body: bytes) -> None:
        self.status = 200
        self.headers = CIMultiDictProxy(
            CIMultiDict({"Date": formatdate(time.time(), usegmt=True), "Content-Type": "x"})
        )
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def __aenter__(self) -> _StubResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def _stub_transport(http: aiohttp.ClientSession, body: bytes) -> None:
    response = _StubResponse(body)

    def answer(*args: Any, **kwargs: Any) -> _StubResponse:
        return response

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiohttp warns in debug mode
        for name in ("request", "post"):
            setattr(http, name, answer)


def _best_sync(step: Callable[[], object], iterations: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(iterations):
            step()
        best = min(best, time.perf_counter() - started)
    return best / iterations * 1e6


async def _best_async(step: Callable[[], Awaitable[object]], iterations: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(iterations):
            await step()
        best = min(best, time.perf_counter() - started)
    return best / iterations * 1e6


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Time every step for both paths and return the results (the JSON written)."""
    answer = await _sample_answer()
    invoice_id = json.loads(answer)["id"]
    payload = {"id": invoice_id}
    n, repeat = args.iterations, args.repeat
    raw_signer, sdk_signer = RawSigner(SECRET_KEY), Signer(SECRET_KEY)
    body = raw_body(ACCOUNT, payload)
    parsed = sdk_json.loads(answer)
    steps: list[dict[str, Any]] = []

    def add(name: str, raw_us: float | None, sdk_us: float) -> None:
        steps.append(
            {
                "step": name,
                "raw_us": None if raw_us is None else _stats.finite(raw_us),
                "sdk_us": _stats.finite(sdk_us),
                "sdk_over_raw": None if raw_us is None else _stats.finite(sdk_us / raw_us),
            }
        )

    async with (
        aiohttp.ClientSession() as stub_http,
        CalypsoClient(
            api_key=API_KEY,
            secret_key=SECRET_KEY,
            account=ACCOUNT,
            base_url=BASE_URL,
            session=stub_http,
        ) as client,
        RawClient(
            base_url=BASE_URL, api_key=API_KEY, secret_key=SECRET_KEY, account=ACCOUNT
        ) as raw,
    ):
        session = client.session

        def raw_all() -> object:
            signed = raw_body(ACCOUNT, payload)
            raw_signer.sign(signed)
            return json.loads(answer)

        def sdk_all() -> Invoice:
            signed = session.envelope(payload)
            sdk_signer.sign(signed)
            return structure(sdk_json.loads(answer), Invoice)

        add(
            "envelope + serialise",
            _best_sync(lambda: raw_body(ACCOUNT, payload), n, repeat),
            _best_sync(lambda: session.envelope(payload), n, repeat),
        )
        add(
            "sign",
            _best_sync(lambda: raw_signer.sign(body), n, repeat),
            _best_sync(lambda: sdk_signer.sign(body), n, repeat),
        )
        add(
            "parse",
            _best_sync(lambda: json.loads(answer), n, repeat),
            _best_sync(lambda: sdk_json.loads(answer), n, repeat),
        )
        add("structure an Invoice", None, _best_sync(lambda: structure(parsed, Invoice), n, repeat))
        add("all of the above", _best_sync(raw_all, n, repeat), _best_sync(sdk_all, n, repeat))

        assert raw._http is not None
        _stub_transport(raw._http, answer)
        _stub_transport(stub_http, answer)
        add(
            "whole get, stub transport",
            await _best_async(lambda: raw.get_invoice(invoice_id), n, repeat),
            await _best_async(lambda: client.invoices.get(invoice_id), n, repeat),
        )
        for name, options in _observed_variants():
            async with CalypsoClient(
                api_key=API_KEY,
                secret_key=SECRET_KEY,
                account=ACCOUNT,
                base_url=BASE_URL,
                session=stub_http,
                **options,
            ) as observed:
                add(
                    f"whole get, {name}",
                    None,
                    await _best_async(lambda: observed.invoices.get(invoice_id), n, repeat),
                )

    total = next(s for s in steps if s["step"] == "whole get, stub transport")
    return {
        "benchmark": "micro",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _stats.machine(),
        "settings": {"iterations": n, "repeat": repeat, "answer_bytes": len(answer)},
        "steps": steps,
        "summary": (
            f"SUMMARY micro: a whole get, aiohttp's request excluded, costs "
            f"{total['sdk_us']:.1f} us of client CPU in the SDK and {total['raw_us']:.1f} us "
            f"raw ({total['sdk_us'] - total['raw_us']:.1f} us more; the SDK's figure includes "
            "its per-attempt timeout, raw's leaves aiohttp's out)"
        ),
    }


def _noop(event: object) -> None:
    return None


def _observed_variants() -> list[tuple[str, dict[str, Any]]]:
    """What a user may opt into, each a cost over the plain get: hooks, telemetry."""
    hooks = {"request": [_noop], "response": [_noop], "retry": [_noop]}
    variants: list[tuple[str, dict[str, Any]]] = [("a hook on each event", {"event_hooks": hooks})]
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:  # the otel extra and its SDK are optional here too
        return variants
    recording = Telemetry(
        tracer_provider=TracerProvider(),
        meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
    )
    variants.append(("telemetry=True, no SDK set up", {"telemetry": True}))
    variants.append(("telemetry, SDK tracer and meter", {"telemetry": recording}))
    return variants


def report(data: dict[str, Any]) -> str:
    """The readable table and the summary line."""
    rows = [
        [
            step["step"],
            "-" if step["raw_us"] is None else f"{step['raw_us']:.2f}",
            f"{step['sdk_us']:.2f}",
            "-" if step["sdk_over_raw"] is None else f"{step['sdk_over_raw']:.2f}",
        ]
        for step in data["steps"]
    ]
    return "\n".join(
        [
            _stats.table(["us per call (best)", "raw", "sdk", "sdk/raw"], rows),
            "",
            data["summary"],
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the micro-benchmark and print its table."""
    args = parse_args(argv)
    print(f"machine: {_stats.describe_machine(_stats.machine())}", file=sys.stderr)
    data = asyncio.run(run(args))
    output: Path = args.output
    _stats.write_json(output, data)
    print(report(data))
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the fake server has been stopped on the way out
        print("interrupted", file=sys.stderr)
        sys.exit(130)
