--! keys: pending deadlines nudges waiting outbox audit audit_seq audit_shards changes webhooks ...approvals
--! uses: fields stored homes audit windows oversight decide
-- The workspace part of a revoke (issue 89, after lua/revoke_api_key.lua; all in the key's workspace's slot): every
-- approval the revoked key asked that is still pending is withdrawn through the decide step (outcome cancelled, by
-- 'system', A.reason: its card says so, its long-polls wake, nobody can approve it any more). K.pending lists the
-- key's approvals that may be pending; the caller read it and passes each one's approval, texts and votes keys in
-- K.approvals (A.ids, in that order): one asked meanwhile is not among them, so nothing changes and the answer is
-- {'retry'} (read the list again). Run again after it is done, it finds nothing pending and withdraws nothing.
-- A: reason, now, ids, worker_channels, publish, retention, card_grace.
-- Returns {'ok', {record, heard}...} (each approval withdrawn) or {'retry'}.
local given = {}
for _, id in ipairs(A.ids) do given[id] = true end
for _, id in ipairs(redis.call('SMEMBERS', K.pending)) do
  if not given[id] then return {'retry'} end
end
redis.call('DEL', K.pending)
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
