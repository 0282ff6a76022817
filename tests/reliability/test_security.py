"""Security: no secret leaves the process, signatures are compared in constant time, TLS is
not optional off loopback, replays are processed once, and a bad signature learns nothing.
"""

from __future__ import annotations

import ast
import asyncio
import hmac
import io
import logging
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import calypso_async
from calypso_async import (
    CalypsoClient,
    CalypsoError,
    ConfigurationError,
    EventType,
    InterventionResolver,
    InvoiceState,
    Outcome,
    Resolution,
    WebhookEvent,
    sign,
    webhook_handler,
)
from calypso_async._cli.demo import run_demo
from calypso_async.testing import FakeCalypso
from tests.reliability.harness import AMOUNT, GET, RTP, Receiver

API_KEY = "4f3c2b1a00998877665544332211ffee"
API_SECRET = "api-secret-5e4d3c2b1a0f9e8d7c6b5a4938271605"


def texts_of(records: Iterable[logging.LogRecord]) -> list[str]:
    """Everything a log handler could write: message, arguments, extras, traceback."""
    formatter = logging.Formatter()
    texts = []
    for record in records:
        texts += [record.getMessage(), repr(record.__dict__)]
        if record.exc_info:
            texts.append(formatter.formatException(record.exc_info))
    return texts


def exception_texts(error: BaseException) -> list[str]:
    """str, repr and the full traceback (causes included) of an exception."""
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


def assert_nothing_secret(texts: Iterable[str], secrets: dict[str, str]) -> None:
    """No text holds any of the secrets (named in the failure, never shown)."""
    assert all(len(value) >= 16 for value in secrets.values()), "secrets too short to search"
    for text in texts:
        for name, value in secrets.items():
            assert value not in text, f"{name} leaked into: {text[:200]!r}..."


# -- no secret in logs, reprs or errors ------------------------------------------------------


