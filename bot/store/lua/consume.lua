--! keys: run approval texts
--! uses: stored fence final
-- The owner resumes after a decision: it must still own the run (owner and epoch) and nobody may have
-- consumed the decision (an adopter, if the owner looked dead). Exactly one worker continues a run, and
-- the run is "running" again (a run that ended keeps its final status), in this one step.
-- Returns {'ok', the decided approval (hash, and its texts as _text), '1' if the run is running again else
-- ''}, or why not: {'fenced'} (the run is no longer the writer's), {'taken'} (another worker continues with
-- it), {'pending'} (not decided: a stray wake-up) or {'missing', '1' or ''} (the approval is gone: the run
-- goes on without it).
-- A: fence {owner, epoch}.
if fenced(K.run, A.fence) then return {'fenced'} end

local function running_again()
  local status = redis.call('HGET', K.run, 'status')
  if not status or final[status] then return '' end
  redis.call('HSET', K.run, 'status', 'running')
  return '1'
end

local by = A.fence.owner .. ':' .. A.fence.epoch
local taken = redis.call('HMGET', K.approval, 'consumed', 'consumed_by', 'status')
if not taken[3] then return {'missing', running_again()} end
if taken[3] == 'pending' then return {'pending'} end
-- taken by someone else; the same owner asking again (its answer was lost) gets it again
if taken[1] == '1' and taken[2] ~= by then return {'taken'} end
redis.call('HSET', K.approval, 'consumed', '1', 'consumed_by', by)
return {'ok', stored(K.approval, K.texts), running_again()}
