--! keys: run user_runs channel_runs live run_approvals ledger rules rule_uses audit audit_seq audit_shards
--! uses: final fence audit
-- Give a run its final status unless it has one: 'ok', else the status it had, 'fenced' or
-- 'missing'. The ended run, its approvals' index and its ledger are kept A.retention seconds. Its
-- "always allow" rules (scope run, in its channel's rules) end with it; each is returned after 'ok'.
-- The `run_finished` entry and each rule's `rule_ended` are audited in this same step: a Redis gone
-- right after it cannot leave an ended run unaudited.
-- A: fence {owner, epoch}, id, status, finished_at, reason, audit_reason (the reason as audited: cut), ended_by,
-- retention, channel (its origin).
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
audit_append(K.audit, K.audit_seq, K.audit_shards, {'event', 'run_finished', 'at', A.finished_at, 'run', A.id,
                                     'outcome', A.status, 'reason', A.audit_reason, 'by', A.ended_by,
                                     'origin_channel', A.channel})
local ended = {'ok'}
local rules = redis.call('HGETALL', K.rules)
for i = 1, #rules, 2 do
  local ok, rule = pcall(cjson.decode, rules[i + 1])
  if ok and type(rule) == 'table' and rule.scope == 'run' and rule.run == A.id then
    ended[#ended + 1] = rules[i]
    ended[#ended + 1] = redis.call('HGET', K.rule_uses, rules[i]) or '0'
    redis.call('HDEL', K.rules, rules[i])
    redis.call('HDEL', K.rule_uses, rules[i])
    audit_append(K.audit, K.audit_seq, K.audit_shards, {'event', 'rule_ended', 'at', A.finished_at, 'rule_id', rules[i],
                                         'rule_uses', ended[#ended], 'by', 'system', 'run', A.id,
                                         'origin_channel', A.channel, 'reason', 'run ' .. A.id .. ' ended'})
  end
end
return ended
