--! keys: refusal due audit audit_seq audit_shards
--! uses: audit refusals
-- One refused attempt (lua/lib/refusals.lua): A.entry written now when it is the first of its quiet window of
-- A.window seconds (returns 1), else counted for the window's summarising entry (returns 0).
return refusal_noted(K.refusal, K.due, {K.audit, K.audit_seq, K.audit_shards}, A.entry, A.now, A.window) and 1 or 0
