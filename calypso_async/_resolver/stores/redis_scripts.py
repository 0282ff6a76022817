"""The Lua scripts of ``RedisStore``: each operation is one script, so one atomic step.

Redis runs a script to its end before any other command, on any connection: a script
that reads a claim's token and then writes is a compare-and-set across every machine
sharing the server. Times are milliseconds on the store's clock, passed in (``now``),
so that every process reads leases and holds on the same scale. Numbers leave a script
as strings: Lua's numbers would be truncated to integers on the way out.
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

ACCEPT = """
-- KEYS: invoice hash, intake stream, event key, entries set
-- ARGV: invoice id, now, replay window ms ('' without an event key)
if ARGV[3] ~= '' then
  if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then return 'replay' end
end
local h = redis.call('HMGET', KEYS[1], 'state', 'again')
if not h[1] then
  local id = redis.call('XADD', KEYS[2], '*', 'invoice', ARGV[1])
  redis.call('HSET', KEYS[1], 'state', 'pending', 'entry', id, 'token', '', 'owner', '',
             'expires', '0', 'again', '0', 'attempt', '0', 'accepted', ARGV[2])
  redis.call('SADD', KEYS[4], ARGV[1])
  return 'queued'
end
if h[1] == 'pending' or h[2] == '1' then return 'merged' end
redis.call('HSET', KEYS[1], 'again', '1')
return 'again'
"""

CLAIM = """
-- KEYS: invoice hash, intake stream, entries set, claimed set
-- ARGV: invoice id, stream entry id ('' for a direct claim), token, owner, now, lease ms,
--       group
local h = redis.call('HMGET', KEYS[1], 'state', 'entry', 'expires', 'attempt')
local now = tonumber(ARGV[5])
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
  redis.call('HSET', KEYS[1], 'entry', '', 'again', '0', 'accepted', ARGV[5])
  redis.call('SADD', KEYS[3], ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'claimed', 'token', ARGV[3], 'owner', ARGV[4],
           'expires', tostring(now + tonumber(ARGV[6])), 'attempt', tostring(attempt))
redis.call('SADD', KEYS[4], ARGV[1])
return tostring(attempt)
"""

CLAIM_NEXT = """
-- Read the next new entry (without blocking) and claim its invoice: one round trip.
-- KEYS: intake stream, entries set, claimed set
-- ARGV: token, owner, now, lease ms, group, key prefix
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
  elseif not (h[1] == 'claimed' and tonumber(h[3]) > tonumber(ARGV[3])) then
    local attempt = tonumber(h[4] or '0') + 1
    redis.call('HSET', key, 'state', 'claimed', 'token', ARGV[1], 'owner', ARGV[2],
               'expires', tostring(tonumber(ARGV[3]) + tonumber(ARGV[4])),
               'attempt', tostring(attempt))
    redis.call('SADD', KEYS[3], invoice)
    return {invoice, tostring(attempt)}
  end
end
return false
"""

RENEW = """
-- KEYS: invoice hash, intake stream
-- ARGV: token, now, lease ms, group, owner
local h = redis.call('HMGET', KEYS[1], 'token', 'expires', 'entry')
if h[1] ~= ARGV[1] or tonumber(h[2]) <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'expires', tostring(tonumber(ARGV[2]) + tonumber(ARGV[3])))
if h[3] and h[3] ~= '' then
  -- Keeps the stream entry idle-free, so no one's XAUTOCLAIM takes a live claim's entry.
  redis.call('XCLAIM', KEYS[2], ARGV[4], ARGV[5], 0, h[3], 'JUSTID')
end
return 1
"""

RELEASE = """
-- KEYS: invoice hash, intake stream, outcome hash, entries set, claimed set,
--       then the four outcome sets (RESOLVED, HELD, SKIPPED, FAILED)
-- ARGV: token, now, group, invoice id, give back ('1'/'0'), outcome index ('0': none),
--       outcome, reason, writes, attempts, keep ms
local h = redis.call('HMGET', KEYS[1], 'token', 'again', 'entry')
if h[1] ~= ARGV[1] then return 0 end
local index = tonumber(ARGV[6])
if index > 0 then
  redis.call('DEL', KEYS[3])
  redis.call('HSET', KEYS[3], 'outcome', ARGV[7], 'reason', ARGV[8], 'at', ARGV[2],
             'writes', ARGV[9], 'attempts', ARGV[10])
  for i = 6, 9 do redis.call('ZREM', KEYS[i], ARGV[4]) end
  redis.call('ZADD', KEYS[5 + index], ARGV[2], ARGV[4])
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

BEGIN_WRITE = """
-- KEYS: invoice hash, write record
-- ARGV: token, now, hold ms, clock tick ms, keep ms
local now = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'token', 'expires')
if h[1] ~= ARGV[1] or tonumber(h[2] or '0') <= now then return {'lost', '0'} end
local w = redis.call('HMGET', KEYS[2], 'state', 'until')
if w[1] == 'landed' then return {'landed', '0'} end
if w[1] and tonumber(w[2]) - now > tonumber(ARGV[4]) then
  return {'hold', tostring(tonumber(w[2]) - now)}
end
redis.call('HSET', KEYS[2], 'state', 'sending', 'token', ARGV[1],
           'until', tostring(now + tonumber(ARGV[3])), 'at', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {'ok', '0'}
"""

SETTLE_WRITE = """
-- KEYS: write record
-- ARGV: token, landed ('1', '0', or '?' for unknown), now, hold ms
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'state', 'landed', 'at', ARGV[3])
elseif ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'state', 'unknown', 'at', ARGV[3],
             'until', tostring(tonumber(ARGV[3]) + tonumber(ARGV[4])))
end
return 1
"""

WRITE_LANDED = """
-- KEYS: write record
-- ARGV: now
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'state', 'landed', 'at', ARGV[1])
end
return 1
"""
