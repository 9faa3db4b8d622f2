--! keys: lease seen lost
-- The audit checkpoint writer's lease (bot/store/writer_lease.py). A.op 'take': taken (or kept, by its holder) for
-- A.ms milliseconds, as lua/audit_lease.lua; its holder and when it last renewed it are kept in K.seen (no expiry).
-- Taken from a holder whose lease expired while K.seen still names it (it never gave it up: stopped, hung or killed),
-- that holder is kept in K.lost ({worker, last, taken_by, at}, by A.now) for the watcher to say. Returns 1 when
-- A.worker holds it now, else 0. A.op 'release': the holder gives it up (a worker stopping): both keys deleted if
-- they are still its own. A: op, worker, ms, now.
local holder = redis.call('GET', K.lease)
if A.op == 'release' then
  if holder == A.worker then redis.call('DEL', K.lease) end
  local ok, seen = pcall(cjson.decode, redis.call('GET', K.seen) or '')
  if ok and type(seen) == 'table' and seen.worker == A.worker then redis.call('DEL', K.seen) end
  return 1
end
if holder and holder ~= A.worker then return 0 end
if not holder then
  local ok, seen = pcall(cjson.decode, redis.call('GET', K.seen) or '')
  if ok and type(seen) == 'table' and seen.worker and seen.worker ~= A.worker then
    redis.call('HSET', K.lost, A.now, cjson.encode({worker = seen.worker, last = seen.at, taken_by = A.worker,
                                                   at = A.now}))
  end
end
redis.call('SET', K.lease, A.worker, 'PX', A.ms)
redis.call('SET', K.seen, cjson.encode({worker = A.worker, at = A.now}))
return 1
