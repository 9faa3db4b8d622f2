--! keys: approval
-- A nudger is about to tell an approval's step A.ordinal (its A.ordinal-th step since it opened) in Slack: the other
-- surfaces are told it first, once, whatever Slack answers. 'ok': this nudger publishes it (noted now in the field
-- `published`, so a retry of the Slack post, on any worker, never publishes it again); 'already': published
-- before; 'decided' / 'missing': nothing to tell. A: ordinal.
local status, published = unpack(redis.call('HMGET', K.approval, 'status', 'published'))
if status ~= 'pending' then return status and 'decided' or 'missing' end
if (tonumber(published) or 0) >= tonumber(A.ordinal) then return 'already' end
redis.call('HSET', K.approval, 'published', A.ordinal)
return 'ok'
