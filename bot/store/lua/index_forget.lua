--! keys: changes ...keys
--! uses: homes
-- Approvals a Home's page read from the indexes (lua/lib/homes.lua) that were decided or are gone: a
-- worker older than the indexes decided them (an upgrade under way), or they expired. A.ids; K.keys:
-- each one's approval key, in that order, then the index keys that page read. One decided leaves every
-- index (its hash says which); one gone leaves those the page read; one pending again is left alone.
-- Returns how many were taken out.
local P = waits_prefix(K.changes)
local count = 0
for i, id in ipairs(A.ids) do
  local status = redis.call('HGET', K.keys[i], 'status')
  if not status then
    for j = #A.ids + 1, #K.keys do redis.call('ZREM', K.keys[j], id) end
    count = count + 1
  elseif status ~= 'pending' then
    index_approval(P, K.keys[i], id, false)
    count = count + 1
  end
end
return count
