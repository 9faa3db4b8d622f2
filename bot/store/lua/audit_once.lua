--! keys: idempotency audit audit_seq audit_shards
--! uses: audit
-- An audit entry written once per idempotency key (`POST /api/v1/audit/allowed` with an Idempotency-Key): the
-- entry and the key's answer in one step, so a retry after a lost answer gets the first answer and adds no entry.
-- Returns {'new', answer}, {'again', the first answer} (same body) or {'conflict'} (the key was used with another body).
-- A: digest (of the body), answer (JSON text), entry (a flat list: field, value, ...), ttl.
local first = redis.call('GET', K.idempotency)
if first then
  local was = cjson.decode(first)
  if was.digest ~= A.digest then return {'conflict'} end
  return {'again', was.answer}
end
audit_append(K.audit, K.audit_seq, K.audit_shards, A.entry)
redis.call('SET', K.idempotency, cjson.encode({digest = A.digest, answer = A.answer}), 'EX', A.ttl)
return {'new', A.answer}
