--! keys: approval nudges audit audit_seq audit_shards outbox changes urgent
--! uses: fields audit
-- A nudger told an approval's steps up to A.told (their messages are posted): note it, audit each
-- reminder (A.entries), and schedule the next step (A.next_at; '' for none). If the approval was
-- decided meanwhile, nothing is noted: 'decided' (the caller removes what it just posted).
-- A service level's change told (A.sla_state: at_risk, breached; '' for none) is kept on the record, whose card
-- (and Homes) are due a redraw (the outbox), atomically with its one audit entry, and it joins the approvals the Home
-- lists first (K.urgent, by A.urgency: breached before at risk, then oldest).
-- A: id, told, next_at, entries (audit entries, one per step told), sla_state, urgency, now.
local status, nudged = unpack(redis.call('HMGET', K.approval, 'status', 'nudged'))
if status ~= 'pending' then
  redis.call('ZREM', K.nudges, A.id)
  return status and 'decided' or 'missing'
end
redis.call('HSET', K.approval, 'telling', '0')
if tonumber(A.told) > (tonumber(nudged) or 0) then
  redis.call('HSET', K.approval, 'nudged', A.told)
  for _, entry in ipairs(A.entries) do
    audit_append(K.audit, K.audit_seq, K.audit_shards, flat(entry))
  end
  if (A.sla_state or '') ~= '' then
    redis.call('HSET', K.approval, 'sla_state', A.sla_state, 'version', redis.call('INCR', K.changes))
    redis.call('ZADD', K.outbox, tonumber(A.now), A.id)  -- the card says so
    redis.call('ZADD', K.urgent, tonumber(A.urgency), A.id)
  end
end
if A.next_at ~= '' then redis.call('ZADD', K.nudges, A.next_at, A.id) else redis.call('ZREM', K.nudges, A.id) end
return 'ok'
