--! keys: approval
-- Note that a person saw an approval's hidden values (the reveal page): A: user. The approval's
-- `revealed_by` lists each person once, in the order they first looked. Returns 'ok', or 'missing'.
local status = redis.call('HGET', K.approval, 'status')
if not status then return 'missing' end
local seen = redis.call('HGET', K.approval, 'revealed_by') or ''
for who in string.gmatch(seen, '[^,]+') do
  if who == A.user then return 'ok' end
end
redis.call('HSET', K.approval, 'revealed_by', seen == '' and A.user or (seen .. ',' .. A.user))
return 'ok'
