--! keys: approval
-- Keep an approval's receipt (bot/store/receipts.py): the first one issued stays, whichever worker signed it,
-- so every worker answers with the same receipt; a new one replaces it only once it has expired and no
-- executor has spent it. Only an approval that allows a call (approved, or timed out with the outcome
-- approve) keeps one.
-- Returns {'kept', receipt, exp} (the one stored stays), {'new', receipt, exp}, {'none'} (it allows nothing)
-- or {'missing'}.
-- A: receipt, jti, exp, now.
local cur = redis.call('HMGET', K.approval, 'status', 'timeout_outcome', 'receipt', 'receipt_exp',
  'receipt_used_by')
if not cur[1] then return {'missing'} end
if cur[1] ~= 'approved' and not (cur[1] == 'timed_out' and cur[2] == 'approve') then return {'none'} end
if (cur[3] or '') ~= '' and ((cur[5] or '') ~= '' or tonumber(cur[4] or '0') > tonumber(A.now)) then
  return {'kept', cur[3], cur[4]}
end
redis.call('HSET', K.approval, 'receipt', A.receipt, 'receipt_jti', A.jti, 'receipt_exp', A.exp)
return {'new', A.receipt, A.exp}
