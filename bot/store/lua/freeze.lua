--! keys: frozen spread at changed
-- Freeze a scope (bot/store/freezes.py): A.scope, A.held (the freeze's JSON: reason, by, at; a drill's hold also
-- drill, until). Returns {status, the record found}: 'frozen' (frozen now, by this one); 'stands' (a freeze drill
-- holds it: this real freeze is recorded in the drill's record, `stands`, and the drill's end leaves it frozen, as
-- this freeze, lua/drill_end.lua); 'already' (frozen already, or a real freeze recorded during the drill already:
-- nothing changed). A scope frozen now is numbered (the reads' counter K.spread, lua/freeze_read.lua): K.at and
-- K.changed, so a workspace's copy read before it refuses Approves (lua/lib/decide.lua, bot/store/freeze_copies.py).
local raw = redis.call('HGET', K.frozen, A.scope)
if not raw then
  redis.call('HSET', K.frozen, A.scope, A.held)
  local seq = redis.call('INCR', K.spread)
  redis.call('SET', K.at, seq)
  redis.call('SET', K.changed, seq)
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
