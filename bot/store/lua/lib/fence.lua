-- The fencing check of every owner write: the run's owner and epoch must be the writer's (an owner
-- that stalled while another worker took the run over finds a higher epoch and stops). An empty owner
-- is a write that is not the owner's (a person cancelling, say): not fenced.
local function fenced(run_key, fence)
  if fence.owner == '' then return false end
  local cur = redis.call('HMGET', run_key, 'owner', 'epoch')
  return cur[1] ~= fence.owner or (cur[2] or '0') ~= fence.epoch
end
