"""Shared fixtures: the aioresponses compatibility shim, fixtures on disk, a fake clock."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core

from calypso_async import CalypsoClient

FIXTURES = Path(__file__).parent / "fixtures"

API_KEY = "c529e14832b34b74972365cf7bf02430"
SECRET_KEY = "b823a6b9ea72408583cef9ec8d67fa52"
ACCOUNT = "0xc195df92dd9db2a8f28e597981f113d6e7582f8b"
BASE_URL = "https://api.calypso.test"


def load_fixture(name: str) -> str:
    """Return a JSON fixture's text exactly as stored (money stays digit-exact)."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def load_fixture_json(name: str) -> Any:
    return json.loads(load_fixture(name))


# aioresponses 0.7.9 builds ClientResponse objects without the `stream_writer` argument
# that aiohttp 3.14 made required, and crashes. Rather than pin aiohttp below 3.14 for
# everyone, the test suite hands aioresponses a ClientResponse that supplies a stand-in
# writer when aiohttp asks for one. On aiohttp versions without the argument this is a
# no-op. Drop it once aioresponses releases a fix.
_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class _CompatClientResponse(ClientResponse):
    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mock_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """An aioresponses mock that works on every aiohttp this project supports."""
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _CompatClientResponse)
    with aioresponses() as mocked:
        yield mocked


class FakeTime:
    """A clock and sleep that never wait: sleeping moves the clock forward."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def client(fake_time: FakeTime) -> AsyncIterator[CalypsoClient]:
    """A client on the published test-vector credentials, with a clock that never waits."""
    async with CalypsoClient(
        api_key=API_KEY,
        secret_key=SECRET_KEY,
        account=ACCOUNT,
        base_url=BASE_URL,
        sleep=fake_time.sleep,
        clock=fake_time.monotonic,
        wall_clock=fake_time.wall,
        rand=lambda: 0.5,
    ) as c:
        yield c


@pytest.fixture
async def make_client(fake_time: FakeTime) -> AsyncIterator[Callable[..., CalypsoClient]]:
    """Build clients like ``client`` with other options; each is closed after the test."""
    made: list[CalypsoClient] = []

    def make(**options: Any) -> CalypsoClient:
        settings: dict[str, Any] = {
            "api_key": API_KEY,
            "secret_key": SECRET_KEY,
            "account": ACCOUNT,
            "base_url": BASE_URL,
            "sleep": fake_time.sleep,
            "clock": fake_time.monotonic,
            "wall_clock": fake_time.wall,
            "rand": lambda: 0.5,
        }
        settings.update(options)
        made.append(CalypsoClient(**settings))
        return made[-1]

    yield make
    for made_client in made:
        await made_client.aclose()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say it at the end when the Redis tests did not run, and how to run them."""
    skipped = terminalreporter.stats.get("skipped", [])
    redis = [report for report in skipped if "no Redis server" in str(report.longrepr)]
    if redis:
        terminalreporter.write_line(
            f"{len(redis)} Redis tests skipped: set CALYPSO_TEST_REDIS_URL="
            "redis://127.0.0.1:6379/15 to a redis-server you can write to "
            "(.ci/run starts one)",
            yellow=True,
        )
    others = len(skipped) - len(redis)
    if others:
        terminalreporter.write_line(
            f"{others} other skips are by design (a test that cannot apply to a store); "
            "pytest -rs lists their reasons"
        )
