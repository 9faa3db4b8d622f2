--! keys: outbox ...approvals
-- Take redrawn cards out of the outbox: each unless its approval changed since it was drawn.
-- K.approvals: each drawn approval's key; A.drawn: for each, {id, status, votes} as drawn.
local removed = 0
for i, drawn in ipairs(A.drawn) do
  local now = redis.call('HMGET', K.approvals[i], 'status', 'votes')
  if not now[1] or (now[1] == drawn.status and (now[2] or '') == drawn.votes) then
    removed = removed + redis.call('ZREM', K.outbox, drawn.id)
  end
end
return removed
