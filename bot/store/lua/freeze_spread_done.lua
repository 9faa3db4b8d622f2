--! keys: done
-- A read of the frozen scopes (A.seq, lua/freeze_read.lua) was copied into every known workspace
-- (bot/store/freeze_copies.py): K.done keeps the latest such read, never lowered (spreads end in any order).
if (tonumber(redis.call('GET', K.done) or '0') or 0) < tonumber(A.seq) then redis.call('SET', K.done, A.seq) end
return 1
