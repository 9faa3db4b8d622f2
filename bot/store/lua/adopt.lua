--! keys: run ...approval
--! uses: final
-- Another worker takes over a run whose owner is gone: to continue it with a decided approval (the
-- optional K.approval), or, with none, because its owner died while the agent was working. The run's
-- epoch goes up: whatever the old owner still tries to write is refused from now on.
-- A: from, to (worker ids), again ('1': the approval was consumed by the dead owner already), alive ('1': the
-- owner's heartbeat was there when read just before: on a Cluster with a tag per workspace it is in another slot;
-- read apart, the run's epoch still refuses an owner that was only slow).
-- Returns {'ok', new epoch} or {why not}.
-- a worker may take back its own run (its task for it was lost): its heartbeat then says nothing
if A.from ~= A.to and A.alive == '1' then return {'alive'} end
local status = redis.call('HGET', K.run, 'status')
if not status or final[status] then return {'final'} end
if redis.call('HGET', K.run, 'owner') ~= A.from then return {'taken'} end
local approval = K.approval[1]
if approval then
  local cur = redis.call('HMGET', approval, 'status', 'consumed')
  if not cur[1] or cur[1] == 'pending' then return {'pending'} end
  if cur[2] == '1' and A.again ~= '1' then return {'consumed'} end
end
redis.call('HSET', K.run, 'owner', A.to, 'status', 'running')
local epoch = redis.call('HINCRBY', K.run, 'epoch', 1)
if approval then redis.call('HSET', approval, 'consumed', '1', 'consumed_by', A.to .. ':' .. epoch) end
return {'ok', epoch}
