--! keys: token passkeys
-- A step-up vote's link after its vote counted: the link is taken, and the passkey that confirmed it keeps its new
-- sign count (a replayed assertion of that passkey then shows an old count), in one step, only if the link is still
-- the one the caller verified against (`A.expected`) and the passkey is still registered. Returns 1 when taken, 0
-- when the link was gone or changed meanwhile.
-- A: expected, credential_id, record (the passkey's JSON with its new sign count).
if redis.call('GET', K.token) ~= A.expected then return 0 end
redis.call('DEL', K.token)
if redis.call('HEXISTS', K.passkeys, A.credential_id) == 1 then
  redis.call('HSET', K.passkeys, A.credential_id, A.record)
end
return 1
