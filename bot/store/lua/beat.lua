--! keys: heartbeat
-- A worker's heartbeat, and Redis's clock (to measure ours against it). A: now, mark, ttl_ms. The value is
-- "<now> <mark>": the mark tells a worker of this version from one of the old audit chain, whose value is
-- "<now>" alone (bot/audit/bridge.py looks for those); nothing else reads the value.
redis.call('SET', K.heartbeat, A.now .. ' ' .. A.mark, 'PX', A.ttl_ms)
return redis.call('TIME')
