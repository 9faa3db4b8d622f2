--! keys: link
-- Take a Review-and-decide link for one decision, in one step, so that two POSTs (two tabs, a replay) never both
-- decide with it: the link must be the one made for A.person and A.approval, not expired at A.now, not taken.
-- A: person, approval, now. Returns 'taken', or the refusal: 'unknown', 'wrong_approval', 'wrong_person',
-- 'expired', 'used'. (The caller checked the link's mac against this record first.)
local rec = redis.call('HMGET', K.link, 'person', 'approval', 'expires', 'taken')
if not rec[1] then return 'unknown' end
if rec[2] ~= A.approval then return 'wrong_approval' end
if rec[1] ~= A.person then return 'wrong_person' end
if tonumber(rec[3]) <= tonumber(A.now) then return 'expired' end
if rec[4] == '1' then return 'used' end
redis.call('HSET', K.link, 'taken', '1')
return 'taken'
