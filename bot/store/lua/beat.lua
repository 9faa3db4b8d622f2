--! keys: heartbeat
-- A worker's heartbeat, and Redis's clock (to measure ours against it). A: now, ttl_ms.
redis.call('SET', K.heartbeat, A.now, 'PX', A.ttl_ms)
return redis.call('TIME')
