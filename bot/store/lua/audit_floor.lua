--! keys: floor audit_seq
-- The audit floor confirmed (bot/audit/archive/writer.py, each round of the archive's writer): the counter raised, if
-- it is below, to the highest of A.seq (the last seq the archive holds), A.known (the highest seq this worker knows)
-- and the floor's `known` (what the workers held since Redis restarted said they were given: lua/lib/audit.lua);
-- the floor's seq raised to A.seq; and the floor confirmed for this Redis run, which ends the hold. While the first
-- hold is younger than A.grace_ms, nothing is confirmed ({-1, counter}: the held workers are still saying what they
-- gave). A counter found below is a restore: the seqs Redis lost are kept in the floor as `gap_from`, `gap_to`, with
-- the archive's tree head (A.size, A.root), for the checkpoint writer to sign past them (bot/audit/checkpoints.py).
-- A: seq, size, root, known, grace_ms. Returns {the counter found, the counter now}.
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
local counter = tonumber(redis.call('GET', K.audit_seq) or '0') or 0
local floor = redis.call('HMGET', K.floor, 'seq', 'run', 'known', 'held_at')
if floor[2] and floor[2] ~= run and floor[4] then
  local now = redis.call('TIME')
  if now[1] * 1000 + math.floor(now[2] / 1000) - tonumber(floor[4]) < tonumber(A.grace_ms) then
    return {-1, counter}
  end
end
local seq = tonumber(A.seq)
local target = math.max(seq, tonumber(A.known) or 0, tonumber(floor[3] or '0') or 0)
local now = counter
if counter < target then
  redis.call('SET', K.audit_seq, string.format('%d', target))
  now = target
end
if counter < target then
  redis.call('HSET', K.floor, 'gap_from', string.format('%d', counter + 1), 'gap_to', string.format('%d', target),
             'gap_size', A.size, 'gap_root', A.root)
end
redis.call('HDEL', K.floor, 'known', 'held_at')
redis.call('HSET', K.floor, 'seq', string.format('%d', math.max(tonumber(floor[1] or '0') or 0, seq)), 'run', run)
return {counter, now}
