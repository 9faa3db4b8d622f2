--! keys: format
-- The Redis-wide stored format (bot/store/stored_format.py), checked and kept by each worker at its start, in one
-- step whatever starts beside it: none stored is format 1 (every Redis from before the key); an older one is
-- upgraded in place to A.known (the caller has done what its upgrade needs first); a newer one is left as it is.
-- Returns {'ok' | 'upgraded' | 'newer', the format stored before (as a string)}.
local stored = redis.call('HGET', K.format, 'format')
local was = tonumber(stored or '1') or 1
local known = tonumber(A.known)
if was > known then return {'newer', tostring(was)} end
if was == known and stored then return {'ok', tostring(was)} end
redis.call('HSET', K.format, 'format', tostring(known), 'by', A.version, 'at', A.now)
if was == known then return {'ok', tostring(was)} end
return {'upgraded', tostring(was)}
