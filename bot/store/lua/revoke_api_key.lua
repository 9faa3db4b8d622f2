--! keys: names record audit audit_seq audit_shards
--! uses: fields audit
-- Revoke the API key named A.name, if it is still the key with hash A.digest: 'missing' otherwise.
-- From this step on, a request with the key finds no record. Audited (A.audit).
if redis.call('HGET', K.names, A.name) ~= A.digest then return 'missing' end
redis.call('HDEL', K.names, A.name)
redis.call('DEL', K.record)
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(A.audit))
return 'ok'
