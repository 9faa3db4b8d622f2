--! keys: frozen asks spread changed
-- A freeze drill's hold of A.scope ends (bot/cli/drill.py): only the hold of drill A.drill. Returns {status, by}:
-- 'lifted' (the drill alone held it: unfrozen), 'stands' (a real freeze was recorded while the drill held it: the
-- scope stays frozen, its record now that freeze's, by: who froze it) or 'not_ours' (not held by this drill: nothing
-- changed). An unfreeze asked meanwhile (four eyes) is dropped either way: it asked about the drill's hold. Lifted,
-- the change is numbered as an unfreeze's (K.changed, lua/unfreeze.lua).
local raw = redis.call('HGET', K.frozen, A.scope)
if not raw then return {'not_ours', ''} end
local ok, held = pcall(cjson.decode, raw)
if not ok or type(held) ~= 'table' or held.drill ~= A.drill then return {'not_ours', ''} end
redis.call('HDEL', K.asks, A.scope)
if type(held.stands) == 'table' then
  redis.call('HSET', K.frozen, A.scope, cjson.encode(held.stands))
  return {'stands', tostring(held.stands.by or '')}
end
redis.call('HDEL', K.frozen, A.scope)
redis.call('SET', K.changed, redis.call('INCR', K.spread))
return {'lifted', ''}
