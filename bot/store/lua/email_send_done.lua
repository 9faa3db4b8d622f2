--! keys: sent
-- Note how a claimed mail went: A.outcome 'sent' (A.message: its Message-ID), 'retry' (A.at: when to try again) or
-- 'failed' (given up), with A.attempts made so far. Only the claim's own holder notes (A.till: its claim), so a
-- sender whose claim ran out and was taken over writes nothing. Returns 1 when noted.
local held = redis.call('HGET', K.sent, A.field)
if not held or string.match(held, '^sending:([^:]*):') ~= A.till then return 0 end
if A.outcome == 'sent' then
  redis.call('HSET', K.sent, A.field, 'sent:' .. A.message)
elseif A.outcome == 'retry' then
  redis.call('HSET', K.sent, A.field, 'retry:' .. A.at .. ':' .. A.attempts)
else
  redis.call('HSET', K.sent, A.field, 'failed:' .. A.attempts)
end
return 1
