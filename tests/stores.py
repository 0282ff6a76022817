"""Stores for the tests: one factory for memory, SQLite and Redis, and the Redis switch.

The Redis tests need a real server: ``CALYPSO_TEST_REDIS_URL`` names it (``.ci/run``
starts one). Without it they skip, saying how to run them; with ``CI=true`` a missing
server fails them instead, so a green CI always means Redis was tested.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from calypso_async._resolver.ports import Claim, ResolverStore
from calypso_async.stores import MemoryStore, SQLiteStore

REDIS_URL_VARIABLE = "CALYPSO_TEST_REDIS_URL"
KINDS = ("memory", "sqlite", "redis")


def redis_url() -> str:
    """The test Redis server's URL, or skip (fail under ``CI=true``) without one."""
    url = os.environ.get(REDIS_URL_VARIABLE)
    if url:
        return url
    how = (
        f"set {REDIS_URL_VARIABLE}=redis://127.0.0.1:6379/15 to a redis-server you can "
        "write to (.ci/run starts one)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but no Redis server for the Redis tests: {how}")
    pytest.skip(f"no Redis server: {how}")


def redis_server() -> str:
    """The redis-server program, for tests that start and stop their own."""
    found = os.environ.get("CALYPSO_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if found:
        return found
    how = "install redis-server (Debian: apt-get install redis-server)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but redis-server is missing: {how}")
    pytest.skip(f"redis-server is missing: {how}")


class StoreClock:
    """The store's clock, moved by hand (Unix-like seconds)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Stores:
    """Makes stores of one kind that share their state, as processes sharing it would."""

    def __init__(self, kind: str, tmp_path: Path, clock: StoreClock) -> None:
        self.kind = kind
        self.clock = clock
        self._path = tmp_path / "resolver.db"
        self._namespace = f"test-{uuid.uuid4().hex}"
        self._url = redis_url() if kind == "redis" else ""
        self._made: list[ResolverStore] = []
        self._memory: MemoryStore | None = None

    @property
    def shared(self) -> bool:
        """Whether two stores made here share state (every kind but memory)."""
        return self.kind != "memory"

    def store(self, **options: Any) -> ResolverStore:
        """Another handle on the same state (the same object for memory)."""
        made: ResolverStore
        if self.kind == "memory":
            if self._memory is None:
                self._memory = MemoryStore(clock=self.clock, **options)
                self._memory.source("tests", 30.0)  # intake is open while a source runs
            return self._memory
        if self.kind == "sqlite":
            made = SQLiteStore(self._path, clock=self.clock, **options)
        else:
            from calypso_async.stores import RedisStore

            made = RedisStore(self._url, namespace=self._namespace, clock=self.clock, **options)
        self._made.append(made)
        return made

    async def close(self) -> None:
        if self.kind == "redis" and self._made:
            store: Any = self._made[0]
            await store.open()
            keys = [
                key async for key in store._redis.scan_iter(match="{" + self._namespace + "}:*")
            ]
            if keys:
                await store._redis.delete(*keys)
        for store in self._made:
            await store.aclose()


async def take(store: ResolverStore, owner: str, lease: float = 30.0) -> Claim | None:
    """The next due invoice, claimed for ``owner``, or ``None`` when nothing is due."""
    next_claim: Callable[..., Any] = store.next_claim  # type: ignore[attr-defined]
    claim: Claim | None = await next_claim(owner, lease, wait=0)
    return claim


async def stores_of(kind: str, tmp_path: Path) -> AsyncIterator[Stores]:
    """A ``Stores`` for the length of one test."""
    made = Stores(kind, tmp_path, StoreClock())
    try:
        yield made
    finally:
        await made.close()
