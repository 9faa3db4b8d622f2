--! keys: approval outbox audit audit_seq audit_shards
--! uses: fields audit
-- A channel admin reverses a triage model's held approval (bot/approvals/triage.py): `triage_reversed` names them (the
-- decide step then refuses the model's decision: lua/lib/decide.lua), its `triage` note says so, its card is due a
-- redraw, and the reversal is audited (`triage_reversed`, by the admin), all in one step. A: id, by, note, now, audit
-- (the entry). Returns 'ok', or 'missing' / 'decided' / 'not_held' / 'reversed' (nothing written).
local status = redis.call('HGET', K.approval, 'status')
if not status then return 'missing' end
if status ~= 'pending' then return 'decided' end
if (redis.call('HGET', K.approval, 'triage_reversed') or '') ~= '' then return 'reversed' end
if (redis.call('HGET', K.approval, 'triage_hold') or '') == '' then return 'not_held' end
redis.call('HSET', K.approval, 'triage_reversed', A.by, 'triage', A.note)
redis.call('ZADD', K.outbox, A.now, A.id)
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return 'ok'
