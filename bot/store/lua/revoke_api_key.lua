--! keys: names record pending audit audit_seq audit_shards deadlines nudges waiting outbox changes webhooks previous ...approvals
--! uses: fields stored homes audit windows oversight decide
-- Revoke the API key named A.name, if it is still the key with hash A.digest: {'missing'} otherwise. In the same
-- step, every approval it asked that is still pending is withdrawn through the decide step (outcome cancelled, by
-- 'system', A.reason: its card says so, its long-polls wake, nobody can approve it any more). K.pending lists the
-- key's approvals that may be pending; the caller read it and passes each one's approval, texts and votes keys in
-- K.approvals (A.ids, in that order): one asked meanwhile is not among them, so nothing changes and the answer is
-- {'retry'} (read the list again). From this step on a request with the key finds no key: its record is kept as a
-- tombstone (revoked_at, revoked_by; its webhook secret dropped) for A.retention seconds, so a later use is refused
-- naming it. K.previous: the key it replaced (`keys rotate`) while its grace lasts (else K.record itself), revoked
-- with it. Audited (A.audit, then each withdrawal's decision).
-- A: name, digest, by, now, reason, ids, audit, worker_channels, publish, retention, card_grace.
-- Returns {'ok', {record, heard}...} (each approval withdrawn), {'missing'} or {'retry'}.
if redis.call('HGET', K.names, A.name) ~= A.digest then return {'missing'} end
local given = {}
for _, id in ipairs(A.ids) do given[id] = true end
for _, id in ipairs(redis.call('SMEMBERS', K.pending)) do
  if not given[id] then return {'retry'} end
end
redis.call('HDEL', K.names, A.name)
for _, record in ipairs({K.record, K.previous}) do
  if redis.call('EXISTS', record) == 1 then
    redis.call('HDEL', record, 'webhook_secret', 'webhook_sealed', 'previous_sealed')
    redis.call('HSET', record, 'revoked_at', A.now, 'revoked_by', A.by)
    redis.call('EXPIRE', record, A.retention)
  end
end
redis.call('DEL', K.pending)
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
local withdrawn = {}
for i, id in ipairs(A.ids) do
  local base = (i - 1) * 3
  local k = {approval=K.approvals[base + 1], texts=K.approvals[base + 2], votes=K.approvals[base + 3],
             deadlines=K.deadlines, nudges=K.nudges, waiting=K.waiting, outbox=K.outbox, audit=K.audit,
             audit_seq=K.audit_seq, audit_shards=K.audit_shards, changes=K.changes, webhooks=K.webhooks}
  local result = decide(k, {id=id, outcome='cancelled', by='system', now=A.now, feedback=A.reason,
                            card_channel='', card_ts='', worker_channels=A.worker_channels, publish=A.publish,
                            retention=A.retention, check_auth='0', in_groups='', card_grace=A.card_grace,
                            attach='0', valid_until='', dry_run='0', principals='', group_principal=''})
  if result[1] == 'ok' then withdrawn[#withdrawn + 1] = {result[2], result[3]} end
end
return {'ok', withdrawn}
