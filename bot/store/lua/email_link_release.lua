--! keys: link
-- Give a taken link back when the decision it was taken for did not happen and may be tried again (the core answered
-- step_up, details or attestation): the same person may use it once more. A: approval. Returns 1 when given back.
if redis.call('HGET', K.link, 'approval') ~= A.approval then return 0 end
if redis.call('HGET', K.link, 'taken') ~= '1' then return 0 end
redis.call('HSET', K.link, 'taken', '0')
return 1
