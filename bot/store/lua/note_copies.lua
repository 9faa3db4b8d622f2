--! keys: approval outbox
-- Note the copies of an approval's card in direct messages. A: id, now, copies ({channel: ts}, ts ''
-- before the copy is posted: a click on it then notes it, lua/lib/decide.lua). A noted ts is never
-- replaced by ''. If the approval was decided meanwhile, its cards are due a redraw at once.
-- Returns the approval's status, or 'missing'.
local cur = redis.call('HMGET', K.approval, 'status', 'copies')
if not cur[1] then return 'missing' end
local noted, order = {}, {}
for entry in string.gmatch(cur[2] or '', '[^,]+') do
  local channel, ts = string.match(entry, '^([^/]*)/(.*)$')
  if channel then noted[channel] = ts; order[#order + 1] = channel end
end
for channel, ts in pairs(A.copies) do
  if noted[channel] == nil then order[#order + 1] = channel; noted[channel] = ts
  elseif ts ~= '' then noted[channel] = ts end
end
local copies = {}
for _, channel in ipairs(order) do copies[#copies + 1] = channel .. '/' .. noted[channel] end
redis.call('HSET', K.approval, 'copies', table.concat(copies, ','))
if cur[1] ~= 'pending' then redis.call('ZADD', K.outbox, A.now, A.id) end
return cur[1]
