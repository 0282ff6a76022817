"""Invoice tracking and the request budget of ``RedisStore``: a sorted set and a list.

The schedule is a sorted set (invoice -> due time, milliseconds on Redis's clock) beside
a hash of what each poll read; the budget is a list of the latest grant times. Each
operation is one Lua script, so one atomic step for every machine sharing the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..tracking import TrackedInvoice
from .redis_scripts import _NOW  # the clock the store's other scripts read

__all__ = ["SCRIPTS", "RedisTracks"]

T = TypeVar("T")

# KEYS: due zset, info hash. ARGV: now, delay ms, ids... -> how many were new.
TRACK = (
    _NOW
    + """
local now = now_ms(ARGV[1])
local due = now + tonumber(ARGV[2])
local added = 0
for i = 3, #ARGV do
  if redis.call('ZADD', KEYS[1], 'NX', due, ARGV[i]) == 1 then
    redis.call('HSET', KEYS[2], ARGV[i], ms(now) .. '|0|')
    added = added + 1
  end
end
return added
"""
)

# KEYS: due zset. ARGV: now, limit, lease ms -> {id, due, ...}
TAKE_DUE = (
    _NOW
    + """
local now = now_ms(ARGV[1])
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0,
  tonumber(ARGV[2]))
for i = 1, #found, 2 do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[3]), found[i])
end
return found
"""
)

# KEYS: due zset, info hash. ARGV: now, delay ms, id, state -> 1 if tracked.
RESCHEDULE = (
    _NOW
    + """
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now_ms(ARGV[1]) + tonumber(ARGV[2]), ARGV[3])
local info = redis.call('HGET', KEYS[2], ARGV[3]) or (ms(now_ms(ARGV[1])) .. '|0|')
local since, polls = string.match(info, '^([^|]*)|([^|]*)|')
redis.call('HSET', KEYS[2], ARGV[3], since .. '|' .. (tonumber(polls) + 1) .. '|' .. ARGV[4])
return 1
"""
)

# KEYS: due zset. ARGV: now, delay ms, id -> 1 if tracked.
HURRY = (
    _NOW
    + """
local current = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not current then return 0 end
local due = now_ms(ARGV[1]) + tonumber(ARGV[2])
if due < tonumber(current) then redis.call('ZADD', KEYS[1], 'XX', due, ARGV[3]) end
return 1
"""
)

# KEYS: due zset. ARGV: now -> ms until the first is due, or false.
NEXT_DUE = (
    _NOW
    + """
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return false end
return ms(tonumber(first[2]) - now_ms(ARGV[1]))
"""
)

# KEYS: grants list. ARGV: now, limit, window ms, spacing ms -> '0' granted, else ms
# to wait.
GRANT = (
    _NOW
    + """
local now = now_ms(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local spacing = tonumber(ARGV[4])
local wait = 0
local newest = redis.call('LINDEX', KEYS[1], 0)
if newest and tonumber(newest) > now + spacing then
  -- stamped ahead of the clock (it was set back): forget rather than wait for them
  redis.call('DEL', KEYS[1])
  newest = false
end
if newest and spacing > 0 then wait = tonumber(newest) + spacing - now end
local nth = redis.call('LINDEX', KEYS[1], limit - 1)
if nth and tonumber(nth) > now - window then
  wait = math.max(wait, tonumber(nth) + window - now)
end
if wait > 0 then return ms(math.max(wait, 1)) end
redis.call('LPUSH', KEYS[1], ms(now))
redis.call('LTRIM', KEYS[1], 0, 4 * limit + 100)
redis.call('PEXPIRE', KEYS[1], window * 2 + 1000)
return '0'
"""
)

# KEYS: ceiling hash. ARGV: now, max_rps, window ms ('' to read only) -> the ceiling now.
CEILING = (
    _NOW
    + """
local now = now_ms(ARGV[1])
local max_rps = tonumber(ARGV[2])
local rate = tonumber(redis.call('HGET', KEYS[1], 'rate') or '')
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '')
local current = max_rps
if rate and at then
  current = math.min(max_rps, rate + math.floor(math.max(0, now - at) / 1000))
end
if ARGV[3] == '' or (rate and at and now - at < tonumber(ARGV[3])) then
  return tostring(current)
