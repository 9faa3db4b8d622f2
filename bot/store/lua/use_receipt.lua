--! keys: approval audit audit_seq audit_shards rules names refused frozen frozen_seq
--! uses: audit frozen rules
-- An executor spends an approval's receipt (POST /api/v1/approvals/{id}/use with a receipt, no API key),
-- once: apart from the asking program's own use (`consumed`, lua/use_approval.lua), so a gateway's use and
-- the executor's never collide. The receipt was verified before (its signature, typ, sub); here: the key that
-- asked still stands (revoked, or its name given to another key since: what it holds spends nothing more, a
-- retry included), it is the one issued for this approval (its jti), the approval still allows the call (a
-- rule's only while the rule stands), and nobody else spent it. The same token again is told it is its own (a
-- retry after a lost answer), even once the receipt has expired; another token is told when it was spent (never
-- by which token).
-- Returns {'ok'}, {'used', at} (never the other token), {'expired'}, {'unknown'} (not this approval's receipt),
-- {'not_approved', status}, {'revoked', rule}, {'key_revoked', key name}, {'frozen', scope} (its scope frozen,
-- bot/store/freezes.py: audited as a key's revocation is; 'unspread': the last freeze, A.frozen_at, not copied into its
-- workspace's K.frozen yet, sharded: lua/lib/frozen.lua) or {'missing'}.
-- K.names: the API keys' names -> their sha256 (a key's id is 'k-' and the first 24 hex digits of it). A use refused
-- because the key was revoked is audited (`receipt_refused`), once per approval in 10 s (K.refused): a retrying
-- executor does not flood the log.
-- A: id, jti, token (the executor's own), expired (1: the receipt's exp has passed), now.
local cur = redis.call('HMGET', K.approval, 'status', 'timeout_outcome', 'receipt_jti', 'receipt_used_by',
  'receipt_used_at', 'rule_id', 'asked_by', 'key_id')
if not cur[1] then return {'missing'} end
local name = cur[7] or ''
if name ~= '' then
  local digest = redis.call('HGET', K.names, name)
  if not digest or ((cur[8] or '') ~= '' and 'k-' .. string.sub(digest, 1, 24) ~= cur[8]) then
    if redis.call('SET', K.refused, '1', 'NX', 'EX', 10) then
      audit_append(K.audit, K.audit_seq, K.audit_shards, {'event', 'receipt_refused', 'at', A.now, 'approval', A.id,
        'by', 'executor', 'key', name, 'jti', A.jti, 'reason', 'key_revoked'})
    end
    return {'key_revoked', name}
  end
end
if cur[1] ~= 'approved' and not (cur[1] == 'timed_out' and cur[2] == 'approve') then
  return {'not_approved', cur[1]}
end
if (cur[3] or '') == '' or cur[3] ~= A.jti then return {'unknown'} end
if (cur[4] or '') ~= '' then
  if cur[4] == A.token then return {'ok'} end
  return {'used', cur[5] or ''}
end
if A.expired == '1' then return {'expired'} end
if (cur[6] or '') ~= '' and rule_lapsed(K.rules, cur[6], A.now) then return {'revoked', cur[6]} end
local scope = frozen_in(K.frozen, K.approval)
if not scope and frozen_unspread(K.frozen_seq, A.frozen_at) then scope = 'unspread' end
if scope then
  if redis.call('SET', K.refused, '1', 'NX', 'EX', 10) then
    audit_append(K.audit, K.audit_seq, K.audit_shards, {'event', 'receipt_refused', 'at', A.now, 'approval', A.id,
      'by', 'executor', 'key', name, 'jti', A.jti, 'reason', 'frozen', 'scope', scope})
  end
  return {'frozen', scope}
end
redis.call('HSET', K.approval, 'receipt_used_by', A.token, 'receipt_used_at', A.now)
audit_append(K.audit, K.audit_seq, K.audit_shards, {'event', 'receipt_used', 'at', A.now, 'approval', A.id, 'by', 'executor',
  'key', name, 'jti', A.jti})
return {'ok'}
