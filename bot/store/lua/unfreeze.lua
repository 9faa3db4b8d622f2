--! keys: frozen asks spread changed
-- Unfreeze a scope, four eyes: the first admin's ask is kept (A.by, A.now); a second admin's confirms it and the
-- scope is unfrozen; the same admin again is refused. A.direct ('1': the operator's CLI) unfreezes at once.
-- An ask older than A.ask_ttl seconds counts for nothing (asked again). Returns {status, asked_by}: 'not_frozen',
-- 'asked' (kept: a second admin must confirm), 'same' (this admin asked already), 'ok' (unfrozen; asked_by: who
-- asked first, '' for the CLI). Unfrozen, the change is numbered (K.changed, of the reads' counter K.spread): a spread
-- is owed until a read after it reached every workspace (bot/store/freeze_copies.py).
local function lifted()
  redis.call('HDEL', K.frozen, A.scope)
  redis.call('HDEL', K.asks, A.scope)
  redis.call('SET', K.changed, redis.call('INCR', K.spread))
end
if redis.call('HEXISTS', K.frozen, A.scope) == 0 then
  redis.call('HDEL', K.asks, A.scope)
  return {'not_frozen', ''}
end
if A.direct == '1' then
  lifted()
  return {'ok', ''}
end
local raw = redis.call('HGET', K.asks, A.scope)
if raw then
  local asked = cjson.decode(raw)
  if tonumber(asked.at) + tonumber(A.ask_ttl) > tonumber(A.now) then
    if asked.by == A.by then return {'same', asked.by} end
    lifted()
    return {'ok', asked.by}
  end
end
redis.call('HSET', K.asks, A.scope, cjson.encode({by = A.by, at = A.now}))
return {'asked', A.by}
