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

import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from ..._core import checks
from ..policy import Outcome, Write
from ..ports import Claim, Intake, OutcomeRecord, WriteRefused
from .polling import PollingSource
from .redis_connection import GROUP, RedisConnection
from .redis_tracks import RedisTracks

__all__ = ["RedisStore"]

_OUTCOMES = (Outcome.RESOLVED, Outcome.HELD, Outcome.SKIPPED, Outcome.FAILED)
_TICK_MS = 1
_AUTOCLAIM_SCAN = 16
"""Idle entries looked at, at most, by one search for a dead worker's invoices."""


class RedisStore(RedisTracks, RedisConnection):
    """The resolver's shared state in Redis, for processes on any number of machines.

    ::

        async with RedisStore("redis://redis.internal:6379/0") as store:
            async with InterventionResolver(client, store=store) as resolver:
                ...

    Args:
        url: ``redis://[user:password@]host[:port][/db]``, or ``rediss://`` for TLS;
            ``?namespace=shop`` in it sets ``namespace``.
        namespace: Prefix of every key, inside a hash tag (several shops on one Redis
            each take their own).
        clock: Unix seconds for leases and holds; by default Redis's own clock
            (``TIME``), so that machines whose clocks disagree still agree on them.
        replay_window: Seconds an accepted event id is remembered as a replay.
        keep: Seconds a finished outcome and a write record are kept.
        socket_timeout: Seconds a Redis command may take before the store reports it
            unreachable.
        create: Make the store when the namespace holds none yet (``False`` refuses
            instead: an operator's command must not answer from an empty namespace).
    """

    shared = True

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "calypso",
        clock: Callable[[], float] | None = None,
        replay_window: float = 3 * 24 * 3600.0,
        keep: float = 30 * 24 * 3600.0,
        socket_timeout: float = 5.0,
        create: bool = True,
    ) -> None:
        super().__init__(
            url,
            namespace=namespace,
            clock=clock,
            socket_timeout=socket_timeout,
            create=create,
        )
        self._replay_ms = int(checks.seconds("replay_window", replay_window) * 1000)
        self._keep_ms = int(checks.seconds("keep", keep) * 1000)
        self._autoclaimed = 0.0
        self._entries = self._prefix + "entries"
        self._claimed = self._prefix + "claimed"

    async def __aenter__(self) -> RedisStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- lifecycle ---------------------------------------------------------------------

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
        args = [token, owner, self._now_ms(), lease_ms, GROUP, self._prefix]
        started = time.monotonic()
        taken = await self._script("CLAIM_NEXT", keys, args)
        if taken:
            return Claim(taken[0], token, owner, int(taken[1]), started)
        block = max(int(wait * 1000), 1)
        read: Any = await self._call(
            lambda r: r.xreadgroup(GROUP, owner, {self._stream: ">"}, count=1, block=block)
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
            self._stream, GROUP, owner, min_idle_time=idle_ms, start_id=start, count=1
        )

    async def _take(
        self, entry_id: str, fields: dict[str, str] | None, owner: str, lease_ms: int
    ) -> Claim | None:
        invoice_id = (fields or {}).get("invoice")
        if not invoice_id:
            await self._call(lambda r: r.xack(self._stream, GROUP, entry_id))
            return None
        return await self._claim_script(invoice_id, entry_id, owner, lease_ms)

    async def _claim_script(
        self, invoice_id: str, entry_id: str, owner: str, lease_ms: int
    ) -> Claim | None:
        token = uuid.uuid4().hex
        keys = [self._key("inv", invoice_id), self._stream, self._entries, self._claimed]
        args = [invoice_id, entry_id, token, owner, self._now_ms(), lease_ms, GROUP]
        started = time.monotonic()
        result = await self._script("CLAIM", keys, args)
        if result in ("stale", "live"):
            return None
        return Claim(invoice_id, token, owner, int(result), started)

    async def claim(self, invoice_id: str, owner: str, lease: float) -> Claim | None:
        """Claim ``invoice_id`` (see ``ResolverStore.claim``)."""
        return await self._claim_script(invoice_id, "", owner, int(lease * 1000))

    async def renew(self, claim: Claim, lease: float) -> bool:
        """Extend ``claim`` (see ``ResolverStore.renew``)."""
        keys = [self._key("inv", claim.invoice_id), self._stream]
        args = [claim.token, self._now_ms(), int(lease * 1000), GROUP, claim.owner]
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
            GROUP,
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
            "WRITE_LANDED", [self._key("write", invoice_id, write)], [self._now_ms(), self._keep_ms]
        )

    async def write_hold(self, invoice_id: str, write: Write) -> float:
        """Seconds before ``write`` may be recorded for ``invoice_id`` again."""
        key = self._key("write", invoice_id, write)
        found: Any = await self._call(lambda r: r.hmget(key, "state", "until"))
        state, until = found
        if state is None or state == "landed":
            return 0.0
        if self._clock is None:
            seconds, micros = await self._call(lambda r: r.time())
            now_ms = int(seconds) * 1000 + int(micros) // 1000
        else:
            now_ms = int(self._clock() * 1000)
        left = (int(until) - now_ms) / 1000
        return left if left > _TICK_MS / 1000 else 0.0

    # -- outcomes ----------------------------------------------------------------------

    async def forget(self, invoice_id: str) -> bool:
        """Drop the outcome kept for ``invoice_id``; ``False`` if there was none."""

        async def drop(r: aioredis.Redis) -> bool:
            pipe: Any = r.pipeline(transaction=True)
            async with pipe:
                pipe.delete(self._key("outcome", invoice_id))
                for kind in _OUTCOMES:
                    pipe.zrem(self._key("outcomes", str(kind)), invoice_id)
                removed = await pipe.execute()
            return bool(removed[0])

        return await self._call(drop)

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
