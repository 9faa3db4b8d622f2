--! keys: heartbeat format
-- A worker's heartbeat, and Redis's clock (to measure ours against it). A: now, says (its version and key layout:
-- "<version> tags|one-tag", and " held" once its commands are held for a move: `python -m bot store move-workspaces`),
-- ttl_ms. A version before wrote "<now>". Returns Redis's TIME, and the stored format's `format` and `moving`.
redis.call('SET', K.heartbeat, A.now .. ' ' .. A.says, 'PX', A.ttl_ms)
local time = redis.call('TIME')
local stored = redis.call('HMGET', K.format, 'format', 'moving')
return {time[1], time[2], stored[1] or '1', stored[2] or ''}
