--! keys: idempotency audit audit_seq audit_shards ...windows
--! uses: audit windows
-- A call a program's own allow-list let through (`POST /api/v1/audit/allowed`), recorded in one step: its `allowed`
-- audit entry and its place in the policy windows the policies read for it, so a budget counts it as it counts an
-- approval allowed at once (lua/open_approval.lua); nothing takes it out again (it ran). With an Idempotency-Key
-- (A.digest not ''), a retry after a lost answer gets the first answer and changes nothing.
-- Returns {'new', answer}; {'again', the first answer} (same body); {'conflict'} (K.idempotency was used with another
-- body); {'stale', window}: a window's total is no longer what the policies read (decide again). Nothing changes
-- unless 'new'.
-- A: digest (of the body, or ''), answer (JSON text), entry (a flat list: field, value, ...), ttl, now, windows (one
--    per K.windows: {since, expect, count, member ('': counts nothing), ttl}).
if A.digest ~= '' then
  local first = redis.call('GET', K.idempotency)
  if first then
    local was = cjson.decode(first)
    if was.digest ~= A.digest then return {'conflict'} end
    return {'again', was.answer}
  end
end
for i, w in ipairs(A.windows) do
  if window_total(K.windows[i], w.since, w.count) ~= tonumber(w.expect) then return {'stale', tostring(i)} end
end
for i, w in ipairs(A.windows) do
  if w.member ~= '' then window_add(K.windows[i], w.since, A.now, w.member, w.ttl, w.count) end
end
audit_append(K.audit, K.audit_seq, K.audit_shards, A.entry)
if A.digest ~= '' then
  redis.call('SET', K.idempotency, cjson.encode({digest = A.digest, answer = A.answer}), 'EX', A.ttl)
end
return {'new', A.answer}
