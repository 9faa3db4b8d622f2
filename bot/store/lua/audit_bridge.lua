--! keys: audit audit_seq audit_bridge audit_upgraded
--! uses: audit
-- The audit bridge's flag (lua/lib/audit.lua), kept by bot/audit/bridge.py: on while a worker of the old chain
-- may write. A: seen ('1': one is alive, or the log ends with an entry of the old chain's form), grace (ms the
-- bridge stays on after the last time one was seen: an old worker stopping still writes after its heartbeat goes),
-- ttl (ms: the flag's own end, should no worker of this version keep it any more).
-- Seen: the flag holds Redis's time now. Not seen, the grace past: the counter is taken to the newest entry's seq
-- (an old worker's entries were not counted by it), and the flag goes: appends are plain again.
-- Not seen and no flag (any more): the upgrade is over (or there never was one): `audit_upgraded` is set for good,
-- and the workers stop looking for old workers (their look scans the key space).
-- Returns 1 when the bridge is on now (one seen, or within the grace), 2 when it is off: the upgrade is over.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if A.seen == '1' then
  redis.call('SET', K.audit_bridge, string.format('%d', now), 'PX', A.ttl)
  return 1
end
local since = redis.call('GET', K.audit_bridge)
if not since then
  redis.call('SET', K.audit_upgraded, string.format('%d', now))
  return 2
end
if now - (tonumber(since) or 0) < tonumber(A.grace) then return 1 end
local last = redis.call('XREVRANGE', K.audit, '+', '-', 'COUNT', 1)
local before = last[1] and audit_seq_of(last[1][2])
if before and before > (tonumber(redis.call('GET', K.audit_seq)) or 0) then
  redis.call('SET', K.audit_seq, before)
end
redis.call('DEL', K.audit_bridge)
redis.call('SET', K.audit_upgraded, string.format('%d', now))
return 2
