"""The Lua scripts of ``RedisStore``: each operation is one script, so one atomic step.

Redis runs a script to its end before any other command, on any connection: a script
that reads a claim's token and then writes is a compare-and-set across every machine
sharing the server. Times are milliseconds on Redis's own clock (``TIME``), so that
machines whose clocks disagree still read leases and holds alike; a test passes its own
``now`` instead. Numbers leave a script as strings: Lua's numbers would be truncated to
integers on the way out.

Every invoice that is pending or claimed has a stream entry (``entry`` in its hash): a
claim whose worker died is found again through that entry, in the dead worker's
pending list.
"""

from __future__ import annotations

__all__ = [
    "ACCEPT",
    "BEGIN_WRITE",
    "CLAIM",
    "CLAIM_NEXT",
    "RELEASE",
    "RENEW",
    "SETTLE_WRITE",
    "WRITE_LANDED",
]

_NOW = """
local function now_ms(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ms(value) return string.format('%d', value) end
"""

ACCEPT = (
    _NOW
    + """
-- KEYS: invoice hash, intake stream, event key, entries set
-- ARGV: invoice id, now ('' for Redis's), replay window ms ('' without an event key)
local now = now_ms(ARGV[2])
if ARGV[3] ~= '' then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then return 'replay' end
end
local h = redis.call('HMGET', KEYS[1], 'state', 'again')
if not h[1] then
  local id = redis.call('XADD', KEYS[2], '*', 'invoice', ARGV[1])
  redis.call('HSET', KEYS[1], 'state', 'pending', 'entry', id, 'token', '', 'owner', '',
             'expires', '0', 'again', '0', 'attempt', '0', 'accepted', ms(now))
  redis.call('SADD', KEYS[4], ARGV[1])
  return 'queued'
end
if h[1] == 'pending' or h[2] == '1' then return 'merged' end
redis.call('HSET', KEYS[1], 'again', '1')
return 'again'
"""
)

CLAIM = (
    _NOW
    + """
-- KEYS: invoice hash, intake stream, entries set, claimed set
-- ARGV: invoice id, stream entry id ('' for a direct claim), token, owner, now ('' for
--       Redis's), lease ms, group
local h = redis.call('HMGET', KEYS[1], 'state', 'entry', 'expires', 'attempt')
local now = now_ms(ARGV[5])
if ARGV[2] ~= '' then
  if not h[1] or h[2] ~= ARGV[2] then
    -- An entry whose invoice is done, or pending under a newer entry: drop it.
    redis.call('XACK', KEYS[2], ARGV[7], ARGV[2])
    redis.call('XDEL', KEYS[2], ARGV[2])
    return 'stale'
  end
end
if h[1] == 'claimed' and tonumber(h[3]) > now then return 'live' end
local attempt = tonumber(h[4] or '0') + 1
if not h[1] then
  -- A direct claim of an invoice the store did not hold: give it an entry, so that a
  -- worker finds it again if this claim's holder dies.
  local id = redis.call('XADD', KEYS[2], '*', 'invoice', ARGV[1])
  redis.call('HSET', KEYS[1], 'entry', id, 'again', '0', 'accepted', ms(now))
  redis.call('SADD', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'claimed', 'token', ARGV[3], 'owner', ARGV[4],
           'expires', ms(now + tonumber(ARGV[6])), 'attempt', ms(attempt))
redis.call('SADD', KEYS[4], ARGV[1])
return ms(attempt)
"""
)

CLAIM_NEXT = (
    _NOW
    + """
-- Read the next new entry (without blocking) and claim its invoice: one round trip.
-- KEYS: intake stream, entries set, claimed set
-- ARGV: token, owner, now ('' for Redis's), lease ms, group, key prefix
-- The invoice's hash is named from the entry (KEYS cannot name it beforehand); it
-- carries the same hash tag, so it lives on the same node as every declared key.
local now = now_ms(ARGV[3])
for _ = 1, 8 do
  local read = redis.call('XREADGROUP', 'GROUP', ARGV[5], ARGV[2], 'COUNT', 1,
                          'STREAMS', KEYS[1], '>')
  if not read then return false end
  local entry = read[1][2][1]
  local id, fields = entry[1], entry[2]
  local invoice = nil
  for i = 1, #fields, 2 do
    if fields[i] == 'invoice' then invoice = fields[i + 1] end
  end
  local key = ARGV[6] .. 'inv:' .. (invoice or '')
  local h = invoice and redis.call('HMGET', key, 'state', 'entry', 'expires', 'attempt')
  if not invoice or not h[1] or h[2] ~= id then
    redis.call('XACK', KEYS[1], ARGV[5], id)
    redis.call('XDEL', KEYS[1], id)
  elseif not (h[1] == 'claimed' and tonumber(h[3]) > now) then
    local attempt = tonumber(h[4] or '0') + 1
    redis.call('HSET', key, 'state', 'claimed', 'token', ARGV[1], 'owner', ARGV[2],
               'expires', ms(now + tonumber(ARGV[4])), 'attempt', ms(attempt))
    redis.call('SADD', KEYS[3], invoice)
    return {invoice, ms(attempt)}
  end
end
return false
"""
)

