--! keys: approval
-- A person opened a pending approval's details (its page, the full diff, a modal): noted once, the first time
-- (`opened:<person>`, lua/lib/oversight.lua). A: by, now. Returns 'ok', 'seen' (noted before), 'decided' or
-- 'missing'.
local status = redis.call('HGET', K.approval, 'status')
if not status then return 'missing' end
if status ~= 'pending' then return 'decided' end
if redis.call('HSETNX', K.approval, 'opened:' .. A.by, A.now) == 0 then return 'seen' end
return 'ok'
