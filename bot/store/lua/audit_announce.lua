--! keys: kids audit audit_seq audit_shards
--! uses: audit
-- A signing key announced in the audit log (bot/audit/checkpoints.py), before it signs any checkpoint: one entry
-- `signing_key` (A.entry: kid, its public JWK, why) and K.kids[kid] = {since, seq, id} (where the log has it), in
-- one step. Once per kid, unless A.carry ('1': the entry that has it is about to be trimmed: it is announced again,
-- with `since` the seq of its first announcement, so the log keeps it).
-- A: kid, entry (a flat list: field, value, ...; a carried or upgrade one ends with `since`), since ('' for the
--    entry's own seq), carry.
-- Returns {since, seq, id} of the announcement that stands (an earlier one, or this step's).
local was = redis.call('HGET', K.kids, A.kid)
if was and A.carry ~= '1' then
  local kept = cjson.decode(was)
  return {tostring(kept.since), tostring(kept.seq), kept.id}
end
local seq, entry_id = audit_append(K.audit, K.audit_seq, K.audit_shards, A.entry)
local since = A.since
if since == '' then since = tostring(seq) end
redis.call('HSET', K.kids, A.kid, cjson.encode({since = since, seq = tostring(seq), id = entry_id}))
return {since, tostring(seq), entry_id}
