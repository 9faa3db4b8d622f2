--! keys: approval texts deadlines run_approvals checkpoint audit audit_seq audit_shards run changes nudges waiting idem pending rules rule_uses policy_counts settings ...windows
--! uses: fence fields homes audit windows
-- The one step that opens an approval, for a run's team and a program's ask alike: every limit, the
-- idempotency of the ask and a rule's use are decided here, atomically, with the approval stored.
--
-- Pending (A.decided ''): stored with its deadline, first nudge and place in the Home indexes of who may
-- decide it (lua/lib/homes.lua). Decided at once (A.decided 'approved' / 'rejected': the channel's input
-- mode or an "always allow" rule decided, nobody is asked): stored decided, so it can be read and used once
-- like any other; with A.rule, only while that rule stands (not revoked, not expired at A.now), its use
-- counted (A.audit gets rule_uses).
--
-- Returns {'ok', id}; {'exists', id}: this idempotency key (K.idem) opened that approval already (a retry:
-- nothing changes), or, without one, the approval exists already (a run's retry after a lost answer);
-- {'conflict'}: K.idem was used with another body; {'full'}: K.pending holds A.max_pending approvals still
-- pending; {'gone'}: A.rule was revoked or expired meanwhile (a person is asked instead); {'fenced'}: the
-- writer no longer owns the run; {'stale', window}: a policy window's total (K.windows, lua/lib/windows.lua) is
-- no longer what the policies read (another call was counted or released meanwhile: decide again);
-- {'unsettled'}: the channel's settings (K.settings) no longer hold what the request was decided under
-- (A.settings: field, value, ... as HGETALL gave them; '': not compared): read them again and decide again.
-- Nothing changes unless 'ok'.
-- A: fence {owner, epoch}, id, deadline ('0': never times out), fields (its hash), texts (packed JSON),
--    checkpoint (packed team state, or ''), retention (the checkpoint's lifetime), audit (the
--    entry), nudge_at ('' for none), waiting ({score, member} in the index of pending approvals),
--    idem ({digest, ttl} of the asking body, or ''), max_pending ('0': no limit), decided, rule, now,
--    windows (one per K.windows: {since, expect, count, member ('': counts nothing), ttl}), policy (the ids of the
--    policies that decided or routed it: counted in K.policy_counts), settings (as above, or ''), canary (seconds, or
--    '': not one): a worker's synthetic canary (bot/api/canary.py), kept that long and nowhere else: no deadline,
--    reminder, Home index, list of the waiting, run or audit entry, so no surface shows it and no person sees it.
-- K.pending lists the asking key's approvals that may still be pending: at the limit, those decided since
-- are taken out first (their hashes read here: named after K.approval, on Redis Cluster in other slots).
if A.fence.owner ~= '' and fenced(K.run, A.fence) then return {'fenced'} end
if A.idem ~= '' then
  local first = redis.call('GET', K.idem)
  if first then
    first = cjson.decode(first)
    if first.digest ~= A.idem.digest then return {'conflict'} end
    return {'exists', first.id}
  end
end
if redis.call('EXISTS', K.approval) == 1 then return {'exists', A.id} end
if A.decided == '' and tonumber(A.max_pending) > 0 and redis.call('SCARD', K.pending) >= tonumber(A.max_pending) then
  local prefix = string.sub(K.approval, 1, #K.approval - #A.id - 2)
  for _, other in ipairs(redis.call('SMEMBERS', K.pending)) do
    if redis.call('HGET', prefix .. '{' .. other .. '}', 'status') ~= 'pending' then
      redis.call('SREM', K.pending, other)
    end
  end
  if redis.call('SCARD', K.pending) >= tonumber(A.max_pending) then return {'full'} end
end
if A.settings ~= '' then
  local held = redis.call('HGETALL', K.settings)
  if #held ~= #A.settings then return {'unsettled'} end
  for i = 1, #held do
    if held[i] ~= A.settings[i] then return {'unsettled'} end
  end
end
for i, w in ipairs(A.windows) do
  if window_total(K.windows[i], w.since, w.count) ~= tonumber(w.expect) then return {'stale', tostring(i)} end
end
local entry = A.audit
if A.rule ~= '' then
  local raw = redis.call('HGET', K.rules, A.rule)
  if not raw then return {'gone'} end
  if tonumber(cjson.decode(raw).expires_at) <= tonumber(A.now) then
    redis.call('HDEL', K.rules, A.rule)
    redis.call('HDEL', K.rule_uses, A.rule)
    return {'gone'}
  end
  entry.rule_uses = tostring(redis.call('HINCRBY', K.rule_uses, A.rule, 1))
end
redis.call('HSET', K.approval, unpack(flat(A.fields)))
if (A.canary or '') ~= '' then
  redis.call('EXPIRE', K.approval, A.canary)
  redis.call('SET', K.texts, A.texts, 'EX', A.canary)
  return {'ok', A.id}
end
redis.call('HSET', K.approval, 'version', redis.call('INCR', K.changes))
redis.call('SET', K.texts, A.texts)
redis.call('SADD', K.run_approvals, A.id)
if A.decided == '' then
  if tonumber(A.deadline) > 0 then redis.call('ZADD', K.deadlines, A.deadline, A.id) end
  if A.nudge_at ~= '' then redis.call('ZADD', K.nudges, A.nudge_at, A.id) end
  redis.call('ZADD', K.waiting, A.waiting[1], A.waiting[2])
  index_approval(waits_prefix(K.changes), K.approval, A.id, true)
  if tonumber(A.max_pending) > 0 then redis.call('SADD', K.pending, A.id) end
else
  -- nobody decides it later: it is kept as long as a decided approval is (and its texts with it)
  redis.call('EXPIRE', K.approval, A.retention)
  redis.call('EXPIRE', K.texts, A.retention)
end
if A.checkpoint ~= '' then redis.call('SET', K.checkpoint, A.checkpoint, 'EX', A.retention) end
if A.idem ~= '' then redis.call('SET', K.idem, cjson.encode({digest = A.idem.digest, id = A.id}), 'EX', A.idem.ttl) end
if A.decided ~= 'rejected' then
  -- the call counts in its windows while allowed or pending; a rejection, expiry or withdrawal takes it out
  -- again (lua/lib/decide.lua reads the marks)
  local marks = {}
  for i, w in ipairs(A.windows) do
    if w.member ~= '' then
      window_add(K.windows[i], w.since, A.now, w.member, w.ttl, w.count)
      marks[#marks + 1] = {K.windows[i], w.member}
    end
  end
  if #marks > 0 then redis.call('HSET', K.approval, 'windows', cjson.encode(marks)) end
end
for _, id in ipairs(A.policy) do redis.call('HINCRBY', K.policy_counts, id, 1) end
if #A.policy > 0 then redis.call('EXPIRE', K.policy_counts, A.retention) end
local seq, audit_id = audit_append(K.audit, K.audit_seq, K.audit_shards, flat(entry))
if A.decided == 'approved' then
  -- a rule or the input mode allowed the call: the approval names its audit entry (signed receipts carry it)
  redis.call('HSET', K.approval, 'decided_audit_seq', seq, 'decided_audit_id', audit_id)
end
return {'ok', A.id}