RENEW = (
    _NOW
    + """
-- KEYS: invoice hash, intake stream
-- ARGV: token, now ('' for Redis's), lease ms, group, owner
local now = now_ms(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'token', 'expires', 'entry')
if h[1] ~= ARGV[1] or tonumber(h[2]) <= now then return 0 end
redis.call('HSET', KEYS[1], 'expires', ms(now + tonumber(ARGV[3])))
if h[3] and h[3] ~= '' then
  -- Keeps the stream entry idle-free, so no one's XAUTOCLAIM takes a live claim's entry.
  redis.call('XCLAIM', KEYS[2], ARGV[4], ARGV[5], 0, h[3], 'JUSTID')
end
return 1
"""
)

RELEASE = (
    _NOW
    + """
-- KEYS: invoice hash, intake stream, outcome hash, entries set, claimed set,
--       then the four outcome sets (RESOLVED, HELD, SKIPPED, FAILED)
-- ARGV: token, now ('' for Redis's), group, invoice id, give back ('1'/'0'), outcome
--       index ('0': none), outcome, reason, writes, attempts, keep ms
local h = redis.call('HMGET', KEYS[1], 'token', 'again', 'entry')
if h[1] ~= ARGV[1] then return 0 end
local now = ms(now_ms(ARGV[2]))
local index = tonumber(ARGV[6])
if index > 0 then
  -- Held again (or failed again): "since" stays when it first was.
  local earlier = redis.call('HMGET', KEYS[3], 'outcome', 'at')
  local at = now
  if earlier[1] == ARGV[7] and earlier[2] then at = earlier[2] end
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[3], 'outcome', ARGV[7], 'reason', ARGV[8], 'at', at,
             'writes', ARGV[9], 'attempts', ARGV[10])
  for i = 6, 9 do redis.call('ZREM', KEYS[i], ARGV[4]) end
  redis.call('ZADD', KEYS[5 + index], at, ARGV[4])
  if ARGV[7] == 'RESOLVED' or ARGV[7] == 'SKIPPED' then
    redis.call('PEXPIRE', KEYS[3], ARGV[11])
  end
end
if h[3] and h[3] ~= '' then
  redis.call('XACK', KEYS[2], ARGV[3], h[3])
  redis.call('XDEL', KEYS[2], h[3])
end
redis.call('SREM', KEYS[5], ARGV[4])
if ARGV[5] == '1' or h[2] == '1' then
  local id = redis.call('XADD', KEYS[2], '*', 'invoice', ARGV[4])
  redis.call('HSET', KEYS[1], 'state', 'pending', 'entry', id, 'token', '', 'owner', '',
             'expires', '0', 'again', '0')
else
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[4], ARGV[4])
end
return 1
"""
)

BEGIN_WRITE = (
    _NOW
    + """
-- KEYS: invoice hash, write record
-- ARGV: token, now ('' for Redis's), hold ms, clock tick ms, keep ms
local now = now_ms(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'token', 'expires')
if h[1] ~= ARGV[1] or tonumber(h[2] or '0') <= now then return {'lost', '0'} end
local w = redis.call('HMGET', KEYS[2], 'state', 'until')
if w[1] == 'landed' then return {'landed', '0'} end
if w[1] and tonumber(w[2]) - now > tonumber(ARGV[4]) then
  return {'hold', ms(tonumber(w[2]) - now)}
end
redis.call('HSET', KEYS[2], 'state', 'sending', 'token', ARGV[1],
           'until', ms(now + tonumber(ARGV[3])), 'at', ms(now))
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {'ok', '0'}
"""
)

SETTLE_WRITE = (
    _NOW
    + """
-- KEYS: write record
-- ARGV: token, landed ('1', '0', or '?' for unknown), now ('' for Redis's), hold ms
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
local now = now_ms(ARGV[3])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'landed', 'at', ms(now))
elseif ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'state', 'unknown', 'at', ms(now),
             'until', ms(now + tonumber(ARGV[4])))
end
return 1
"""
)

WRITE_LANDED = (
    _NOW
    + """
-- KEYS: write record
-- ARGV: now ('' for Redis's), keep ms
local now = now_ms(ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'landed', 'at', ms(now))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
)
