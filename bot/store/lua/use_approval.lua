--! keys: approval audit audit_seq audit_shards rules frozen frozen_seq
--! uses: audit frozen rules
-- A program uses an approval it was given (the Approvals API: right before the approved call runs). An
-- approval is used once: the same use asking again (its answer was lost: the same token) is told it is its
-- own; any other (another decision on the same approval, a process resuming after the first died, perhaps
-- mid-call) is told it was used, and when. An approval an "always allow" rule gave is used only while that
-- rule stands: revoked or expired, it approves nothing more.
-- An approval in a frozen scope (K.frozen, bot/store/freezes.py) is not used while frozen: {'frozen', scope}, audited;
-- nor while the last freeze (A.frozen_at) is not copied into its workspace's K.frozen (sharded): scope 'unspread'.
-- Returns {'ok'}, {'used', by, at}, {'not_approved', status}, {'revoked', rule}, {'frozen', scope} or {'missing'}.
-- A: id, by (the use's token), key (the API key's id), key_name and key_created (for an approval asked before
--    key ids, which names its key only: the key of that name made before it), now.
local cur = redis.call('HMGET', K.approval, 'status', 'timeout_outcome', 'consumed', 'consumed_by', 'used_at',
  'asked_by', 'key_id', 'created_at', 'rule_id')
if not cur[1] then return {'missing'} end
if (cur[7] or '') ~= '' then
  if cur[7] ~= A.key then return {'missing'} end
elseif cur[6] ~= A.key_name or tonumber(A.key_created) > tonumber(cur[8] or '0') then
  return {'missing'}
end
if cur[1] ~= 'approved' and not (cur[1] == 'timed_out' and cur[2] == 'approve') then
  return {'not_approved', cur[1]}
end
if cur[3] == '1' then
  if cur[4] == A.by then return {'ok'} end
  return {'used', cur[4] or '', cur[5] or ''}
end
if (cur[9] or '') ~= '' and rule_lapsed(K.rules, cur[9], A.now) then return {'revoked', cur[9]} end
local scope = frozen_in(K.frozen, K.approval)
if not scope and frozen_unspread(K.frozen_seq, A.frozen_at) then scope = 'unspread' end
if scope then
  audit_append(K.audit, K.audit_seq, K.audit_shards, {'event', 'refused', 'at', A.now, 'approval', A.id,
    'by', A.key_name, 'action', 'use', 'reason', 'frozen', 'scope', scope})
  return {'frozen', scope}
end
redis.call('HSET', K.approval, 'consumed', '1', 'consumed_by', A.by, 'used_at', A.now)
audit_append(K.audit, K.audit_seq, K.audit_shards, {'event', 'used', 'at', A.now, 'approval', A.id, 'by', A.key_name})
return {'ok'}
