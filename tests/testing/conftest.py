"""Fixtures for the FakeCalypso tests: a fake, a client that never sleeps, a receiver."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from calypso_async import CalypsoClient, sign
from calypso_async._core import json as _json
from calypso_async.testing import FakeCalypso


class Sleeps:
    """A sleep for the client that records the delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def fake() -> AsyncIterator[FakeCalypso]:
    """A fake that settles only when told (``fake.settle``): no timing in the tests."""
    async with FakeCalypso(settle_delay=None, seed=7) as server:
        yield server


@pytest.fixture
async def client(fake: FakeCalypso, sleeps: Sleeps) -> AsyncIterator[CalypsoClient]:
    async with fake.client(sleep=sleeps, rand=lambda: 0.5) as c:
        yield c


async def raw_post(
    fake: FakeCalypso,
    path: str,
    body: bytes,
    *,
    key: str | None = None,
    signature: str | None = None,
    method: str = "POST",
) -> tuple[int, Any, Any]:
    """Send ``body`` as is (signed with the fake's secret unless ``signature`` is given)."""
    headers = {
        "Key": fake.api_key if key is None else key,
        "Sign": sign(body, fake.secret_key) if signature is None else signature,
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, fake.base_url + path, data=body, headers=headers) as response,
    ):
        raw = await response.read()
        return response.status, _json.loads(raw) if raw else None, response.headers


def envelope(fake: FakeCalypso, payload: Any = None, **overrides: Any) -> bytes:
    """A fresh envelope for the fake's account, as the session would write it."""
    body: dict[str, Any] = {"timestamp": int(time.time() * 1000), "account": fake.account}
    if payload is not None:
        body["payload"] = payload
    body.update(overrides)
    return _json.dumps(body)


class Receiver:
    """A webhook receiver on loopback: records every request, answers scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.statuses: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((await request.read(), dict(request.headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def events(self) -> list[dict[str, Any]]:
        return [_json.loads(body) for body, _ in self.requests]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.close()
