--! keys: deadlines nudges waiting outbox audit audit_seq audit_shards changes webhooks frozen frozen_seq ...approvals
--! uses: stored homes audit refusals windows oversight decide
-- Time out approvals whose deadline has passed, each through the same decide step as a click. The
-- caller claimed their ids (A.ids, lua/claim_due.lua); K.approvals holds each one's approval, texts
-- and votes keys, in that order. Returns, per approval timed out, {record, heard}.
local decided = {}
for i, id in ipairs(A.ids) do
  local base = (i - 1) * 3
  local k = {approval=K.approvals[base + 1], texts=K.approvals[base + 2], votes=K.approvals[base + 3],
             deadlines=K.deadlines, nudges=K.nudges, waiting=K.waiting, outbox=K.outbox, audit=K.audit, audit_seq=K.audit_seq,
             audit_shards=K.audit_shards,
             changes=K.changes, webhooks=K.webhooks, frozen=K.frozen,
             frozen_seq=K.frozen_seq}
  local result = decide(k, {id=id, outcome='timed_out', by='timeout', now=A.now, feedback='',
                            card_channel='', card_ts='', worker_channels=A.worker_channels, publish=A.publish,
                            retention=A.retention, check_auth='0',
                            in_groups='', card_grace=A.card_grace, attach='0', valid_until='',
                            dry_run='0', principals='', group_principal='',
                            frozen_at=A.frozen_at})
  if result[1] == 'ok' then
    decided[#decided + 1] = {result[2], result[3]}
  elseif result[1] == 'missing' or result[1] == 'already' then
    redis.call('ZREM', K.deadlines, id)  -- expired, removed or decided: a stray deadline
  elseif result[1] == 'not_due' then
    redis.call('ZADD', K.deadlines, redis.call('HGET', k.approval, 'deadline'), id)  -- the approval says later
  end  -- 'unspread' (a timeout that would approve, the freeze not copied here yet): due again after the claim's lease
end
return decided
