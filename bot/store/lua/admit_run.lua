--! keys: user_runs channel_runs live run channel_index user_index audit audit_seq audit_shards
--! uses: fields audit
-- Admit and record a run in one step, if its requester and channel are under their limits of active
-- runs (so simultaneous commands cannot all pass the check). Runs of the channel's index started
-- before the retention are dropped from it (and from the requester's index). Returns 'ok', 'user_limit', 'channel_limit' or 'exists'.
-- A: id, max_per_user, max_per_channel, fields (the run's hash), created_at, index_cutoff,
--    audit (the entry), active ('1': a worker runs it, counted in the limits and live; '0': a
--    program's run over the API, which no worker runs and no limit counts).
if A.active == '1' then
  if redis.call('SCARD', K.user_runs) >= tonumber(A.max_per_user) then return 'user_limit' end
  if redis.call('SCARD', K.channel_runs) >= tonumber(A.max_per_channel) then return 'channel_limit' end
end
if redis.call('EXISTS', K.run) == 1 then return 'exists' end
if A.active == '1' then
  redis.call('SADD', K.user_runs, A.id)
  redis.call('SADD', K.channel_runs, A.id)
  redis.call('SADD', K.live, A.id)
end
redis.call('HSET', K.run, unpack(flat(A.fields)))
redis.call('ZADD', K.channel_index, A.created_at, A.id)
redis.call('ZREMRANGEBYSCORE', K.channel_index, '-inf', A.index_cutoff)
redis.call('ZADD', K.user_index, A.created_at, A.id)
redis.call('ZREMRANGEBYSCORE', K.user_index, '-inf', A.index_cutoff)
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return 'ok'
