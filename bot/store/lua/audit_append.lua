--! keys: audit audit_seq audit_shards
--! uses: audit
-- Audit entries (`AuditLog.append`), each numbered in turn (lua/lib/audit.lua): one entry alone, or the
-- entries a worker's appenders queued while its last call was under way (one call, numbered in order).
-- A: entries (a list of flat lists: field, value, ...). Returns {{seq, stream id}, ...}, in order.
local written = {}
for i = 1, #A.entries do
  local seq, id = audit_append(K.audit, K.audit_seq, K.audit_shards, A.entries[i])
  written[i] = {seq, id}
end
return written
