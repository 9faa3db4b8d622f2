--! keys: nudges outbox audit audit_seq audit_shards changes ...approvals
--! uses: stored homes audit
-- The approvals a nudger claimed (A.ids, lua/claim_due.lua on the nudges set): each one still pending
-- is returned for its reminders to be told; one decided or gone leaves the set. An escalation that is
-- due happens here, once: its `escalate_to` join its approvers (when it names any: `anyone` may
-- decide already) and their Home indexes (lua/lib/homes.lua), the card is due a redraw, and it is
-- audited. K.approvals holds each one's approval and texts keys, in that order. A: ids, now.
-- Returns the pending records, each with `telling` as it was (a time: a nudger took it
-- and did not note it told, so it may have posted some).
local pending = {}
for i, id in ipairs(A.ids) do
  local approval, texts = K.approvals[2 * i - 1], K.approvals[2 * i]
  local cur = redis.call('HMGET', approval, 'status', 'created_at', 'deadline', 'escalate_after', 'escalated_at',
                         'escalate_to', 'approvers', 'run_id', 'origin_channel', 'card_channel')
  if cur[1] ~= 'pending' then
    redis.call('ZREM', K.nudges, id)  -- decided, expired or removed: nothing more to tell
  else
    local created, deadline, after = tonumber(cur[2]), tonumber(cur[3]) or 0, tonumber(cur[4]) or 0
    local due = created + after
    if after > 0 and (tonumber(cur[5]) or 0) == 0 and (cur[6] or '') ~= '' and due <= tonumber(A.now)
       and (deadline <= 0 or due < deadline) then
      local approvers = cur[7] or ''
      if approvers ~= '' then
        for who in string.gmatch(cur[6], '[^,]+') do
          if not string.find(',' .. approvers .. ',', ',' .. who .. ',', 1, true) then
            approvers = approvers .. ',' .. who
          end
        end
      end
      if approvers ~= (cur[7] or '') then  -- listed where its approvers, old and new, look now
        local P = waits_prefix(K.changes)
        index_approvers(P, id, cur[2], cur[7] or '', false)
        index_approvers(P, id, cur[2], approvers, true)
      end
      redis.call('HSET', approval, 'escalated_at', A.now, 'approvers', approvers,
                 'version', redis.call('INCR', K.changes))
      redis.call('ZADD', K.outbox, tonumber(A.now), id)  -- the card says so
      audit_append(K.audit, K.audit_seq, K.audit_shards, {'event', 'escalated', 'at', A.now, 'approval', id, 'run', cur[8],
                   'origin_channel', cur[9], 'card_channel', cur[10], 'to', cur[6], 'escalate_after', cur[4]})
    end
    pending[#pending + 1] = stored(approval, texts)  -- `telling` as the last nudger left it: set, it died
    redis.call('HSET', approval, 'telling', A.now)    -- in the middle, and what it posted is looked for
  end
end
return pending
