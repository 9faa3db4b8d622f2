--! keys: seq rules uses channels audit audit_seq audit_shards
--! uses: fields audit
-- Keep a new rule under the next id ('R' .. n), unless its channel already has A.limit live rules
-- ('full'). Expired rules are dropped from the channel's hash on the way. Audited `rule_created`.
-- A: rule (its fields, strings, without id), channel, now, limit, audit (the entry).
local live = 0
local all = redis.call('HGETALL', K.rules)
for i = 1, #all, 2 do
  local rule = cjson.decode(all[i + 1])
  if tonumber(rule.expires_at) <= tonumber(A.now) then
    redis.call('HDEL', K.rules, all[i])
    redis.call('HDEL', K.uses, all[i])
  else
    live = live + 1
  end
end
if live >= tonumber(A.limit) then return 'full' end
local id = 'R' .. redis.call('INCR', K.seq)
local rule = A.rule
rule.id = id
redis.call('HSET', K.rules, id, cjson.encode(rule))
redis.call('SADD', K.channels, A.channel)
local entry = A.audit
entry.rule_id = id
audit_append(K.audit, K.audit_seq, K.audit_shards, flat(entry))
return id
