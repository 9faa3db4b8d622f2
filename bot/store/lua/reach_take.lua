--! keys: approval due
-- A reacher takes step A.step (1 for its route's first) of an approval it claimed (bot/approvals/reach.py): only
-- while the approval waits ('decided' / 'missing': off the due set, nothing is sent after a decision), only once
-- ('already': taken before, by this worker or another), noted taken (`reach_done`) before the surface is called, and
-- the next step due at A.next_at ('': none left: off the due set). A: id, step, next_at.
local status, done = unpack(redis.call('HMGET', K.approval, 'status', 'reach_done'))
if status ~= 'pending' then
  redis.call('ZREM', K.due, A.id)
  return status and 'decided' or 'missing'
end
if (tonumber(done) or 0) >= tonumber(A.step) then return 'already' end
redis.call('HSET', K.approval, 'reach_done', A.step)
if A.next_at == '' then redis.call('ZREM', K.due, A.id) else redis.call('ZADD', K.due, tonumber(A.next_at), A.id) end
return 'ok'
