--! keys: rules uses audit
--! uses: fields sha256 audit
-- A rule approves one call: only if it is still there (not revoked) and not expired at A.now, count
-- the use and audit it (A.audit, an `auto_approved` entry) in the same step. Returns the rule's uses
-- so far, or 'gone' (revoked or expired meanwhile: a person is asked instead).
-- A: id, now, audit_minid, audit.
local raw = redis.call('HGET', K.rules, A.id)
if not raw then return 'gone' end
local rule = cjson.decode(raw)
if tonumber(rule.expires_at) <= tonumber(A.now) then
  redis.call('HDEL', K.rules, A.id)
  redis.call('HDEL', K.uses, A.id)
  return 'gone'
end
local uses = redis.call('HINCRBY', K.uses, A.id, 1)
local entry = A.audit
entry.rule_uses = tostring(uses)
audit_append(K.audit, A.audit_minid, flat(entry))
return uses