end
local lowered = math.max(1, current / 2)
redis.call('HSET', KEYS[1], 'rate', tostring(lowered), 'at', ms(now))
redis.call('PEXPIRE', KEYS[1], 3600000)
return tostring(lowered)
"""
)

SCRIPTS = {
    "CEILING": CEILING,
    "TRACK": TRACK,
    "TAKE_DUE": TAKE_DUE,
    "RESCHEDULE": RESCHEDULE,
    "HURRY": HURRY,
    "NEXT_DUE": NEXT_DUE,
    "GRANT": GRANT,
}
"""The scripts, by the name ``RedisConnection._script`` knows them by."""


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 0) if seconds > 0 else int(seconds * 1000)


class RedisTracks:
    """The tracking half of ``RedisStore`` (see ``TrackingStore``), in Redis."""

    _prefix: str

    if TYPE_CHECKING:  # RedisConnection's, which RedisStore also derives from

        def _now_ms(self) -> str: ...

        async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any: ...

        async def _call(self, operation: Callable[[Any], Awaitable[T]]) -> T: ...

    @property
    def _due_key(self) -> str:
        return self._prefix + "track:due"

    @property
    def _info_key(self) -> str:
        return self._prefix + "track:info"

    async def track(self, invoice_ids: Sequence[str], delay: float) -> int:
        """Track ``invoice_ids`` (see ``TrackingStore.track``)."""
        added = 0
        ids = list(invoice_ids)
        for start in range(0, len(ids), 1000):  # one script holds Redis: keep each short
            added += int(
                await self._script(
                    "TRACK",
                    [self._due_key, self._info_key],
                    [self._now_ms(), _ms(delay), *ids[start : start + 1000]],
                )
            )
        return added

    async def untrack(self, invoice_id: str) -> bool:
        """Stop tracking ``invoice_id``."""

        async def drop(r: Any) -> bool:
            pipe: Any = r.pipeline(transaction=True)
            async with pipe:
                removed, _ = (
                    await pipe.zrem(self._due_key, invoice_id)
                    .hdel(self._info_key, invoice_id)
                    .execute()
                )
            return bool(removed)

        return bool(await self._call(drop))

    async def take_due(self, limit: int, lease: float) -> list[TrackedInvoice]:
        """Take the invoices due now (see ``TrackingStore.take_due``)."""
        found = await self._script("TAKE_DUE", [self._due_key], [self._now_ms(), limit, _ms(lease)])
        ids = found[0::2]
        if not ids:
            return []
        infos = await self._call(lambda r: r.hmget(self._info_key, ids))
        return [
            _tracked(invoice_id, float(due) / 1000, info)
            for invoice_id, due, info in zip(ids, found[1::2], infos, strict=True)
        ]

    async def reschedule(self, invoice_id: str, delay: float, state: str | None) -> bool:
        """After a poll (see ``TrackingStore.reschedule``)."""
        keys = [self._due_key, self._info_key]
        args = [self._now_ms(), _ms(delay), invoice_id, state or ""]
        return bool(await self._script("RESCHEDULE", keys, args))

    async def hurry(self, invoice_id: str, delay: float) -> bool:
        """Bring a poll forward (see ``TrackingStore.hurry``)."""
        args = [self._now_ms(), _ms(delay), invoice_id]
        return bool(await self._script("HURRY", [self._due_key], args))

    async def next_due(self) -> float | None:
        """Seconds until the earliest tracked invoice is due."""
        left = await self._script("NEXT_DUE", [self._due_key], [self._now_ms()])
        return None if left is None else float(left) / 1000

    async def tracked(self, limit: int | None = None) -> list[TrackedInvoice]:
        """The tracked invoices, earliest due first."""
        end = -1 if limit is None else limit - 1
        found = await self._call(lambda r: r.zrange(self._due_key, 0, end, withscores=True))
        if not found:
            return []
        ids = [invoice_id for invoice_id, _ in found]
        infos = await self._call(lambda r: r.hmget(self._info_key, ids))
        return [
            _tracked(invoice_id, due / 1000, info)
            for (invoice_id, due), info in zip(found, infos, strict=True)
        ]

    async def tracked_count(self) -> int:
        """How many invoices are tracked."""
        return int(await self._call(lambda r: r.zcard(self._due_key)))

    async def last_outcome(self, invoice_id: str) -> str | None:
        """The outcome kept for ``invoice_id``."""
        key = self._prefix + "outcome:" + invoice_id
        found = await self._call(lambda r: r.hget(key, "outcome"))
        return None if found is None else str(found)

    async def ceiling(self, max_rps: int) -> float:
        """The shared rate ceiling (see ``TrackingStore.ceiling``)."""
        keys = [self._prefix + "ceiling"]
        return float(await self._script("CEILING", keys, [self._now_ms(), max_rps, ""]))

    async def lower_ceiling(self, max_rps: int, window: float) -> float:
        """A 429 (see ``TrackingStore.lower_ceiling``)."""
        keys = [self._prefix + "ceiling"]
        args = [self._now_ms(), max_rps, _ms(window)]
        return float(await self._script("CEILING", keys, args))

    async def grant(self, limit: int, window: float, spacing: float = 0.0) -> float:
        """One request from the budget (see ``TrackingStore.grant``)."""
        keys = [self._prefix + "grants"]
        args = [self._now_ms(), limit, _ms(window), _ms(spacing)]
        wait = await self._script("GRANT", keys, args)
        return float(wait) / 1000


def _tracked(invoice_id: str, due: float, info: str | None) -> TrackedInvoice:
    since, polls, state = (info or "0|0|").split("|", 2)
    return TrackedInvoice(invoice_id, due, state or None, float(since) / 1000, int(polls))
