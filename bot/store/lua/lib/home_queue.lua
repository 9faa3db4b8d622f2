-- The Home redraw queue (bot/store/home_queue.py), shared by its steps.
--   due         zset  people whose Home is due a redraw, scored by when they last opened it (most recent first)
--   since       hash  {person: ms} since when each is due (the changes gathered into one redraw)
--   publishes   zset  the workspace's views.publish calls of the last window (the budget), by ms
-- Times are Redis's clock (TIME), the same for every worker.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- `user` is due (if they opened their Home lately: in `viewers`), at `since` unless due from earlier.
local function mark_due(due, since_key, viewers, user, since)
  local looked = redis.call('ZSCORE', viewers, user)
  if not looked then return 0 end
  redis.call('ZADD', due, looked, user)
  redis.call('HSETNX', since_key, user, since)
  return 1
end
