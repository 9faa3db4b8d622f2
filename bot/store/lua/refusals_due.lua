--! keys: due audit audit_seq audit_shards ...refusals
--! uses: audit refusals
-- The refusal windows that have closed (lua/lib/refusals.lua): K.refusals, read from K.due by the caller; each one's
-- summarising entry written (when it counted any refusal after its first), its key deleted and its member removed.
-- A window opened again meanwhile (its `until` later than A.now) is left to its own time. Returns the number of
-- summaries written.
local written = 0
for _, key in ipairs(K.refusals) do
  local held = redis.call('HMGET', key, 'until', 'count', 'entry')
  if not held[1] or tonumber(held[1]) <= tonumber(A.now) then
    if (tonumber(held[2] or '0') or 0) > 0 then written = written + 1 end
    refusal_summary({K.audit, K.audit_seq, K.audit_shards}, held, A.now)
    redis.call('DEL', key)
    redis.call('ZREM', K.due, key)
  end
end
return written
