"""Fixtures for the command-line tests: a FakeCalypso main() can reach, its variables set."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from calypso_async.testing import FakeCalypso

T = TypeVar("T")

FIRST_LINE = re.compile(
    r"CALYPSO_BASE_URL=(?P<CALYPSO_BASE_URL>http://127\.0\.0\.1:\d+) "
    r"CALYPSO_API_KEY=(?P<CALYPSO_API_KEY>\S+) "
    r"CALYPSO_SECRET_KEY=(?P<CALYPSO_SECRET_KEY>\S+) "
    r"CALYPSO_ACCOUNT=(?P<CALYPSO_ACCOUNT>\S+)"
)


@pytest.fixture(scope="module")
def fake_process() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """`python -m calypso_async fake --port 0` in a subprocess, always terminated."""
    process = subprocess.Popen(
        [sys.executable, "-m", "calypso_async", "fake", "--port", "0", "--api-key", "cli-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = FIRST_LINE.fullmatch(first.strip())
        assert match, f"unexpected first line: {first!r}"
        yield process, match.groupdict()
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


class ThreadedFake:
    """A FakeCalypso on an event loop in another thread, so main() can asyncio.run."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake: FakeCalypso = self.run(self._start())

    async def _start(self) -> FakeCalypso:
        fake = FakeCalypso(settle_delay=None)
        fake.payout_step_delay = None
        await fake.start()
        await fake.fund("USDT", "100")
        await fake.fund("ETH", "100")
        return fake

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def close(self) -> None:
        self.run(self.fake.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def threaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadedFake]:
    """A fake with 100 USDT and 100 ETH on a thread of its own, its CALYPSO_* set."""
    made = ThreadedFake()
    fake = made.fake
    monkeypatch.setenv("CALYPSO_API_KEY", fake.api_key)
    monkeypatch.setenv("CALYPSO_SECRET_KEY", fake.secret_key)
    monkeypatch.setenv("CALYPSO_ACCOUNT", fake.account)
    monkeypatch.setenv("CALYPSO_BASE_URL", fake.base_url)
    try:
        yield made
    finally:
        made.close()
