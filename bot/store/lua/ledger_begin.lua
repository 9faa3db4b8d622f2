--! keys: run ledger
--! uses: fence
-- The side-effect ledger: a tool call or code run is about to run (fenced: only the run's owner).
-- A: fence {owner, epoch}, name (kind:tool:digest), entry (JSON).
if fenced(K.run, A.fence) then return 'fenced' end
redis.call('HSET', K.ledger, A.name, A.entry)
return 'ok'
