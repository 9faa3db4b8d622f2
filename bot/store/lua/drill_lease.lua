--! keys: lease
-- The freeze drill's lease (bot/cli/drill.py): one drill at a time. A.op: 'take' (SET NX: {1, ''} when taken, else
-- {0, the running drill's record}), 'renew' (kept for A.ms more while A.drill holds it: {1, ''}, else {0, record})
-- or 'release' (deleted if A.drill holds it). A.held: the drill's record (JSON: drill, by, scope, at).
local raw = redis.call('GET', K.lease)
if A.op == 'take' then
  if raw then return {0, raw} end
  redis.call('SET', K.lease, A.held, 'PX', A.ms)
  return {1, ''}
end
local ok, held = pcall(cjson.decode, raw or '')
local ours = raw and ok and type(held) == 'table' and held.drill == A.drill
if A.op == 'renew' then
  if not ours then return {0, raw or ''} end
  redis.call('PEXPIRE', K.lease, A.ms)
  return {1, ''}
end
if ours then redis.call('DEL', K.lease) end
return {1, ''}
