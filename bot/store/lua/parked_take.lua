--! keys: due
-- The weekly digest of parked approvals (issue 90) taken by one worker: due by A.now? then due again at A.next, in
-- this same step, so two workers never both take one week's (1: this one sends it; 0: not due, or taken).
-- A: now, next.
local at = redis.call('ZSCORE', K.due, 'parked')
if not at or tonumber(at) > tonumber(A.now) then return 0 end
redis.call('ZADD', K.due, tonumber(A.next), 'parked')
return 1
