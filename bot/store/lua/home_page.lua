--! keys: anyone scratch scratch2 ...indexes
-- One page of what waits for a person, and how many in all, from the Home indexes (lua/lib/homes.lua),
-- without reading the backlog: the indexes are merged by request time (then id), and what a person may
-- not decide is skipped. A.paths: the ways an approval reaches this Home, the person's own first, then
-- one per person away who delegated to them: each {sources = the named and group indexes (positions in
-- K.indexes), except = the zsets whose members this path does not admit (positions)}. The anyone index
-- reaches every path; the caller puts the first path's one exclusion zset (the person's own) in every
-- other path's too, so what the anyone index gives is what the person's own exclusions leave of it.
-- A.first: approvals listed before the rest (breached, then at risk: bot/store/homes.py), each admitted as the merge
-- admits (and then left out of it). A.offset, A.count: the page. K.scratch, K.scratch2: counting space, deleted
-- before the step ends.
-- Returns {total, ids of the page}.
local own_except = K.indexes[A.paths[1].except[1]]
local want = tonumber(A.offset) + tonumber(A.count)
local chunk = math.min(math.max(want, 16), 500)

-- one stream per index, with the paths it serves (a group two people are in serves both)
local streams, by_key = {}, {}
local function stream(key)
  local s = by_key[key]
  if not s then
    s = {key = key, paths = {}, buf = {}, i = 1, pos = 0, done = false}
    by_key[key] = s
    streams[#streams + 1] = s
  end
  return s
end
stream(K.anyone).anyone = true
for p, path in ipairs(A.paths) do
  for _, i in ipairs(path.sources) do stream(K.indexes[i]).paths[p] = true end
end

local function head(s)  -- the stream's next (id, time), read a chunk at a time
  if s.i > #s.buf then
    if s.done then return nil end
    s.buf = redis.call('ZRANGE', s.key, s.pos, s.pos + chunk - 1, 'WITHSCORES')
    s.i, s.pos = 1, s.pos + chunk
    if #s.buf < 2 * chunk then s.done = true end
    if #s.buf == 0 then return nil end
  end
  return s.buf[s.i], tonumber(s.buf[s.i + 1])
end

-- an exclusion zset is read whole once when small (most are: a person's own requests and votes), else
-- asked member by member
local sets = {}
local function member(i, id)
  if sets[i] == nil then
    sets[i] = false
    if redis.call('ZCARD', K.indexes[i]) <= 256 then
      sets[i] = {}
      for _, m in ipairs(redis.call('ZRANGE', K.indexes[i], 0, -1)) do sets[i][m] = true end
    end
  end
  if sets[i] then return sets[i][id] == true end
  return redis.call('ZSCORE', K.indexes[i], id) ~= false
end

local function excluded(p, id)
  for _, i in ipairs(A.paths[p].except) do
    if member(i, id) then return true end
  end
  return false
end

local function admits(s, id)  -- whether the stream `s` lists `id` for this person: on a path that does not exclude it
  if s.anyone then return not excluded(1, id) end
  for p in pairs(s.paths) do
    if not excluded(p, id) then return true end
  end
  return false
end

local page, seen = {}, 0
local first = {}  -- the first ones this person may decide, listed before the merge (which skips them)
local function take(id)
  seen = seen + 1
  if seen > tonumber(A.offset) and seen <= want then page[#page + 1] = id end
end
for _, id in ipairs(A.first or {}) do
  if not first[id] then
    for _, s in ipairs(streams) do
      if redis.call('ZSCORE', s.key, id) and admits(s, id) then first[id] = true; take(id); break end
    end
  end
end
while seen < want do
  local best, best_at = nil, nil
  for _, s in ipairs(streams) do
    local id, at = head(s)
    if id and (best == nil or at < best_at or (at == best_at and id < best)) then best, best_at = id, at end
  end
  if best == nil then break end
  local admitted = false
  for _, s in ipairs(streams) do
    if head(s) == best then
      s.i = s.i + 2
      admitted = admitted or admits(s, best)
    end
  end
  if admitted and not first[best] then take(best) end
end

-- the total: the anyone index less the person's own exclusions, plus the named and group indexes'
-- union less each path's exclusions (one index alone is counted without copying it)
local function common(a, b)
  local n = redis.call('ZINTERSTORE', K.scratch, 2, a, b)
  redis.call('DEL', K.scratch)
  return n
end
local total = redis.call('ZCARD', K.anyone) - common(K.anyone, own_except)
local function present(path)
  local keys = {}
  for _, i in ipairs(path.sources) do
    if redis.call('EXISTS', K.indexes[i]) == 1 then keys[#keys + 1] = K.indexes[i] end
  end
  return keys
end
if #A.paths == 1 then
  local keys = present(A.paths[1])
  if #keys == 1 then
    total = total + redis.call('ZCARD', keys[1]) - common(keys[1], own_except)
  elseif #keys > 1 then
    redis.call('ZUNIONSTORE', K.scratch2, #keys, unpack(keys))
    total = total + redis.call('ZCARD', K.scratch2) - common(K.scratch2, own_except)
    redis.call('DEL', K.scratch2)
  end
else
  for _, path in ipairs(A.paths) do
    local keys = present(path)
    if #keys > 0 then
      redis.call('ZUNIONSTORE', K.scratch, #keys, unpack(keys))
      local except = {}
      for _, i in ipairs(path.except) do except[#except + 1] = K.indexes[i] end
      redis.call('ZDIFFSTORE', K.scratch, 1 + #except, K.scratch, unpack(except))
      redis.call('ZUNIONSTORE', K.scratch2, 2, K.scratch2, K.scratch)
    end
  end
  total = total + redis.call('ZCARD', K.scratch2)
  redis.call('DEL', K.scratch, K.scratch2)
end
return {total, page}
