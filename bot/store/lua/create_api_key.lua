--! keys: names record audit audit_seq audit_shards
--! uses: fields audit
-- Keep a new API key under its name, unless the name is taken: 'exists'. Audited (A.audit).
-- A: name, digest (sha256 of the key), fields (the record), audit.
if redis.call('HEXISTS', K.names, A.name) == 1 then return 'exists' end
redis.call('HSET', K.names, A.name, A.digest)
redis.call('HSET', K.record, unpack(flat(A.fields)))
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return 'ok'
