--! keys: ...keys
-- Sharded (bot/store/due.py): the worker-wide indexes of due work written from what a tenant's own index holds, in
-- the root's slot. A.ops: {n, member, at, how}: how 'lt' lowers member's entry in K.keys[n] to `at` (added when
-- absent), 'set' sets it, 'rem' removes it; A.held > 0: K.keys[A.held] set to A.member for A.ttl seconds.
for _, op in ipairs(A.ops) do
  local index = K.keys[op[1]]
  if op[4] == 'rem' then
    redis.call('ZREM', index, op[2])
  elseif op[4] == 'set' then
    redis.call('ZADD', index, op[3], op[2])
  else
    redis.call('ZADD', index, 'LT', op[3], op[2])
  end
end
if tonumber(A.held) > 0 then redis.call('SET', K.keys[tonumber(A.held)], A.member, 'EX', tonumber(A.ttl)) end
return 1
