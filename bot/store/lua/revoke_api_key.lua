--! keys: names record previous revoking audit audit_seq audit_shards
--! uses: fields audit
-- Revoke the API key named A.name, if it is still the key with hash A.digest: {'missing'} otherwise. The global part
-- of a revoke (issue 89: on the root's slot; the key's approvals, in its workspace's slot, are withdrawn by the next
-- step, lua/withdraw_key_approvals.lua). From this step on a request with the key finds no key: its record is kept as
-- a tombstone (revoked_at, revoked_by; its webhook secret dropped) for A.retention seconds, so a later use is refused
-- naming it. K.previous: the key it replaced (`keys rotate`) while its grace lasts (else K.record itself), revoked
-- with it. K.revoking notes the withdrawal still owed ({key id: A.owed}) until the next step is done, so a revoke
-- interrupted between the two is finished by the next (`keys revoke NAME` again, or a worker's start). Audited
-- (A.audit, on home's chain: the global entries').
-- A: name, digest, by, now, retention, key_id, owed, audit. Returns {'ok'} or {'missing'}.
if redis.call('HGET', K.names, A.name) ~= A.digest then return {'missing'} end
redis.call('HDEL', K.names, A.name)
for _, record in ipairs({K.record, K.previous}) do
  if redis.call('EXISTS', record) == 1 then
    redis.call('HDEL', record, 'webhook_secret', 'webhook_sealed', 'previous_sealed')
    redis.call('HSET', record, 'revoked_at', A.now, 'revoked_by', A.by)
    redis.call('EXPIRE', record, A.retention)
  end
end
redis.call('HSET', K.revoking, A.key_id, A.owed)
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return {'ok'}
