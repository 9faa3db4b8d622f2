--! keys: sent
-- Claim one mail (A.field = "<person>|<kind>" of an approval) for one sender until A.till, so two workers never send
-- it twice: a mail never tried, due a retry (its time come), or whose sender's claim ran out (it died) is claimed;
-- A: field, now, till, ttl. Returns {'claimed', attempts so far}, {'sent', message id}, {'busy', until},
-- {'later', at} (a retry not due yet) or {'given_up', attempts}.
local held = redis.call('HGET', K.sent, A.field)
local attempts = 0
if held then
  local state, a, b = string.match(held, '^(%a+):([^:]*):?(.*)$')
  if state == 'sent' then return {'sent', a} end
  if state == 'failed' then return {'given_up', a} end
  if tonumber(a) > tonumber(A.now) then return {state == 'sending' and 'busy' or 'later', a} end
  attempts = tonumber(b) or 0
end
redis.call('HSET', K.sent, A.field, 'sending:' .. A.till .. ':' .. attempts)
redis.call('EXPIRE', K.sent, tonumber(A.ttl))
return {'claimed', tostring(attempts)}
