--! keys: outbox
-- Take due outbox entries and push their due time to the end of a lease, in one step: one claimer
-- each. A: now, lease_end (the lease's end), limit.
local due = redis.call('ZRANGEBYSCORE', K.outbox, '-inf', A.now, 'LIMIT', 0, tonumber(A.limit))
for _, id in ipairs(due) do redis.call('ZADD', K.outbox, A.lease_end, id) end
return due
