--! keys: copy seq
-- A workspace's copy of the frozen scopes (sharded, bot/store/freeze_copies.py), in its slot, replaced whole by the
-- read numbered A.seq (lua/freeze_read.lua) unless a later read's is there already (copies written in any order end
-- as the latest read). A.scopes: a flat list of scope, record. Returns 1 (replaced) or 0 (a later one stands).
if (tonumber(redis.call('GET', K.seq) or '0') or 0) >= tonumber(A.seq) then return 0 end
redis.call('DEL', K.copy)
if #A.scopes > 0 then redis.call('HSET', K.copy, unpack(A.scopes)) end
redis.call('SET', K.seq, A.seq)
return 1
