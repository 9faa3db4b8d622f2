--! keys: approval outbox changes audit audit_seq audit_shards
--! uses: audit
-- What a step of an approval's route did (sent to whom, skipped, unavailable): kept on the approval (`reached`, a JSON
-- list, shown on every copy), its card (and Homes) due a redraw, audited (`reached`), in one step. An approval gone
-- (its retention ended) keeps nothing. A: id, item (a JSON object), entry (a flat list: field, value, ...), now.
if redis.call('EXISTS', K.approval) == 0 then return 'missing' end
local items = {}
local kept = redis.call('HGET', K.approval, 'reached')
if kept and kept ~= '' then
  local ok, found = pcall(cjson.decode, kept)
  if ok and type(found) == 'table' then items = found end
end
items[#items + 1] = cjson.decode(A.item)
redis.call('HSET', K.approval, 'reached', cjson.encode(items), 'version', redis.call('INCR', K.changes))
redis.call('ZADD', K.outbox, tonumber(A.now), A.id)
audit_append(K.audit, K.audit_seq, K.audit_shards, A.entry)
return 'ok'
