"""``RedisStore``: the resolver's shared state in Redis, for any number of machines.

Intake is a Redis Stream read by one consumer group: each pending invoice has one
stream entry, which a worker reads with ``XREADGROUP`` and acknowledges (``XACK``) when
its claim ends; a dead worker's entries are taken over with ``XAUTOCLAIM`` once idle
for a lease. The truth about each invoice (pending or claimed, by which token, until
when) is a hash that every operation reads and writes in one Lua script, so each is a
compare-and-set, and no lock's timing (no Redlock) is relied on. Event ids are
remembered with ``SET NX PX``. Needs the ``redis`` extra (redis-py's asyncio client).

All keys share one hash tag (``{calypso}`` by default), so a script's keys always sit
on one node. Run Redis with ``appendonly yes``: without persistence a restart of Redis
forgets what was accepted.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from ..._core import checks
from ..._errors import StoreError
from ..policy import Outcome, Write
from ..ports import Claim, Intake, OutcomeRecord, WriteRefused
from . import redis_scripts as lua
from .polling import PollingSource

__all__ = ["RedisStore"]

T = TypeVar("T")

_GROUP = "resolvers"
_OUTCOMES = (Outcome.RESOLVED, Outcome.HELD, Outcome.SKIPPED, Outcome.FAILED)
_TICK_MS = 1
_AUTOCLAIM_SCAN = 16
"""Idle entries looked at, at most, by one search for a dead worker's invoices."""


