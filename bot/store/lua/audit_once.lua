--! keys: idempotency audit audit_seq audit_shards ...windows
--! uses: audit windows
-- An audit entry written once per idempotency key (A.once; `POST /api/v1/audit/allowed` with an Idempotency-Key): the
-- entry and the key's answer in one step, so a retry after a lost answer gets the first answer and adds no entry.
-- With windows (a call a program's allow-list let through, bot/api/allowed.py), the call is counted in the policy
-- windows the policies read for it in the same step, as an approval allowed at once is (lua/open_approval.lua);
-- nothing takes it out again (it ran).
-- Returns {'new', answer}, {'again', the first answer} (same body), {'conflict'} (the key was used with another
-- body) or {'stale', window} (a window's total is no longer what the policies read: decide again). Nothing changes
-- unless 'new'.
-- A: once (false: no idempotency key), digest (of the body), answer (JSON text), entry (a flat list: field, value,
--    ...), ttl, now, windows (one per K.windows: {since, expect, count, member ('': counts nothing), ttl}).
if A.once then
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
if A.once then
  redis.call('SET', K.idempotency, cjson.encode({digest = A.digest, answer = A.answer}), 'EX', A.ttl)
end
return {'new', A.answer}
