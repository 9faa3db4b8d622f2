--! keys: held ...keys
-- The index of due work per tenant (bot/store/due.py): for each kind in A.kinds, the earliest due time of the
-- tenant's data of that kind (each of its `data` keys: {n, how}, K.keys[n]; how 'z': a sorted set's lowest score,
-- 'n': 0 while the key exists) put in the kind's worker-wide index, K.keys[index], as member A.member. Its exact:
-- set as found (removed when nothing is due: a loop that has just done the tenant's due work); else lowered only
-- (`ZADD LT`: a write that may have added earlier work, run after it, so the index is never later than the data).
-- A.ttl > 0: `held` (which tenant holds approval A.id) set to A.member for that long.
local function lowest(data)
  local best = nil
  for _, d in ipairs(data) do
    local key, at = K.keys[d[1]], nil
    if d[2] == 'n' then
      if redis.call('EXISTS', key) == 1 then at = 0 end
    else
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if first[2] then at = tonumber(first[2]) end
    end
    if at ~= nil and (best == nil or at < best) then best = at end
  end
  return best
end
for _, kind in ipairs(A.kinds) do
  local index, at = K.keys[kind.index], lowest(kind.data)
  if at == nil then
    if kind.exact then redis.call('ZREM', index, A.member) end
  elseif kind.exact then
    redis.call('ZADD', index, at, A.member)
  else
    redis.call('ZADD', index, 'LT', at, A.member)
  end
end
if tonumber(A.ttl) > 0 then redis.call('SET', K.held, A.member, 'EX', tonumber(A.ttl)) end
return 1
