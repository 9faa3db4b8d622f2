--! keys: rules uses audit audit_seq audit_shards
--! uses: fields audit
-- Remove a rule (revoked, or its run ended): from this step on no worker finds it. Audited (A.audit,
-- with the uses it had). Returns the rule's stored JSON, or 'missing'.
-- A: id, audit.
local raw = redis.call('HGET', K.rules, A.id)
if not raw then return 'missing' end
local uses = redis.call('HGET', K.uses, A.id) or '0'
redis.call('HDEL', K.rules, A.id)
redis.call('HDEL', K.uses, A.id)
local entry = A.audit
entry.rule_uses = uses
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(entry))
return raw
