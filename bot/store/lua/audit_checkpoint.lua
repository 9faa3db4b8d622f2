--! keys: audit checkpoints
-- A signed checkpoint of the audit log (bot/audit/checkpoints.py signs it) and the trim it signed, in one step:
-- kept only if the newest checkpoint is still A.after (its stream id, '' for none), so of two writers one wins.
-- The log is trimmed exactly below A.trim_id (a stream id, '' for no trim: where the log now starts, which the
-- checkpoint signs), then checkpoints the log no longer needs are trimmed: those whose seq is below A.start - 1.
-- A: after, trim_id, start (the seq the log starts at), fields (the checkpoint: a flat list, field, value, ...).
-- Returns 'ok', or 'stale' (another checkpoint was written meanwhile).
local last = redis.call('XREVRANGE', K.checkpoints, '+', '-', 'COUNT', 1)
if (last[1] and last[1][1] or '') ~= A.after then return 'stale' end
if A.trim_id ~= '' then redis.call('XTRIM', K.audit, 'MINID', A.trim_id) end
redis.call('XADD', K.checkpoints, '*', unpack(A.fields))
local function seq_of(entry_fields)
  for i = 1, #entry_fields, 2 do
    if entry_fields[i] == 'seq' then return tonumber(entry_fields[i + 1]) end
  end
  return nil
end
local keep_from = nil
for _, checkpoint in ipairs(redis.call('XRANGE', K.checkpoints, '-', '+', 'COUNT', 100)) do
  local seq = seq_of(checkpoint[2])
  if not seq or seq >= tonumber(A.start) - 1 then
    keep_from = checkpoint[1]
    break
  end
end
if keep_from then redis.call('XTRIM', K.checkpoints, 'MINID', keep_from) end
return 'ok'
