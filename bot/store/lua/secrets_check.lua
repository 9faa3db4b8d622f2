--! keys: check
-- The deployment's SECRETS_KEY check value (bot/store/secrets_check.py), written or resealed in one step whatever
-- starts beside it: A.sealed replaces the value only while it is still A.was ('' : none stored yet).
-- Returns the value stored after the step (A.sealed when it was written, else the one another worker wrote).
local stored = redis.call('GET', K.check)
if (stored or '') ~= A.was then return stored end
redis.call('SET', K.check, A.sealed)
return A.sealed
