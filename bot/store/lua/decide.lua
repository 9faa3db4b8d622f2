--! keys: approval texts votes deadlines nudges waiting outbox audit audit_seq audit_shards refused refusals_due attested changes recent webhooks run frozen frozen_seq oversight_people oversight_times oversight_week digest_due
--! uses: stored homes audit refusals windows oversight decide fence final
-- One decision or vote (a click, a modal, a cancel), through the decide step.
-- A.take ({owner, epoch}, or ''): the worker making this decision owns the approval's run (K.run) and waits for
-- it. Decided, it takes the decision in this same step, as the owner's lua/consume.lua would (still the run's
-- owner at that epoch: the approval consumed by it, the run running again unless it ended), so the run goes on
-- without a step of its own. Returns decide's {status, record, heard} and then, decided, taken ('1' or '') and
-- running ('1': the run is running again).
local result = decide(K, A)
if result[1] ~= 'ok' then return result end
local taken, running = '', ''
local take = A.take or ''
if take ~= '' and take.owner ~= '' and redis.call('HGET', K.approval, 'owner') == take.owner
    and not fenced(K.run, take) then
  redis.call('HSET', K.approval, 'consumed', '1', 'consumed_by', take.owner .. ':' .. take.epoch)
  taken = '1'
  local status = redis.call('HGET', K.run, 'status')
  if status and not final[status] then
    redis.call('HSET', K.run, 'status', 'running')
    running = '1'
  end
end
return {result[1], result[2], result[3], taken, running}
