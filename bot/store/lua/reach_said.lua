--! keys: approval due outbox changes audit audit_seq audit_shards
--! uses: audit
-- A step of an approval's route reached (bot/approvals/reach.py: its surface called first), noted taken in one step
-- with what it did: only while the approval waits ('decided' / 'missing': off the due set, nothing kept), only once
-- ('already': noted before, by a worker whose lease ran out while it sent: the surfaces' own claims sent it once),
-- `reach_done` set to A.step, the next step due at A.next_at ('': none left: off the due set), what it did (sent to
-- whom, skipped, unavailable) kept on the approval (`reached`, a JSON list, shown on every copy), its card (and
-- Homes) due a redraw, audited (`reached`). A worker killed before this step leaves the step to be taken again after
-- its claim's lease. A: id, step, next_at, item (a JSON object), entry (a flat list: field, value, ...), now.
local status, done = unpack(redis.call('HMGET', K.approval, 'status', 'reach_done'))
if status ~= 'pending' then
  redis.call('ZREM', K.due, A.id)
  return status and 'decided' or 'missing'
end
if (tonumber(done) or 0) >= tonumber(A.step) then return 'already' end
if A.next_at == '' then redis.call('ZREM', K.due, A.id) else redis.call('ZADD', K.due, tonumber(A.next_at), A.id) end
local items = {}
local kept = redis.call('HGET', K.approval, 'reached')
if kept and kept ~= '' then
  local ok, found = pcall(cjson.decode, kept)
  if ok and type(found) == 'table' then items = found end
end
items[#items + 1] = cjson.decode(A.item)
redis.call('HSET', K.approval, 'reach_done', A.step, 'reached', cjson.encode(items), 'version',
  redis.call('INCR', K.changes))
redis.call('ZADD', K.outbox, tonumber(A.now), A.id)
audit_append(K.audit, K.audit_seq, K.audit_shards, A.entry)
return 'ok'
