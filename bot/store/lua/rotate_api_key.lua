--! keys: names record new_record audit audit_seq audit_shards
--! uses: fields audit
-- Replace the API key named A.name, if it is still the key with hash A.digest ('missing' otherwise), by a new one
-- (A.new_digest, its record A.fields: the same name and id, a new webhook secret, the old one's sealed beside it
-- until A.until). The old key works until A.until (its record's expires_at, rotated_at), then is refused saying it
-- was replaced; its record is kept A.keep seconds (the grace and a tombstone's time). Audited (A.audit).
-- A: name, digest, new_digest, now, until, keep, fields, audit.
if redis.call('HGET', K.names, A.name) ~= A.digest then return 'missing' end
redis.call('HSET', K.names, A.name, A.new_digest)
redis.call('HSET', K.new_record, unpack(flat(A.fields)))
redis.call('HSET', K.record, 'expires_at', A['until'], 'rotated_at', A.now)
redis.call('HDEL', K.record, 'previous_sealed', 'previous', 'previous_until')
redis.call('EXPIRE', K.record, A.keep)
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return 'ok'
