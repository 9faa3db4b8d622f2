--! keys: active ...runs
--! uses: final
-- Take out of a set of active runs (a requester's or a channel's) those that have ended or are gone,
-- so a lost worker cannot block anyone for good. K.runs: the run key of each id in A.ids.
local removed = 0
for i, id in ipairs(A.ids) do
  local status = redis.call('HGET', K.runs[i], 'status')
  if not status or final[status] then removed = removed + redis.call('SREM', K.active, id) end
end
return removed
