--! keys: person due audit audit_seq audit_shards
--! uses: fields audit
-- A person's attestation to A.scope: kept until A.until (their reminder due at A.remind, member A.member of the
-- reminders), or, with A.until '', revoked ('none' when they held none). Audited (A.audit) in the same step.
-- A: scope, until, remind, member, audit.
if A['until'] == '' then
  if redis.call('HDEL', K.person, A.scope) == 0 then
    redis.call('ZREM', K.due, A.member)
    return 'none'
  end
  redis.call('ZREM', K.due, A.member)
else
  redis.call('HSET', K.person, A.scope, A['until'])
  redis.call('ZADD', K.due, tonumber(A.remind), A.member)
end
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return 'ok'
