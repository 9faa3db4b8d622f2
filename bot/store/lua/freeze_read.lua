--! keys: frozen spread known home
-- The frozen scopes as they are now, to copy into each workspace's own (sharded, bot/store/freeze_copies.py): a new
-- number (INCR K.spread: each read's later than every read before it), the frozen hash's fields and values, the
-- tenants known (`workspaces:known`) and the home's record, read in one step.
local seq = redis.call('INCR', K.spread)
return {seq, redis.call('HGETALL', K.frozen), redis.call('HKEYS', K.known), redis.call('GET', K.home) or ''}
