--! keys: approval audit
-- A program uses an approval it was given (the Approvals API: right before the approved call runs). An
-- approval is used once: the same program asking again (its answer was lost) is told it is its own use; any
-- other (a process resuming after the first died, perhaps mid-call) is told it was used, and when.
-- Returns {'ok'}, {'used', by, at}, {'not_approved', status} or {'missing'}.
-- A: id, by (the using program's token), key (the API key's name), now, audit_minid.
local cur = redis.call('HMGET', K.approval, 'status', 'timeout_outcome', 'consumed', 'consumed_by', 'used_at',
  'asked_by')
if not cur[1] or cur[6] ~= A.key then return {'missing'} end
if cur[1] ~= 'approved' and not (cur[1] == 'timed_out' and cur[2] == 'approve') then
  return {'not_approved', cur[1]}
end
if cur[3] == '1' then
  if cur[4] == A.by then return {'ok'} end
  return {'used', cur[4] or '', cur[5] or ''}
end
redis.call('HSET', K.approval, 'consumed', '1', 'consumed_by', A.by, 'used_at', A.now)
redis.call('XADD', K.audit, 'MINID', '~', A.audit_minid, '*', 'event', 'used', 'at', A.now, 'approval', A.id,
  'by', A.key)
return {'ok'}
