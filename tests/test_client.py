"""CalypsoClient: settings checked before any I/O, no secret shown, from_env, lifecycle."""

from __future__ import annotations

import asyncio
import traceback
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

import calypso_async
from calypso_async import (
    CalypsoClient,
    CalypsoSession,
    ConfigurationError,
    LifecycleError,
    RetryPolicy,
)
from calypso_async._resources import Account, Invoices, Webhooks

from .conftest import ACCOUNT, API_KEY, BASE_URL, SECRET_KEY, load_fixture

CREDENTIALS = {"api_key": API_KEY, "secret_key": SECRET_KEY, "account": ACCOUNT}


def build(**overrides: Any) -> CalypsoClient:
    return CalypsoClient(**{**CREDENTIALS, "base_url": BASE_URL, **overrides})


@pytest.mark.parametrize("name", ["api_key", "secret_key", "account"])
@pytest.mark.parametrize(
    "value",
    ["", "   ", " leading", "trailing\n", "in side", "tab\there", "nul\x00", None, 42],
    ids=repr,
)
def test_unusable_credential_is_refused_by_name_without_its_value(name: str, value: Any) -> None:
    """Empty, spaced or non-str credentials fail; the message names them, never the value."""
    with pytest.raises(ConfigurationError) as info:
        build(**{name: value})
    message = str(info.value)
    assert name in message
    if isinstance(value, str) and value.strip():
        assert value.strip() not in message


def test_secret_with_a_space_is_refused_without_echoing_it() -> None:
    """A pasted secret with a stray space is refused, and the message hides it."""
    secret = SECRET_KEY[:16] + " " + SECRET_KEY[16:]
    with pytest.raises(ConfigurationError) as info:
        build(secret_key=secret)
    assert SECRET_KEY[:16] not in str(info.value)
    assert SECRET_KEY[16:] not in str(info.value)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.calypso.finance",
        "https://api.calypso.money/",
        "https://api.calypso.test:8443",
        "http://127.0.0.1:8080",
        "http://127.0.0.1",
        "http://[::1]:8080",
        "http://localhost:8080",
        "http://LOCALHOST",
    ],
)
def test_https_or_loopback_http_base_url_is_accepted(base_url: str) -> None:
    """https anywhere, plain http only on loopback; a trailing slash is dropped."""
    client = build(base_url=base_url)
    assert client.session.base_url == base_url.rstrip("/")


@pytest.mark.parametrize(
    "base_url",
    [
        "http://10.0.0.1",
        "http://example.com",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "ftp://api.calypso.finance",
        "api.calypso.finance",
        "https://",
        "",
        "   ",
        "https://api.calypso.finance/?debug=1",
        "https://api.calypso.finance:notaport",
    ],
)
def test_plain_http_off_loopback_and_malformed_base_urls_are_refused(base_url: str) -> None:
    """TLS is never optional on a real network; malformed URLs fail before any I/O."""
    with pytest.raises(ConfigurationError):
        build(base_url=base_url)


def test_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    """user:password@ in the base URL is refused, and the password is not in the message."""
    with pytest.raises(ConfigurationError, match="credentials") as info:
        build(base_url="https://merchant:hunter2secret@api.calypso.finance")
    assert "hunter2secret" not in str(info.value)


def test_default_base_url_is_production() -> None:
    """Without base_url the client talks to api.calypso.finance over https."""
    client = CalypsoClient(**CREDENTIALS)
    assert client.session.base_url == "https://api.calypso.finance"


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": float("nan")},
        {"timeout": "30"},
        {"deadline": 0},
        {"deadline": float("inf")},
        {"max_retries": -1},
        {"max_retries": True},
        {"max_retries": 1.5},
        {"connection_limit": 0},
        {"connection_limit": "5"},
        {"connection_limit": 2.5},
        {"session": object()},
    ],
    ids=repr,
)
def test_bad_options_are_configuration_errors(options: dict[str, Any]) -> None:
    """Nonsense timeouts, retry counts and sessions fail at construction."""
    with pytest.raises(ConfigurationError):
        build(**options)


