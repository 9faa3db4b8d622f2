--! keys: approval changes
--! uses: homes
-- The people an `oncall:` step of an approval's route reached (the people on call now, or the route's fallback
-- approvers: bot/approvals/reach.py) may decide it, as an escalation's `oncall:` people do (lua/nudge.lua): they join
-- its approvers and their Home indexes, only while it waits and only when it names approvers (none: anyone may decide
-- already). The decision's own checks (the policy about who decides, the requester's own vote) still hold.
-- A: id, people (comma-separated). Returns the approvers now, or '-' when it no longer waits.
local cur = redis.call('HMGET', K.approval, 'status', 'approvers', 'created_at')
if cur[1] ~= 'pending' then return '-' end
local approvers = cur[2] or ''
if approvers == '' or approvers == 'anyone' then return approvers end
for who in string.gmatch(A.people, '[^,]+') do
  if not string.find(',' .. approvers .. ',', ',' .. who .. ',', 1, true) then
    approvers = approvers .. ',' .. who
  end
end
if approvers ~= cur[2] then
  local P = waits_prefix(K.changes)
  index_approvers(P, A.id, cur[3], cur[2], false)
  index_approvers(P, A.id, cur[3], approvers, true)
  redis.call('HSET', K.approval, 'approvers', approvers, 'version', redis.call('INCR', K.changes))
end
return approvers
