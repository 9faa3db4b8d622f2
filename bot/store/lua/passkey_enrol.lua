--! keys: token passkeys
-- A passkey registered through a one-time link: the link is taken and the passkey stored in one step, only if the
-- link is still the one the caller verified against (`A.expected`, its JSON as read): a link works once, even when
-- two requests finish it at once. The person's passkeys are counted here, in the same step, so that concurrent
-- enrolments cannot all pass a check made before: at most `A.most`, and once they have one, another only through a
-- link one of theirs confirmed (its `vouched`). Returns 1 when stored; 0 when the link is gone or changed (used,
-- expired); -1 when the person has `A.most` passkeys already; -2 when they have one and the link is not confirmed
-- (nothing changed in these three).
-- A: expected, credential_id, record, most.
local current = redis.call('GET', K.token)
if current ~= A.expected then return 0 end
local held = redis.call('HLEN', K.passkeys)
if held >= A.most then return -1 end
local vouched = cjson.decode(current).vouched
if held > 0 and (type(vouched) ~= 'string' or vouched == '') then return -2 end
redis.call('DEL', K.token)
redis.call('HSET', K.passkeys, A.credential_id, A.record)
return 1
