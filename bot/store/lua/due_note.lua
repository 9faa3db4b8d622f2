--! keys: ...keys
-- The index of due work per tenant (bot/store/due.py): for each kind in A.kinds, the earliest due time of the
-- tenant's data of that kind (each of its `data` keys: {n, how}, K.keys[n]; how 'z': a sorted set's lowest score,
-- 'n': 0 while the key exists) put in an index, K.keys[kind.index], as kind.member: the kind's worker-wide index
-- and the tenant (one slot: one node, or the single tag), or sharded the tenant's own (`due_here`, its slot; A.one:
-- its position, every kind's index) and the kind (bot/store/due.py then writes the worker-wide ones). Its exact: set
-- as found (removed when nothing is due: a loop that has just done the tenant's due work); else lowered only (a
-- write that may have added earlier work, run after it, so the index is never later than the data). A.held > 0:
-- K.keys[A.held] (which tenant holds approval A.id) set to A.member for A.ttl seconds. Returns, for each kind, what
-- the worker-wide index must be told: an exact kind its entry now ('' when none), another its new entry when this
-- step lowered it ('' when it stood: a note that adds no earlier work writes nothing more). Scores are returned as
-- Redis wrote them (a Lua number would lose digits).
local function lowest(data)
  local best, said = nil, nil
  for _, d in ipairs(data) do
    local key, at, raw = K.keys[d[1]], nil, nil
    if d[2] == 'n' then
      if redis.call('EXISTS', key) == 1 then at, raw = 0, '0' end
    else
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if first[2] then at, raw = tonumber(first[2]), first[2] end
    end
    if at ~= nil and (best == nil or at < best) then best, said = at, raw end
  end
  return best, said
end
local now = {}
local one = tonumber(A.one or '0') or 0
if one > 0 then
  -- sharded: one index (the tenant's own), a member a kind: read once, written once
  local index, members = K.keys[one], {}
  for i, kind in ipairs(A.kinds) do members[i] = kind.member end
  local was = redis.call('ZMSCORE', index, unpack(members))
  local put, drop = {}, {}
  for i, kind in ipairs(A.kinds) do
    local at, raw = lowest(kind.data)
    local old = was[i] and tonumber(was[i]) or nil
    now[i] = ''
    if at == nil then
      if kind.exact and old ~= nil then drop[#drop + 1] = kind.member end
    elseif kind.exact or old == nil or at < old then
      if old ~= at then put[#put + 1] = raw; put[#put + 1] = kind.member end
      now[i] = raw
    end
  end
  if #put > 0 then redis.call('ZADD', index, unpack(put)) end
  if #drop > 0 then redis.call('ZREM', index, unpack(drop)) end
else
  for i, kind in ipairs(A.kinds) do
    local index, at, raw = K.keys[kind.index], lowest(kind.data)
    now[i] = ''
    if at == nil then
      if kind.exact then redis.call('ZREM', index, kind.member) end
    elseif kind.exact then
      redis.call('ZADD', index, raw, kind.member)
      now[i] = raw
    elseif redis.call('ZADD', index, 'LT', 'CH', raw, kind.member) == 1 then
      now[i] = raw
    end
  end
end
if tonumber(A.held) > 0 then redis.call('SET', K.keys[tonumber(A.held)], A.member, 'EX', tonumber(A.ttl)) end
return now