def _masked(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RedisStore:
    """The resolver's shared state in Redis, for processes on any number of machines.

    ::

        async with RedisStore("redis://redis.internal:6379/0") as store:
            async with InterventionResolver(client, store=store) as resolver:
                ...

    Args:
        url: ``redis://[user:password@]host[:port][/db]``, or ``rediss://`` for TLS.
        namespace: Prefix of every key, inside a hash tag (several shops on one Redis
            each take their own).
        clock: Unix seconds; every machine sharing the store must agree on it (NTP).
        replay_window: Seconds an accepted event id is remembered as a replay.
        keep: Seconds a finished outcome and a write record are kept.
        socket_timeout: Seconds a Redis command may take before the store reports it
            unreachable.
    """

    shared = True

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "calypso",
        clock: Callable[[], float] = time.time,
        replay_window: float = 3 * 24 * 3600.0,
        keep: float = 30 * 24 * 3600.0,
        socket_timeout: float = 5.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://")):
            raise StoreError("a RedisStore URL starts with redis:// or rediss://")
        if not isinstance(namespace, str) or not namespace or "}" in namespace:
            raise StoreError("namespace must be a non-empty string without '}'")
        self._url = url
        self.url = _masked(url)
        """The URL with any password shown as ``***``."""
        self._prefix = "{" + namespace + "}:"
        self._clock = clock
        self._replay_ms = int(checks.seconds("replay_window", replay_window) * 1000)
        self._keep_ms = int(checks.seconds("keep", keep) * 1000)
        self._socket_timeout = checks.seconds("socket_timeout", socket_timeout)
        self._redis: aioredis.Redis | None = None
        self._opening: asyncio.Lock | None = None
        self._autoclaimed = 0.0
        self._scripts: dict[str, Any] = {}
        self._stream = self._prefix + "intake"
        self._entries = self._prefix + "entries"
        self._claimed = self._prefix + "claimed"

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r})"

    async def __aenter__(self) -> RedisStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _key(self, kind: str, *parts: str) -> str:
        return self._prefix + kind + ":" + ":".join(parts)

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check the server answers and make the consumer group; idempotent."""
        if self._redis is not None:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._scripts:
                return  # opened by another task meanwhile
            client = aioredis.Redis.from_url(
                self._url,
                decode_responses=True,
                socket_connect_timeout=self._socket_timeout,
                socket_timeout=self._socket_timeout,
                health_check_interval=30,
            )
            try:
                await client.ping()
                try:
                    await client.xgroup_create(self._stream, _GROUP, id="0", mkstream=True)
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
            except RedisError as exc:
                await client.aclose()
                raise self._error(exc) from None
            self._scripts = {
                name: client.register_script(getattr(lua, name)) for name in lua.__all__
            }
            self._redis = client

    async def aclose(self) -> None:
        """Close the connections; idempotent."""
        client, self._redis = self._redis, None
        self._scripts = {}
        if client is not None:
            await client.aclose()

    def _error(self, exc: BaseException) -> StoreError:
        message = str(exc).replace(self._url, self.url)
        password = urlsplit(self._url).password
        if password:
            message = message.replace(password, "***")
        return StoreError(f"{self.url}: {type(exc).__name__}: {message}")

    async def _call(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        if self._redis is None:
            await self.open()
        assert self._redis is not None
        try:
            return await operation(self._redis)
        except (RedisError, OSError) as exc:
            raise self._error(exc) from None

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        if self._redis is None:
            await self.open()
        try:
            return await self._scripts[name](keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise self._error(exc) from None

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless Redis answers now."""
        await self._call(lambda r: r.ping())

    def source(self, owner: str, lease: float) -> PollingSource:
        """Claims for the workers of one resolver, read from the intake stream."""
        return PollingSource(self, owner, lease, wait=0.5)

    # -- intake and claims -------------------------------------------------------------

    async def accept(self, invoice_id: str, *, event_key: str | None = None) -> Intake:
        """Hold ``invoice_id`` as pending (see ``ResolverStore.accept``)."""
        keys = [
            self._key("inv", invoice_id),
            self._stream,
            self._key("event", event_key or "-"),
            self._entries,
        ]
        window = str(self._replay_ms) if event_key is not None else ""
        return Intake(await self._script("ACCEPT", keys, [invoice_id, self._now_ms(), window]))

    async def requeue(self, invoice_id: str) -> Intake:
        """Queue an invoice again (see ``ResolverStore.requeue``)."""
        return await self.accept(invoice_id)

    async def next_claim(self, owner: str, lease: float, *, wait: float) -> Claim | None:
        """Take over a dead worker's entry, or read a new one (waiting ``wait`` s)."""
        lease_ms = int(lease * 1000)
        now = time.monotonic()
        if now - self._autoclaimed >= lease / 4:
            # A dead worker's entries sit idle in its pending list: taken over within a
            # quarter lease of running out, without a round trip on every claim. One at
            # a time, so that the others stay idle for the next worker to take.
            self._autoclaimed = now
            cursor = "0-0"
            for _ in range(_AUTOCLAIM_SCAN):
                stale: Any = await self._call(
                    functools.partial(self._xautoclaim, owner, lease_ms + 250, cursor)
                )
                cursor, entries = stale[0], stale[1]
                for entry_id, fields in entries:
                    claim = await self._take(entry_id, fields, owner, lease_ms)
                    if claim is not None:
                        self._autoclaimed = 0.0  # there may be more: look again next time
                        return claim
                if not entries or cursor == "0-0":
                    break
        # Under load the next entry is there already: read and claim it in one script.
        token = uuid.uuid4().hex
        keys = [self._stream, self._entries, self._claimed]
        args = [token, owner, self._now_ms(), lease_ms, _GROUP, self._prefix]
        taken = await self._script("CLAIM_NEXT", keys, args)
        if taken:
            return Claim(taken[0], token, owner, int(taken[1]))
        block = max(int(wait * 1000), 1)
        read: Any = await self._call(
            lambda r: r.xreadgroup(_GROUP, owner, {self._stream: ">"}, count=1, block=block)
        )
        for _, entries in read or ():
            for entry_id, fields in entries:
                claim = await self._take(entry_id, fields, owner, lease_ms)
                if claim is not None:
                    return claim
        return None

    def _xautoclaim(self, owner: str, idle_ms: int, start: str, r: aioredis.Redis) -> Any:
        # Idle a little past the lease (idle_ms), so that the claim has surely run out on
        # the store's clock too (else it is "live" and idles again).
        return r.xautoclaim(
            self._stream, _GROUP, owner, min_idle_time=idle_ms, start_id=start, count=1
        )

    async def _take(
        self, entry_id: str, fields: dict[str, str] | None, owner: str, lease_ms: int
    ) -> Claim | None:
        invoice_id = (fields or {}).get("invoice")
        if not invoice_id:
            await self._call(lambda r: r.xack(self._stream, _GROUP, entry_id))
            return None
        return await self._claim_script(invoice_id, entry_id, owner, lease_ms)

    async def _claim_script(
        self, invoice_id: str, entry_id: str, owner: str, lease_ms: int
    ) -> Claim | None:
        token = uuid.uuid4().hex
        keys = [self._key("inv", invoice_id), self._stream, self._entries, self._claimed]
        args = [invoice_id, entry_id, token, owner, self._now_ms(), lease_ms, _GROUP]
        result = await self._script("CLAIM", keys, args)
        if result in ("stale", "live"):
            return None
        return Claim(invoice_id, token, owner, int(result))

    async def claim(self, invoice_id: str, owner: str, lease: float) -> Claim | None:
        """Claim ``invoice_id`` (see ``ResolverStore.claim``)."""
        return await self._claim_script(invoice_id, "", owner, int(lease * 1000))

    async def renew(self, claim: Claim, lease: float) -> bool:
        """Extend ``claim`` (see ``ResolverStore.renew``)."""
        keys = [self._key("inv", claim.invoice_id), self._stream]
        args = [claim.token, self._now_ms(), int(lease * 1000), _GROUP, claim.owner]
        return bool(await self._script("RENEW", keys, args))

    async def release(self, claim: Claim, outcome: OutcomeRecord | None) -> None:
        """End ``claim`` (see ``ResolverStore.release``)."""
        invoice_id = claim.invoice_id
        keys = [
            self._key("inv", invoice_id),
            self._stream,
            self._key("outcome", invoice_id),
            self._entries,
            self._claimed,
            *(self._key("outcomes", str(kind)) for kind in _OUTCOMES),
        ]
        index = 0 if outcome is None else _OUTCOMES.index(outcome.outcome) + 1
        args = [
            claim.token,
            self._now_ms(),
            _GROUP,
            invoice_id,
            "1" if outcome is None else "0",
            index,
            "" if outcome is None else str(outcome.outcome),
            "" if outcome is None else outcome.reason,
            "" if outcome is None else ",".join(outcome.writes),
            1 if outcome is None else outcome.attempts,
            self._keep_ms,
        ]
        await self._script("RELEASE", keys, args)

    async def counts(self) -> tuple[int, int]:
        """Invoices pending and invoices claimed."""

        async def both(r: aioredis.Redis) -> tuple[int, int]:
            pipe: Any = r.pipeline(transaction=True)
            async with pipe:
                entries, claimed = await pipe.scard(self._entries).scard(self._claimed).execute()
            return int(entries) - int(claimed), int(claimed)

        return await self._call(both)

    # -- the write-ahead record --------------------------------------------------------

    async def begin_write(self, claim: Claim, write: Write, hold: float) -> WriteRefused | None:
        """Record the intent to send ``write`` (see ``ResolverStore.begin_write``)."""
        keys = [self._key("inv", claim.invoice_id), self._key("write", claim.invoice_id, write)]
        args = [claim.token, self._now_ms(), int(hold * 1000), _TICK_MS, self._keep_ms]
        verdict, left = await self._script("BEGIN_WRITE", keys, args)
        if verdict == "ok":
            return None
        if verdict == "lost":
            return WriteRefused(claim_lost=True)
        if verdict == "landed":
            return WriteRefused(landed=True)
        return WriteRefused(hold=float(left) / 1000)

    async def settle_write(
        self, claim: Claim, write: Write, landed: bool | None, hold: float
    ) -> None:
        """Settle this run's intent (see ``ResolverStore.settle_write``)."""
        flag = "?" if landed is None else "1" if landed else "0"
        keys = [self._key("write", claim.invoice_id, write)]
        await self._script(
            "SETTLE_WRITE", keys, [claim.token, flag, self._now_ms(), int(hold * 1000)]
        )

    async def write_landed(self, invoice_id: str, write: Write) -> None:
        """The server shows ``write`` took effect: no run records it again."""
        await self._script(
            "WRITE_LANDED", [self._key("write", invoice_id, write)], [self._now_ms()]
        )

    async def write_hold(self, invoice_id: str, write: Write) -> float:
        """Seconds before ``write`` may be recorded for ``invoice_id`` again."""
        key = self._key("write", invoice_id, write)
        found: Any = await self._call(lambda r: r.hmget(key, "state", "until"))
        state, until = found
        if state is None or state == "landed":
            return 0.0
        left = (int(until) - self._now_ms()) / 1000
        return left if left > _TICK_MS / 1000 else 0.0

    # -- outcomes ----------------------------------------------------------------------

    async def outcomes(self, outcome: Outcome) -> list[OutcomeRecord]:
        """The invoices whose last outcome is ``outcome``, oldest first."""
        found: Any = await self._call(
            lambda r: r.zrange(self._key("outcomes", str(outcome)), 0, -1)
        )
        ids: list[str] = list(found)

        async def read(r: aioredis.Redis) -> list[Any]:
            async with r.pipeline(transaction=False) as pipe:
                for invoice_id in ids:
                    pipe.hgetall(self._key("outcome", invoice_id))
                return list(await pipe.execute())

        records = await self._call(read) if ids else []
        return [
            OutcomeRecord(
                invoice_id,
                Outcome(found["outcome"]),
                found.get("reason", ""),
                int(found.get("at", "0")) / 1000,
                tuple(Write(w) for w in found.get("writes", "").split(",") if w),
                int(found.get("attempts", "1")),
            )
            for invoice_id, found in zip(ids, records, strict=True)
            if found
        ]