def test_retry_options_reach_the_session() -> None:
    """max_retries sets the policy; an explicit RetryPolicy wins."""
    assert build(max_retries=0).session.retry_policy.max_retries == 0
    policy = RetryPolicy(max_retries=5, backoff_cap=1.0)
    assert build(max_retries=0, retry_policy=policy).session.retry_policy is policy


def test_reprs_show_neither_secret_nor_api_key() -> None:
    """repr of the client and of its session are safe to log."""
    client = build()
    for text in (repr(client), str(client), repr(client.session), str(client.session)):
        assert SECRET_KEY not in text
        assert API_KEY not in text
    assert BASE_URL in repr(client)


def test_from_env_reads_the_calypso_variables() -> None:
    """All three required variables set: a client on the production URL."""
    client = CalypsoClient.from_env(
        {
            "CALYPSO_API_KEY": API_KEY,
            "CALYPSO_SECRET_KEY": SECRET_KEY,
            "CALYPSO_ACCOUNT": ACCOUNT,
        }
    )
    assert client.session.account == ACCOUNT
    assert client.session.base_url == "https://api.calypso.finance"


def test_from_env_takes_an_optional_base_url_and_extra_options() -> None:
    """CALYPSO_BASE_URL is used when set; keyword options pass through."""
    client = CalypsoClient.from_env(
        {
            "CALYPSO_API_KEY": API_KEY,
            "CALYPSO_SECRET_KEY": SECRET_KEY,
            "CALYPSO_ACCOUNT": ACCOUNT,
            "CALYPSO_BASE_URL": "http://127.0.0.1:9000",
        },
        max_retries=0,
    )
    assert client.session.base_url == "http://127.0.0.1:9000"
    assert client.session.retry_policy.max_retries == 0


def test_from_env_lists_every_missing_variable_by_name_only() -> None:
    """Missing or empty variables are all named; values are never shown."""
    with pytest.raises(ConfigurationError) as info:
        CalypsoClient.from_env({"CALYPSO_API_KEY": API_KEY, "CALYPSO_SECRET_KEY": ""})
    message = str(info.value)
    assert "CALYPSO_SECRET_KEY" in message
    assert "CALYPSO_ACCOUNT" in message
    assert "CALYPSO_API_KEY" not in message
    assert API_KEY not in message


SDK_ROOT = Path(calypso_async.__file__).resolve().parent


def sdk_frame_locals(error: BaseException) -> str:
    """Every local of every calypso_async frame in the traceback, as a reporter sees it.

    Frames are the SDK's by the package's own folder, so the test file's frames do not
    count wherever the checkout lives (a clone or sdist folder named calypso_async).
    """
    texts = []
    tb = error.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(SDK_ROOT):
            texts.extend(f"{name}={value!r}" for name, value in tb.tb_frame.f_locals.items())
        tb = tb.tb_next
    return "\n".join(texts)


@pytest.mark.parametrize(
    "environ",
    [
        {"CALYPSO_SECRET_KEY": SECRET_KEY, "CALYPSO_BASE_URL": "http://prod.example"},
        {"CALYPSO_SECRET_KEY": SECRET_KEY + "\n"},
        {"CALYPSO_SECRET_KEY": SECRET_KEY, "CALYPSO_ACCOUNT": ""},
    ],
    ids=["bad-base-url", "secret-with-newline", "missing-account"],
)
def test_from_env_refusals_leave_no_secret_in_sdk_frames(environ: dict[str, str]) -> None:
    """A refused setting from the environment: no SDK frame holds the secret or the env."""
    environ = {"CALYPSO_API_KEY": API_KEY, "CALYPSO_ACCOUNT": ACCOUNT, **environ}
    with pytest.raises(ConfigurationError) as info:
        CalypsoClient.from_env(environ, max_retries=1)
    captured = sdk_frame_locals(info.value)
    assert SECRET_KEY not in captured
    assert info.value.__context__ is None
    # A reporter capturing every frame's locals must not crash on a half-built object.
    report = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    assert "ConfigurationError" in "".join(report.format())


