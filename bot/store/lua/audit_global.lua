--! keys: global
-- A signed global checkpoint over every audit chain's head (bot/audit/chains.py signs it), kept only if the newest
-- one is still A.after (its stream id, '' for none), so of two writers one wins; those older than A.keep_from (ms)
-- go, never the one just written. A: after, keep_from, fields (a flat list, field, value, ...).
-- Returns the new one's stream id, or 'stale'.
local last = redis.call('XREVRANGE', K.global, '+', '-', 'COUNT', 1)
if (last[1] and last[1][1] or '') ~= A.after then return 'stale' end
local id = redis.call('XADD', K.global, '*', unpack(A.fields))
redis.call('XTRIM', K.global, 'MINID', A.keep_from .. '-0')
return id
