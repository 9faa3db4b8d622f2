--! keys: approval
-- Before an escalation that names on-call schedules (bot/approvals/oncall.py): the people on call now join its
-- `escalate_to` (lua/nudge.lua then lets them in), and which schedules could not be read and who got it instead are
-- kept (its card says so), unless it is no longer pending or was escalated already. A: escalate_to, unread, fallback.
-- Returns 1 when noted, else 0.
local cur = redis.call('HMGET', K.approval, 'status', 'escalated_at')
if cur[1] ~= 'pending' or (tonumber(cur[2]) or 0) ~= 0 then return 0 end
redis.call('HSET', K.approval, 'escalate_to', A.escalate_to, 'oncall_unread', A.unread, 'oncall_fallback', A.fallback)
return 1
