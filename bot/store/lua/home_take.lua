--! keys: due since drawing publishes paused viewers
--! uses: home_queue
-- A person opened their Home (or turned its page): it is drawn now, ahead of the budget (its token is
-- counted, so the redraws in the background wait for it), and leaves `due` (this draw reads everything
-- as it is now). While Slack has paused publishing (`paused`), it is due first instead, drawn when the
-- pause ends. Returns {token, 0}, or {'', ms paused}.
local now = now_ms()
local paused = redis.call('PTTL', K.paused)
if paused > 0 then
  mark_due(K.due, K.since, K.viewers, A.user, 0)
  return {'', paused}
end
local token = A.user .. ':' .. now .. ':' .. A.holder .. ':open'
redis.call('ZREM', K.due, A.user)
redis.call('HDEL', K.since, A.user)
redis.call('ZADD', K.drawing, now + A.lease_ms, A.user)
redis.call('ZREMRANGEBYSCORE', K.publishes, '-inf', now - A.window_ms - A.margin_ms)
redis.call('ZADD', K.publishes, now, token)
return {token, 0}
