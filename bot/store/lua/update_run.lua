--! keys: run
--! uses: final fence fields
-- Update a run's fields; a final status is never overwritten (a cancel may land at any time).
-- Returns 'ok', 'final' (it has ended: its status is kept), 'fenced' (nothing written) or 'missing'.
-- A: fence {owner, epoch}, fields.
local status = redis.call('HGET', K.run, 'status')
if not status then return 'missing' end
if fenced(K.run, A.fence) then return 'fenced' end
if final[status] then A.fields.status = nil end
local args = flat(A.fields)
if #args > 0 then redis.call('HSET', K.run, unpack(args)) end
if final[status] then return 'final' end
return 'ok'
