--! keys: run user_runs channel_runs live run_approvals ledger
--! uses: final fence
-- Give a run its final status unless it has one: 'ok', else the status it had, 'fenced' or
-- 'missing'. The ended run, its approvals' index and its ledger are kept A.retention seconds.
-- A: fence {owner, epoch}, id, status, finished_at, reason, ended_by, retention.
local status = redis.call('HGET', K.run, 'status')
if not status then return 'missing' end
if final[status] then return status end
if fenced(K.run, A.fence) then return 'fenced' end
redis.call('HSET', K.run, 'status', A.status, 'finished_at', A.finished_at, 'reason', A.reason,
           'ended_by', A.ended_by)
redis.call('SREM', K.user_runs, A.id)
redis.call('SREM', K.channel_runs, A.id)
redis.call('SREM', K.live, A.id)
redis.call('EXPIRE', K.run, A.retention)
redis.call('EXPIRE', K.run_approvals, A.retention)
redis.call('EXPIRE', K.ledger, A.retention)
return 'ok'
