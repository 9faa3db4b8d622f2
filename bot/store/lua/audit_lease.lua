--! keys: lease
-- The audit checkpoint writer's lease: taken (or kept, by its holder) for A.ms milliseconds, so one worker at a
-- time signs checkpoints and trims the log. A: worker, ms. Returns 1 when A.worker holds it now, else 0.
local holder = redis.call('GET', K.lease)
if holder and holder ~= A.worker then return 0 end
redis.call('SET', K.lease, A.worker, 'PX', A.ms)
return 1
