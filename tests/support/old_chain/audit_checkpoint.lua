--! keys: audit checkpoints
--! uses: sha256 audit
-- A signed checkpoint of the audit chain's head (bot/report/checkpoints.py signs it), written only if the last
-- checkpoint's seq is lower: of several workers, one writes a given checkpoint. Then the checkpoints the log
-- no longer needs are trimmed: kept are every one whose seq is at or after the oldest retained entry's, and
-- the one before it (the entries it signed are trimmed, but it anchors the first retained one's `prev`).
-- A: seq, hash, id (the entry's stream id), at, jws (the compact JWS of {seq, hash, id, at}).
-- Returns 'ok', or 'stale' (a checkpoint at this seq or later was written meanwhile).
local function seq_of(entry_fields)
  for i = 1, #entry_fields, 2 do
    if entry_fields[i] == 'seq' then return tonumber(entry_fields[i + 1]) end
  end
  return nil
end
local last = redis.call('XREVRANGE', K.checkpoints, '+', '-', 'COUNT', 1)
if last[1] and (seq_of(last[1][2]) or 0) >= tonumber(A.seq) then return 'stale' end
redis.call('XADD', K.checkpoints, '*', 'seq', A.seq, 'hash', A.hash, 'id', A.id, 'at', A.at, 'jws', A.jws)
local oldest = redis.call('XRANGE', K.audit, '-', '+', 'COUNT', 1)
local first_seq = oldest[1] and audit_chain_of(oldest[1][2])
if first_seq then
  local keep_from = nil
  for _, checkpoint in ipairs(redis.call('XRANGE', K.checkpoints, '-', '+', 'COUNT', 100)) do
    local seq = seq_of(checkpoint[2])
    if not seq or seq >= first_seq then break end
    keep_from = checkpoint[1]
  end
  if keep_from then redis.call('XTRIM', K.checkpoints, 'MINID', keep_from) end
end
return 'ok'
