--! keys: due since drawing publishes paused viewers
--! uses: home_queue
-- One drawer takes up to A.count due Homes to redraw now, within the workspace's views.publish budget
-- (A.budget calls per A.window_ms, counted in `publishes`, whoever made them; each call counted for
-- A.margin_ms more, so that Slack, who gets them a little later and counts by arrival, never sees more
-- than the budget in its own window): the people who looked
-- most recently first (of the A.scan first in `due`), each once its changes have been gathered for
-- A.gather_ms. Each taken Home leaves `due`, is held in `drawing` for A.lease_ms (a drawer that dies
-- leaves it due again after that) and takes one token of the budget (its member returned, to give back
-- when nothing was published). Nothing is taken while `paused` (Slack said ratelimited).
-- Returns {{user, token, user, token, ...}, ms}: ms to wait before looking again (0: nothing more due).
local now = now_ms()
local paused = redis.call('PTTL', K.paused)
if paused > 0 then return {{}, paused} end
for _, user in ipairs(redis.call('ZRANGEBYSCORE', K.drawing, '-inf', now)) do  -- their drawer died
  redis.call('ZREM', K.drawing, user)
  mark_due(K.due, K.since, K.viewers, user, 0)
end
if redis.call('ZCARD', K.due) == 0 then return {{}, 0} end
local window = A.window_ms + A.margin_ms
redis.call('ZREMRANGEBYSCORE', K.publishes, '-inf', now - window)
local free = A.budget - redis.call('ZCARD', K.publishes)
if free <= 0 then
  local oldest = redis.call('ZRANGE', K.publishes, 0, 0, 'WITHSCORES')
  return {{}, math.max(1, tonumber(oldest[2]) + window - now)}
end
local want = math.min(free, A.count)
local taken, wait, n = {}, 0, 0
for _, user in ipairs(redis.call('ZREVRANGE', K.due, 0, A.scan - 1)) do
  if n >= want then break end
  local ripe = tonumber(redis.call('HGET', K.since, user) or '0') + A.gather_ms
  if ripe <= now then
    n = n + 1
    local token = user .. ':' .. now .. ':' .. A.holder .. ':' .. n
    redis.call('ZREM', K.due, user)
    redis.call('HDEL', K.since, user)
    redis.call('ZADD', K.drawing, now + A.lease_ms, user)
    redis.call('ZADD', K.publishes, now, token)
    taken[#taken + 1] = user
    taken[#taken + 1] = token
  elseif wait == 0 or ripe - now < wait then
    wait = ripe - now
  end
end
if n >= want then wait = 1 end  -- (more may be ripe: look again as soon as a drawer is free)
return {taken, wait}