async def test_full_flow_at_debug_leaks_no_secret_or_signature(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Webhooks, resolver, retries, refusals and errors, all logged at DEBUG: no API secret,
    no webhook secret, no Sign value in any record, repr or exception."""
    caplog.set_level(logging.DEBUG)
    seen_errors: list[BaseException] = []
    resolutions: list[Resolution] = []
    async with (
        FakeCalypso(api_key=API_KEY, secret_key=API_SECRET, settle_delay=0.01) as fake,
        fake.client(max_retries=3) as client,
        Receiver() as receiver,
    ):
        subscription = await client.webhooks.create(
            url=receiver.url, event_types=[EventType.INVOICE_PENDING_INTERVENTION]
        )
        assert subscription.secret_key is not None
        resolver = InterventionResolver(
            client, poll_interval=0.01, completion_timeout=5, on_outcome=resolutions.append
        )
        handler = webhook_handler(subscription.secret_key, resolver=resolver)
        receiver.handler = handler
        async with resolver:
            fake.fail(GET, 503, times=2)  # retried, logged at INFO
            fake.drop(RTP, after_action=True)  # a lost write, re-read by the resolver
            for paid in ("10.50", "10.00", "11.00"):
                invoice = await client.invoices.create_single(
                    amount=AMOUNT, currency="USDT", description="secure"
                )
                await fake.pay(invoice.id, Decimal(paid))
            await fake.wait_for_deliveries()
            await resolver.join()
            # A forged delivery, a wrong API secret and an unknown invoice, for good measure.
            async with aiohttp.ClientSession() as http:
                body = (
                    b'{"requestId": "sub-1", "id": 99, "eventType": "INVOICE_PENDING_INTERVENTION"}'
                )
                forged = {"Sign": sign(body, API_SECRET)}
                async with http.post(receiver.url, data=body, headers=forged) as response:
                    assert response.status == 401
            async with fake.client(secret_key=API_SECRET[::-1]) as impostor:
                with pytest.raises(CalypsoError) as refused:
                    await impostor.account.balances()
                seen_errors.append(refused.value)
            with pytest.raises(CalypsoError) as missing:
                await client.invoices.get("no-such-invoice")
            seen_errors.append(missing.value)
        outcomes = sorted(str(r.outcome) for r in resolutions)
        reprs = [repr(client), repr(client.session), repr(resolver), repr(subscription)]
        reprs += [repr(handler.__self__), repr(resolutions), repr(fake)]  # type: ignore[attr-defined]
        signatures = {f"Sign of call {n}": c.headers["Sign"] for n, c in enumerate(fake.calls)}
        signatures |= {
            f"Sign of delivery {n}": d.headers["Sign"] for n, d in enumerate(fake.deliveries)
        }
    assert outcomes == ["HELD", "RESOLVED", "RESOLVED"]
    errors = seen_errors + [r.error for r in resolutions if r.error is not None]
    texts = texts_of(caplog.records) + reprs + [t for e in errors for t in exception_texts(e)]
    assert any("retrying" in text for text in texts), "the retries were logged"
    secrets = {"API secret": API_SECRET, "webhook secret": subscription.secret_key}
    assert_nothing_secret(texts, secrets | signatures)


async def test_the_shipped_demo_at_debug_leaks_no_secret_or_signature(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`calypso-async demo` (webhooks, resolver, its fake) prints and logs no secret."""
    caplog.set_level(logging.DEBUG)
    fakes: list[FakeCalypso] = []
    start = FakeCalypso.start

    async def start_and_watch(self: FakeCalypso) -> None:
        fakes.append(self)
        await start(self)
        self.fail(GET, 503)  # one retry in the demo's log too

    monkeypatch.setattr(FakeCalypso, "start", start_and_watch)
    out = io.StringIO()
    assert await run_demo(out) == 0, out.getvalue()
    (fake,) = fakes
    secrets = {"API secret": fake.secret_key}
    secrets |= {f"webhook secret {n}": s["secretKey"] for n, s in enumerate(fake.subscriptions)}
    secrets |= {f"Sign of call {n}": c.headers["Sign"] for n, c in enumerate(fake.calls)}
    secrets |= {f"Sign of delivery {n}": d.headers["Sign"] for n, d in enumerate(fake.deliveries)}
    assert len(secrets) > 10
    assert_nothing_secret([out.getvalue(), *texts_of(caplog.records)], secrets)


# -- constant-time comparison ----------------------------------------------------------------


async def _get_cut_by_the_callers_timeout(client: CalypsoClient) -> None:
    async with asyncio.timeout(0.2):
        await client.invoices.get("inv-1")


async def _wait_for_timing_out(client: CalypsoClient) -> None:
    await client.invoices.wait_for("inv-1", InvoiceState.PAID, timeout=0.2)


@pytest.mark.parametrize(
    ("fault", "call"),
    [
        ("drop", lambda client: client.invoices.get("inv-1")),
        ("delay", lambda client: client.invoices.get("inv-1")),
        ("delay", _get_cut_by_the_callers_timeout),
        ("delay", _wait_for_timing_out),
    ],
    ids=["connection-lost", "attempt-timeout", "callers-timeout", "wait-for-timeout"],
)
async def test_a_failed_request_leaves_no_sign_in_captured_frame_locals(
    fault: str, call: Callable[[CalypsoClient], Coroutine[Any, Any, object]]
) -> None:
    """A lost connection or a timeout inside aiohttp: an error reporter that records the
    locals of every frame along the cause chain sees no Key, Sign or signed body (aiohttp's
    own frames hold them in a plain mapping, so their tracebacks are not kept)."""
    async with FakeCalypso() as fake, fake.client(max_retries=0, timeout=0.2) as client:
        if fault == "drop":
            fake.drop(GET)
        else:
            fake.delay(GET, 5)
        with pytest.raises((CalypsoError, TimeoutError)) as caught:
            await call(client)
        # Formatted before this frame holds the recorded request as a local itself.
        text = "".join(
            traceback.TracebackException.from_exception(caught.value, capture_locals=True).format()
        )
    (call,) = fake.calls_to(GET)
    assert call.headers["Sign"] not in text
    assert fake.api_key not in text
    assert fake.secret_key not in text
    assert type(caught.value).__name__ in text  # what went wrong is still said


async def test_webhook_signatures_are_compared_with_compare_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A delivery through the adapter is verified by hmac.compare_digest, never ==."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    secret = "whsec-" + "ab" * 16
    accepted: list[WebhookEvent] = []
    body = b'{"requestId": "sub-1", "id": 5, "eventType": "INVOICE_PAID"}'
    async for post in serve(webhook_handler(secret, on_event=accepted.append)):
        assert await post(body, {"Sign": sign(body, secret)}) == (200, "ok")
        assert (await post(body + b" ", {"Sign": sign(body, secret)}))[0] == 401
    expected = sign(body, secret).encode()
    assert compared[0] == (expected, expected)
    assert len(compared) == 2
    assert len(accepted) == 1


def comparisons_of_secrets(source: str) -> list[str]:
    """== / != comparisons in ``source`` with an operand named like a signature or secret."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops
        ):
            names = [
                part.id if isinstance(part, ast.Name) else getattr(part, "attr", "")
                for operand in [node.left, *node.comparators]
                for part in ast.walk(operand)
            ]
            if any(word in name.lower() for name in names for word in ("sign", "secret")):
                found.append(ast.unparse(node))
    return found


def test_no_signature_or_secret_is_ever_compared_with_equals() -> None:
    """Nowhere in the package (fake server included) is a Sign or secret compared with ==."""
    assert comparisons_of_secrets("ok = received_sign == expected") == [
        "received_sign == expected"
    ], "the scan finds what it looks for"
    package = Path(calypso_async.__file__).parent
    offenders = {
        str(path.relative_to(package)): found
        for path in sorted(package.rglob("*.py"))
        if (found := comparisons_of_secrets(path.read_text()))
    }
    assert offenders == {}


# -- TLS is not optional off loopback --------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1.nip.io",
        "http://localhost.",
        "http://0.0.0.0:8080",
        "http://[::ffff:10.0.0.1]",
        "http://2130706433",
        "http://127.1",
        "HTTP://api.calypso.finance",
        "http://[::]",
    ],
)
def test_plain_http_to_anything_but_a_loopback_address_is_refused(base_url: str) -> None:
    """Look-alikes of loopback (DNS tricks, wildcard, shorthand, numeric) are refused."""
    with pytest.raises(ConfigurationError, match="https"):
        CalypsoClient(api_key="k", secret_key="s", account="a", base_url=base_url)


@pytest.mark.parametrize("base_url", ["http://127.255.0.9:1", "http://[::1]", "https://10.0.0.1"])
def test_loopback_http_and_any_https_are_accepted(base_url: str) -> None:
    """The whole 127/8 block and ::1 are loopback; https is fine anywhere."""
    client = CalypsoClient(api_key="k", secret_key="s", account="a", base_url=base_url)
    assert client.session.base_url == base_url


def test_tls_verification_is_never_switched_off_in_the_package() -> None:
    """No ssl=False, verify_ssl or CERT_NONE anywhere in the SDK's source."""
    package = Path(calypso_async.__file__).parent
    words = ("ssl=False", "verify_ssl", "CERT_NONE", "check_hostname = False")
    offenders = [
        f"{path.name}: {word}"
        for path in package.rglob("*.py")
        for word in words
        if word in path.read_text()
    ]
    assert offenders == []


# -- replays and bad signatures at the adapter -----------------------------------------------

Post = Callable[[bytes, dict[str, str]], Coroutine[Any, Any, tuple[int, str]]]


async def serve(handler: Any) -> AsyncIterator[Post]:
    app = web.Application()
    app.router.add_post("/hook", handler)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:

        async def post(body: bytes, headers: dict[str, str]) -> tuple[int, str]:
            async with http.post(server.make_url("/hook"), data=body, headers=headers) as r:
                return r.status, await r.text()

        yield post


async def test_replayed_deliveries_from_calypso_are_processed_once_each() -> None:
    """FakeCalypso sends every event three times: each event id reaches the code once."""
    seen: list[WebhookEvent] = []
    async with FakeCalypso(settle_delay=None) as fake, fake.client() as client:
        fake.duplicate_deliveries = 2
        async with Receiver() as receiver:
            subscription = await client.webhooks.create(
                url=receiver.url, event_types=[EventType.INVOICE_FUNDS_RECEIVED_FOR_INVOICE]
            )
            assert subscription.secret_key is not None
            receiver.handler = webhook_handler(subscription.secret_key, on_event=seen.append)
            for _ in range(4):
                invoice = await client.invoices.create_unlimited(currency="ETH", description="r")
                await fake.pay(invoice.id, "1")
            await fake.wait_for_deliveries()
        deliveries = fake.deliveries
    assert len(deliveries) == 12
    assert all(delivery.ok for delivery in deliveries)
    assert sorted(int(event.id or 0) for event in seen) == sorted(
        {int(delivery.event["id"]) for delivery in deliveries}
    )
    assert len(seen) == 4


async def test_a_replay_arriving_while_the_first_copy_is_processed_is_not_processed_again() -> None:
    """Two copies at once: the second is told to come back (409), the event handled once."""
    gate = asyncio.Event()
    handled: list[str | None] = []

    async def slow(event: WebhookEvent) -> None:
        handled.append(event.id)
        await gate.wait()

    secret = "whsec-" + "cd" * 16
    body = b'{"requestId": "sub-1", "id": 7, "eventType": "INVOICE_PAID"}'
    async for post in serve(webhook_handler(secret, on_event=slow)):
        first = asyncio.create_task(post(body, {"Sign": sign(body, secret)}))
        while not handled:  # noqa: ASYNC110 - the callback's record is the signal
            await asyncio.sleep(0.005)
        assert await post(body, {"Sign": sign(body, secret)}) == (409, "in progress")
        gate.set()
        assert await first == (200, "ok")
        assert await post(body, {"Sign": sign(body, secret)}) == (200, "duplicate")
    assert handled == ["7"]


async def test_replay_memory_stays_bounded_under_a_flood_of_events() -> None:
    """With room for 8 ids, a flood of 500 is answered and the oldest ids are forgotten."""
    secret = "whsec-" + "ef" * 16
    handled: list[str | None] = []
    handler = webhook_handler(secret, on_event=lambda e: handled.append(e.id), replay_cache_size=8)
    async for post in serve(handler):
        for number in range(500):
            body = f'{{"requestId": "sub-1", "id": {number}, "eventType": "INVOICE_PAID"}}'.encode()
            assert (await post(body, {"Sign": sign(body, secret)}))[0] == 200
        replays = [
            f'{{"requestId": "sub-1", "id": {n}, "eventType": "INVOICE_PAID"}}'.encode()
            for n in (0, 499)
        ]
        for body in replays:
            await post(body, {"Sign": sign(body, secret)})
    assert len(handler.__self__._accepted) == 8  # type: ignore[attr-defined]
    assert handled[-1] == "0", "the oldest id was forgotten and processed again"
    assert handled.count("499") == 1, "the newest is still remembered"


SECRET = "whsec-" + "12" * 16
BODY = b'{"requestId": "sub-1", "id": 11, "eventType": "INVOICE_PENDING_INTERVENTION", "data": {}}'


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sign": ""},
        {"Sign": sign(BODY, "not-the-secret")},
        {"Sign": sign(BODY + b" ", SECRET)},
        {"Sign": sign(BODY, SECRET)[:-2]},
        {"Sign": "zz" * 64},
        {"Sign": "ä" * 128},
        {"Sign": sign(BODY, SECRET) * 50},
    ],
    ids=[
        "none",
        "empty",
        "wrong-secret",
        "other-body",
        "truncated",
        "not-hex",
        "non-ascii",
        "long",
    ],
)
async def test_bad_signature_gets_an_empty_401_and_nothing_is_processed(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """No body, no hint, no processing, and the offered Sign is not logged."""
    caplog.set_level(logging.DEBUG)
    handled: list[WebhookEvent] = []
    async for post in serve(webhook_handler(SECRET, on_event=handled.append)):
        status, text = await post(BODY, headers)
    assert (status, text) == (401, "")
    assert handled == []
    if headers.get("Sign"):
        assert_nothing_secret(
            texts_of(caplog.records), {"offered Sign": headers["Sign"], "secret": SECRET}
        )


async def test_a_delivery_refused_while_the_resolver_is_down_is_accepted_once_it_is_back() -> None:
    """503 (not remembered as seen) while stopped; the redelivery then reaches the resolver."""
    resolutions: list[Resolution] = []
    async with FakeCalypso(settle_delay=None) as fake, fake.client() as client:
        invoice = await client.invoices.create_single(
            amount=Decimal("1"), currency="USDT", description="order 1"
        )
        resolver = InterventionResolver(client, on_outcome=resolutions.append)
        handler = webhook_handler(SECRET, resolver=resolver)
        body = (
            b'{"requestId": "sub-1", "id": 12, "eventType": "INVOICE_PENDING_INTERVENTION",'
            b' "data": '
            b'{"parentExternalId": "%s"}}' % invoice.id.encode()
        )
        async for post in serve(handler):
            assert (await post(body, {"Sign": sign(body, SECRET)}))[0] == 503
            assert resolutions == []
            async with resolver:
                assert await post(body, {"Sign": sign(body, SECRET)}) == (200, "ok")
                await resolver.join()
    # The redelivery reached the resolver, which read the invoice: no intervention open.
    assert [(r.invoice_id, r.outcome) for r in resolutions] == [(invoice.id, Outcome.SKIPPED)]
