--! keys: approval ...due
-- A nudger is about to tell an approval's step A.ordinal (its A.ordinal-th step since it opened) in Slack: the other
-- surfaces are told it first, once, whatever Slack answers. 'ok': this nudger publishes it (noted now in the field
-- `published`, so a retry of the Slack post, on any worker, never publishes it again); 'already': published
-- before; 'decided' / 'missing': nothing to tell. K.due: the due sets of the surfaces that tell a published step
-- (the store names them, bot/store/nudges.py): the approval is due in each at A.now (unless due sooner) in this
-- same step as the mark, so a worker killed between the mark and a surface's send loses nothing: that surface's
-- own due work finds the step published and tells it (once: its own claims). A: id, ordinal, now.
local status, published = unpack(redis.call('HMGET', K.approval, 'status', 'published'))
if status ~= 'pending' then return status and 'decided' or 'missing' end
if (tonumber(published) or 0) >= tonumber(A.ordinal) then return 'already' end
redis.call('HSET', K.approval, 'published', A.ordinal)
for _, key in ipairs(K.due) do
  local at = redis.call('ZSCORE', key, A.id)
  if not at or tonumber(at) > tonumber(A.now) then redis.call('ZADD', key, A.now, A.id) end
end
return 'ok'
