--! keys: changes ...approvals
--! uses: homes
-- The Home indexes (lua/lib/homes.lua) of approvals opened before they existed: each of A.ids still
-- pending (K.approvals: their approval keys, in that order) is listed as opening it would have. Safe to
-- run again and beside any step (each approval is indexed or not, atomically, and decided ones are
-- left). Returns how many were indexed.
local P = waits_prefix(K.changes)
local count = 0
for i, id in ipairs(A.ids) do
  if redis.call('HGET', K.approvals[i], 'status') == 'pending' then
    index_approval(P, K.approvals[i], id, true)
    count = count + 1
  end
end
return count
