--! keys: approval texts votes deadlines nudges waiting outbox audit audit_seq audit_shards refused changes recent webhooks
--! uses: stored homes audit windows decide
-- One decision or vote (a click, a modal, a cancel), through the decide step.
return decide(K, A)
