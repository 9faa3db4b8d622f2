-- The frozen scope (bot/store/freezes.py) an approval is in, or nil: `all`, its origin channel's, its API key's or
-- its agent team's. `frozen`: the frozen scopes' hash; `approval`: the approval's hash (both declared keys).
local function frozen_in(frozen, approval)
  local got = redis.call('HMGET', approval, 'origin_channel', 'asked_by', 'agent')
  local scopes = {'all'}
  if (got[1] or '') ~= '' then scopes[#scopes + 1] = 'channel:' .. got[1] end
  if (got[2] or '') ~= '' then scopes[#scopes + 1] = 'key:' .. got[2] end
  if (got[3] or '') ~= '' then scopes[#scopes + 1] = 'agent:' .. got[3] end
  for _, scope in ipairs(scopes) do
    if redis.call('HEXISTS', frozen, scope) == 1 then return scope end
  end
  return nil
end

-- Sharded: whether this workspace's copy of the freeze (its number: `seq`, a declared key) is older than the last
-- freeze (`at`: its number, read by the worker on the root's slot; '' or nil: not checked), so not spread here yet
-- (bot/store/freeze_copies.py): an approval is then not used (fails closed, 'unspread'; tried again once spread).
local function frozen_unspread(seq, at)
  if (at or '') == '' or not seq then return false end
  return (tonumber(redis.call('GET', seq) or '0') or 0) < (tonumber(at) or math.huge)
end
