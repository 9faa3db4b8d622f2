--! keys: names record audit audit_seq audit_shards
--! uses: fields audit
-- Name A.sponsor the sponsor of the key named A.name while its name still names A.digest (not revoked, not rotated
-- meanwhile): 'missing' otherwise. Audited (A.audit, `key_sponsor`) only when it changes: 'same' when it was so.
-- A: name, digest, sponsor, audit.
if redis.call('HGET', K.names, A.name) ~= A.digest or redis.call('HEXISTS', K.record, 'revoked_at') == 1 then
  return 'missing'
end
if (redis.call('HGET', K.record, 'sponsor') or '') == A.sponsor then return 'same' end
redis.call('HSET', K.record, 'sponsor', A.sponsor)
redis.call('HDEL', K.record, 'sponsor_left_at')
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return 'ok'
