--! keys: audit audit_seq
--! uses: audit
-- One audit entry (`AuditLog.append`), numbered (lua/lib/audit.lua). Returns {seq, stream id}.
-- A: entry (a flat list: field, value, ...).
local seq, id = audit_append(K.audit, K.audit_seq, A.entry)
return {seq, id}