def test_a_refused_session_setting_does_not_break_a_locals_capturing_reporter() -> None:
    """repr of a session whose __init__ raised works (reporters call it on every frame)."""
    with pytest.raises(ConfigurationError) as info:
        CalypsoSession(api_key=API_KEY, secret_key=SECRET_KEY, account=ACCOUNT, base_url="ftp://x")
    report = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    assert "CalypsoSession(base_url='?'" in "".join(report.format())


def test_a_refused_secret_stays_out_of_the_sessions_frames() -> None:
    """A secret refused for its trailing newline is not kept in any SDK frame but the
    constructor's own arguments."""
    with pytest.raises(ConfigurationError) as info:
        CalypsoSession(api_key=API_KEY, secret_key=SECRET_KEY + "\n", account=ACCOUNT)
    assert SECRET_KEY not in sdk_frame_locals(info.value)


@pytest.mark.parametrize(
    "setting",
    [
        {"base_url": "http://prod.example"},
        {"timeout": -1},
        {"connection_limit": 0},
        {"api_key": API_KEY + "\n"},
        {"secret_key": SECRET_KEY + "\n"},
    ],
    ids=["base-url", "timeout", "connection-limit", "api-key", "secret-key"],
)
@pytest.mark.parametrize("build_with", [CalypsoClient, CalypsoSession])
def test_a_refused_setting_leaves_no_key_in_sdk_frames(
    setting: dict[str, Any], build_with: type[Any]
) -> None:
    """Neither constructor leaves the API key or secret in a frame of its traceback."""
    settings = {"api_key": API_KEY, "secret_key": SECRET_KEY, "account": ACCOUNT, **setting}
    with pytest.raises(ConfigurationError) as info:
        build_with(**settings)
    del settings
    captured = sdk_frame_locals(info.value)
    assert SECRET_KEY not in captured
    assert API_KEY not in captured


def test_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a mapping, from_env reads the process environment."""
    monkeypatch.setenv("CALYPSO_API_KEY", API_KEY)
    monkeypatch.setenv("CALYPSO_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("CALYPSO_ACCOUNT", "acct-from-env")
    monkeypatch.delenv("CALYPSO_BASE_URL", raising=False)
    assert CalypsoClient.from_env().session.account == "acct-from-env"


async def test_async_with_returns_the_client_and_closes_it() -> None:
    """`async with CalypsoClient(...) as c` gives the client itself, closed on exit."""
    client = build()
    async with client as entered:
        assert entered is client
        assert not client.session.closed
    assert client.session.closed


async def test_aclose_is_idempotent() -> None:
    """Closing twice is harmless, before or after any request."""
    client = build()
    await client.aclose()
    await client.aclose()
    assert client.session.closed


async def test_aclose_never_closes_a_borrowed_session_even_twice() -> None:
    """A borrowed aiohttp session survives the client, however often it is closed."""
    async with aiohttp.ClientSession() as http:
        client = build(session=http)
        await client.aclose()
        await client.aclose()
        assert not http.closed


def test_resources_are_namespaces_created_once() -> None:
    """client.invoices / webhooks / account are the same object on every access."""
    client = build()
    assert isinstance(client.invoices, Invoices)
    assert isinstance(client.webhooks, Webhooks)
    assert isinstance(client.account, Account)
    assert client.invoices is client.invoices
    assert client.webhooks is client.webhooks


def test_client_used_from_another_event_loop_is_a_lifecycle_error(
    mock_api: aioresponses,
) -> None:
    """A client belongs to the loop it first ran in; another loop gets a clear error."""
    mock_api.post(BASE_URL + "/api/v1/invoice", body=load_fixture("invoice_unlimited.json"))

    async def first_loop() -> CalypsoClient:
        async with aiohttp.ClientSession() as http:
            client = build(session=http)
            await client.invoices.get("75867d4d-764c-4dd2-94a5-3e07a41c22ea")
        return client

    client = asyncio.run(first_loop())
    with pytest.raises(LifecycleError, match="another event loop"):
        asyncio.run(client.invoices.get("75867d4d-764c-4dd2-94a5-3e07a41c22ea"))
    assert sum(len(calls) for calls in mock_api.requests.values()) == 1
