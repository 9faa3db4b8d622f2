--! keys: audit
--! uses: sha256 audit
-- One audit entry (`AuditLog.append`), chained (lua/lib/audit.lua). Returns {seq, stream id}.
-- A: entry (a flat list: field, value, ...), minid (audit trimming).
local seq, id = audit_append(K.audit, A.minid, A.entry)
return {seq, id}
