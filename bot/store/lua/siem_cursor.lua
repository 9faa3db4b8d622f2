--! keys: lease cursor
-- The SIEM stream's cursor (bot/audit/siem/streamer.py) moved to the last entry the receiver accepted: only by the
-- worker holding the stream's lease (a worker that lost it, paused or cut off, never moves it), and only forward (a
-- stale holder's batch never takes it back). A: worker, seq, id, at. Returns 1 when moved, else 0.
if redis.call('GET', K.lease) ~= A.worker then return 0 end
local was = tonumber(redis.call('HGET', K.cursor, 'seq') or '-1')
if tonumber(A.seq) < was or redis.call('HGET', K.cursor, 'id') == A.id then return 0 end
redis.call('HSET', K.cursor, 'seq', A.seq, 'id', A.id, 'at', A.at)
return 1
