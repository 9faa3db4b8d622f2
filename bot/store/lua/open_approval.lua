--! keys: approval texts deadlines run_approvals checkpoint audit run changes nudges waiting
--! uses: fence fields homes
-- Store a new pending approval, if the writer still owns its run (fenced), and list it in the Home
-- indexes of who may decide it (lua/lib/homes.lua). A retry of a call whose answer was lost finds it
-- there ('exists').
-- A: fence {owner, epoch}, id, deadline ('0': it never times out), fields (its hash), texts (packed
--    JSON), checkpoint (packed team state, or ''), retention (the checkpoint's lifetime), audit_minid,
--    audit (the entry), nudge_at (its first reminder or escalation; '' for none), waiting ({score,
--    member} in the index of pending approvals).
if fenced(K.run, A.fence) then return 'fenced' end
if redis.call('EXISTS', K.approval) == 1 then return 'exists' end
redis.call('HSET', K.approval, unpack(flat(A.fields)))
redis.call('HSET', K.approval, 'version', redis.call('INCR', K.changes))
redis.call('SET', K.texts, A.texts)
if tonumber(A.deadline) > 0 then redis.call('ZADD', K.deadlines, A.deadline, A.id) end
if A.nudge_at ~= '' then redis.call('ZADD', K.nudges, A.nudge_at, A.id) end
redis.call('ZADD', K.waiting, A.waiting[1], A.waiting[2])
redis.call('SADD', K.run_approvals, A.id)
index_approval(waits_prefix(K.changes), K.approval, A.id, true)
if A.checkpoint ~= '' then redis.call('SET', K.checkpoint, A.checkpoint, 'EX', A.retention) end
redis.call('XADD', K.audit, 'MINID', '~', A.audit_minid, '*', unpack(flat(A.audit)))
return 'ok'
