--! keys: claim
-- Give up a claim (`Workers.claim` in bot/store/workers.py) only if it is still this holder's: a holder that stalled
-- past its lease does not remove the next holder's. A: holder. Returns 1 when released.
if redis.call('GET', K.claim) == A.holder then return redis.call('DEL', K.claim) end
return 0
