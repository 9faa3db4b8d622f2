--! keys: record
-- Seal the webhook secret a version before this one kept in the clear: while the record still holds A.clear in
-- `webhook_secret` (not revoked, not rotated meanwhile), it holds A.sealed in `webhook_sealed` instead, and A.mark (no
-- secret: what the version before then reads) in `webhook_secret`. 1 when sealed, else 0.
-- A: clear, sealed, mark.
if redis.call('HGET', K.record, 'webhook_secret') ~= A.clear or redis.call('HEXISTS', K.record, 'revoked_at') == 1 then
  return 0
end
redis.call('HSET', K.record, 'webhook_sealed', A.sealed)
redis.call('HSET', K.record, 'webhook_secret', A.mark)
return 1
