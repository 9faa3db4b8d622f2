--! keys: webhooks webhook_tries audit audit_seq audit_shards
--! uses: audit
-- A webhook delivered (or given up): off the queue, its tries forgotten, and audited (`webhook_delivered`,
-- `webhook_failed`) in the same step, so no worker that dies in between leaves one done but unaudited.
-- A: id, entry (a flat list: field, value, ...).
redis.call('ZREM', K.webhooks, A.id)
redis.call('HDEL', K.webhook_tries, A.id)
audit_append(K.audit, K.audit_seq, K.audit_shards, A.entry)
return 1
