-- The Home indexes: what waits for whom, kept by the steps that open, vote on, decide (click, cancel,
-- timeout) and escalate an approval, so a Home reads its page without reading the backlog.
--
-- Each is a sorted set of pending approval ids scored by their request time (`created_at`; the same
-- time orders by id), named next to the `changes` key every such step holds ('{p}:changes' ->
-- '{p}:waits:...'; bot/store/keys.py names the same): their names depend on the approval's
-- approvers, read here (on Redis Cluster the prefix's hash tag keeps them in the step's slot).
--   waits:user:<user>     approvals naming this person among their approvers
--   waits:group:<group>   approvals naming this user group (S...)
--   waits:anyone          approvals anyone may decide (approvers '' or 'anyone'); disjoint from the above
--   waits:groups          set: the user groups with an approval pending (a Home checks their members)
--   waits:except:<user>   approvals this person may not decide whatever the approvers say: their own
--                         requests (without allow_self_approval) and those whose quorum counts them
--   waits:proxied:<user>  approvals where this person cast a vote for someone away (a delegate has
--                         no second vote, for themselves or anyone)
local function waits_prefix(changes_key)
  return string.sub(changes_key, 1, #changes_key - #'changes') .. 'waits:'
end

-- Add `id` to (add true) or remove it from (false) the indexes of the people and groups `approvers`
-- names ('' or 'anyone': the anyone index), scored `created`.
local function index_approvers(P, id, created, approvers, add)
  if approvers == '' or approvers == 'anyone' then
    if add then redis.call('ZADD', P .. 'anyone', created, id) else redis.call('ZREM', P .. 'anyone', id) end
    return
  end
  for who in string.gmatch(approvers, '[^,]+') do
    if who ~= 'anyone' then  -- (an old 'anyone' an escalation appended to: nobody has that id)
      if string.sub(who, 1, 1) == 'S' then
        local key = P .. 'group:' .. who
        if add then
          redis.call('ZADD', key, created, id)
          redis.call('SADD', P .. 'groups', who)
        else
          redis.call('ZREM', key, id)
          if redis.call('EXISTS', key) == 0 then redis.call('SREM', P .. 'groups', who) end
        end
      elseif add then
        redis.call('ZADD', P .. 'user:' .. who, created, id)
      else
        redis.call('ZREM', P .. 'user:' .. who, id)
      end
    end
  end
end

-- A pending approval into every index (add true: opened, or rebuilt) or out of them all (false:
-- decided), with its exclusions (its requester's, its voters', its delegates').
local function index_approval(P, approval_key, id, add)
  local f = redis.call('HMGET', approval_key, 'created_at', 'approvers', 'requester', 'allow_self_approval',
                       'votes', 'proxies')
  local created = f[1] or '0'
  index_approvers(P, id, created, f[2] or '', add)
  local function mark(key)
    if add then redis.call('ZADD', key, created, id) else redis.call('ZREM', key, id) end
  end
  if (f[3] or '') ~= '' and (f[4] ~= '1' or not add) then mark(P .. 'except:' .. f[3]) end
  for voter in string.gmatch(f[5] or '', '[^,]+') do mark(P .. 'except:' .. voter) end
  for pair in string.gmatch(f[6] or '', '[^,]+') do
    local actor = string.match(pair, ':(.*)$')
    if actor and actor ~= '' then mark(P .. 'proxied:' .. actor) end
  end
end

-- A quorum vote counted for `voter` (cast by `actor` for them, when a delegate; '' otherwise).
local function index_vote(P, approval_key, id, voter, actor)
  local created = redis.call('HGET', approval_key, 'created_at') or '0'
  redis.call('ZADD', P .. 'except:' .. voter, created, id)
  if actor ~= '' then redis.call('ZADD', P .. 'proxied:' .. actor, created, id) end
end
