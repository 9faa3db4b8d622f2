--! keys: frozen spread at changed
-- Freeze a scope (bot/store/freezes.py): A.scope, A.held (the freeze's JSON: reason, by, at; a drill's hold also
-- drill, until). Returns {status, the record found}: 'frozen' (frozen now, by this one); 'stands' (a freeze drill
-- holds it: this real freeze is recorded in the drill's record, `stands`, and the drill's end leaves it frozen, as
-- this freeze, lua/drill_end.lua); 'already' (frozen already, or a real freeze recorded during the drill already:
-- nothing changed). A scope frozen now is numbered (the reads' counter K.spread, lua/freeze_read.lua): K.at and
-- K.changed, so a workspace's copy read before it refuses Approves (lua/lib/decide.lua, bot/store/freeze_copies.py),
-- and said on A.told (a shard channel of K.at's slot, `Keys.frozen_told`) in this same step: the workers subscribed
-- there know it without reading K.at before each Approve (Redis before 7, no SPUBLISH: they read it).
local raw = redis.call('HGET', K.frozen, A.scope)
if not raw then
  redis.call('HSET', K.frozen, A.scope, A.held)
  local seq = redis.call('INCR', K.spread)
  redis.call('SET', K.at, seq)
  redis.call('SET', K.changed, seq)
  if (A.told or '') ~= '' then
    local said = redis.pcall('SPUBLISH', A.told, tostring(seq))
    if type(said) == 'table' and said.err and not string.find(string.lower(said.err), 'unknown', 1, true) then
      return redis.error_reply(said.err)  -- (never silent: a worker would go on with the number before)
    end
  end
  return {'frozen', ''}
end
local wanted = cjson.decode(A.held)
local ok, held = pcall(cjson.decode, raw)
if (wanted.drill or '') == '' and ok and type(held) == 'table' and (held.drill or '') ~= '' and not held.stands then
  held.stands = wanted
  redis.call('HSET', K.frozen, A.scope, cjson.encode(held))
  return {'stands', raw}
end
return {'already', raw}
