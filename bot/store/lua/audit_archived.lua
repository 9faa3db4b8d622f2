--! keys: archived
-- The last seq the audit archive holds (bot/audit/archive/writer.py), raised to A.seq, never lowered: a worker that
-- read an older archive never takes it back. A: seq. Returns the value kept now.
local was = tonumber(redis.call('GET', K.archived) or '0')
local seq = tonumber(A.seq)
if seq > was then
  redis.call('SET', K.archived, tostring(seq))
  return seq
end
return was
