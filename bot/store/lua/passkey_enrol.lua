--! keys: token passkeys
-- A passkey registered through a one-time link: the link is taken and the passkey stored in one step, only if the
-- link is still the one the caller verified against (`A.expected`, its JSON as read): a link works once, even when
-- two requests finish it at once. Returns 1 when stored, 0 when the link is gone or changed (used, expired).
-- A: expected, credential_id, record.
if redis.call('GET', K.token) ~= A.expected then return 0 end
redis.call('DEL', K.token)
redis.call('HSET', K.passkeys, A.credential_id, A.record)
return 1
