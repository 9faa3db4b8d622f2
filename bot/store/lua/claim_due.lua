--! keys: deadlines
-- Take up to A.limit approvals whose deadline has passed, for one sweeper: their deadline entries move
-- to the end of a short lease, so sweepers running at once take different ones, and one that dies
-- before timing them out leaves them due again after the lease. Returns their ids.
-- A: now, lease_end, limit.
local due = redis.call('ZRANGEBYSCORE', K.deadlines, '-inf', A.now, 'LIMIT', 0, tonumber(A.limit))
for _, id in ipairs(due) do redis.call('ZADD', K.deadlines, A.lease_end, id) end
return due
