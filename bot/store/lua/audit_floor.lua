--! keys: floor audit_seq
-- The audit floor confirmed (bot/audit/archive/writer.py, each round of the archive's writer): the counter raised to
-- A.seq (the last seq the archive holds) if it is below, the floor's seq raised to it, and the floor confirmed for
-- this Redis run (lua/lib/audit.lua holds numbering while it is not). A counter found below the archive is a
-- restore: the seqs Redis lost are kept in the floor as `gap_from`, `gap_to`, with the archive's tree head at its
-- end (A.size, A.root), for the checkpoint writer to sign past them (bot/audit/checkpoints.py).
-- A: seq, size, root. Returns {the counter found, the counter now}.
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
local counter = tonumber(redis.call('GET', K.audit_seq) or '0') or 0
local seq = tonumber(A.seq)
local kept = tonumber(redis.call('HGET', K.floor, 'seq') or '0') or 0
local now = counter
if counter < seq then
  redis.call('SET', K.audit_seq, string.format('%d', seq))
  now = seq
  redis.call('HSET', K.floor, 'gap_from', string.format('%d', counter + 1), 'gap_to', string.format('%d', seq),
             'gap_size', A.size, 'gap_root', A.root)
end
redis.call('HSET', K.floor, 'seq', string.format('%d', math.max(kept, seq)), 'run', run)
return {counter, now}
