--! keys: heartbeat
-- A worker's heartbeat, and Redis's clock (to measure ours against it). A: now, says (its version and key layout:
-- "<version> tags|one-tag", read by `python -m bot store move-workspaces`), ttl_ms. A version before wrote "<now>".
redis.call('SET', K.heartbeat, A.now .. ' ' .. A.says, 'PX', A.ttl_ms)
return redis.call('TIME')
