--! keys: ...keys
-- The index of due work per tenant (bot/store/due.py): for each kind in A.kinds, the earliest due time of the
-- tenant's data of that kind (each of its `data` keys: {n, how}, K.keys[n]; how 'z': a sorted set's lowest score,
-- 'n': 0 while the key exists) put in an index, K.keys[kind.index], as kind.member: the kind's worker-wide index
-- and the tenant (one slot: one node, or the single tag), or sharded the tenant's own (`due_here`, its slot) and the
-- kind (bot/store/due.py then writes the worker-wide ones). Its exact: set as found (removed when nothing is due: a
-- loop that has just done the tenant's due work); else lowered only (`ZADD LT`: a write that may have added earlier
-- work, run after it, so the index is never later than the data). A.held > 0: K.keys[A.held] (which tenant holds
-- approval A.id) set to A.member for A.ttl seconds. Returns, for each kind, its entry now ('' when none).
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
local now = {}
for _, kind in ipairs(A.kinds) do
  local index, at = K.keys[kind.index], lowest(kind.data)
  if at == nil then
    if kind.exact then redis.call('ZREM', index, kind.member) end
  elseif kind.exact then
    redis.call('ZADD', index, at, kind.member)
  else
    redis.call('ZADD', index, 'LT', at, kind.member)
  end
  now[#now + 1] = redis.call('ZSCORE', index, kind.member) or ''
end
if tonumber(A.held) > 0 then redis.call('SET', K.keys[tonumber(A.held)], A.member, 'EX', tonumber(A.ttl)) end
return now
