--! keys: record audit audit_seq audit_shards
--! uses: fields audit
-- Note once that the sponsor A.sponsor of a key has left (deactivated): while the record still names them and has not
-- noted it, `sponsor_left_at` = A.now and the audit entry A.audit (`sponsor_left`); 'ok', else 'noted' (said before:
-- Slack's retried events, two workers) or 'other' (the key names another sponsor now, or is gone).
-- A: sponsor, now, audit.
if redis.call('EXISTS', K.record) == 0 or redis.call('HEXISTS', K.record, 'revoked_at') == 1
   or (redis.call('HGET', K.record, 'sponsor') or '') ~= A.sponsor then
  return 'other'
end
if redis.call('HEXISTS', K.record, 'sponsor_left_at') == 1 then return 'noted' end
redis.call('HSET', K.record, 'sponsor_left_at', A.now)
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return 'ok'
