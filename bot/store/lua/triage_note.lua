--! keys: approval outbox
-- The triage model's reading of a pending approval (bot/approvals/triage.py, read off the ask's path where it may
-- not approve): its `triage` field set, and its card due a redraw (the outbox) in the same step, so no crash leaves a
-- reading no card shows. A: id, note, now. Returns 'ok', or 'missing' / 'decided' (nothing written: people decided
-- or it is gone, and a decided card never shows a reading it did not have).
local status = redis.call('HGET', K.approval, 'status')
if not status then return 'missing' end
if status ~= 'pending' then return 'decided' end
redis.call('HSET', K.approval, 'triage', A.note)
redis.call('ZADD', K.outbox, A.now, A.id)
return 'ok'
