--! keys: approval outbox
-- A triage model's approval held (TRIAGE_HOLD, bot/approvals/triage.py): the pending approval's `triage` note says so
-- and `triage_hold` when it is final, its card due a redraw (with its Reverse button) in the same step. A: id, note,
-- final_at, now. Returns 'ok', or 'missing' / 'decided' / 'reversed' (nothing written).
local status = redis.call('HGET', K.approval, 'status')
if not status then return 'missing' end
if status ~= 'pending' then return 'decided' end
if (redis.call('HGET', K.approval, 'triage_reversed') or '') ~= '' then return 'reversed' end
redis.call('HSET', K.approval, 'triage', A.note, 'triage_hold', A.final_at)
redis.call('ZADD', K.outbox, A.now, A.id)
return 'ok'
