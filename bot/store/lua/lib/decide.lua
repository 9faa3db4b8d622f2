-- The decide step: moves one pending approval to its outcome exactly once, whatever races it (two
-- reviewers, a double click, the timeout), appends the decision to the audit stream (numbered by
-- lua/lib/audit.lua, which this needs), puts its card in
-- the outbox and publishes it to the owning worker. Run by decide.lua for one approval (a click, a
-- cancel) and by sweep.lua for each approval whose deadline has passed. A vote and a decision keep
-- the Home indexes (lua/lib/homes.lua, which this needs) in the same step.
--
-- k: approval, texts, votes, deadlines, nudges, waiting, outbox, audit, audit_seq, audit_shards, attested (the person's
--    attestations, bot/store/attestations.py), changes (the Homes' change
--    counter), webhooks (decisions due a POST to the asking program's callback_url); for a person
--    also refused (this person's refusals of this approval in the quiet window, lua/lib/refusals.lua),
--    refusals_due (those windows by their end) and recent (what they decided).
-- a: id, outcome, by, now, feedback, card_channel, card_ts ('' unless a click on a card or one of its
--    copies; '' too for a click in a Home, where no card is bound), worker_channels, publish ('SPUBLISH': sharded
--    pub/sub, Redis 7 Cluster: bot/store/shard_pubsub.py; else 'PUBLISH')
--    (the prefix of the workers' pub/sub channels), retention, check_auth ('1': apply the
--    approver rules), in_groups ('': not checked; '1' / '0': the caller checked whether `by` is in
--    one of the approval's user groups), card_grace, attach ('1':
--    take the clicked message as the card), valid_until (Redis time after which a click no longer
--    counts; '' for none), dry_run ('1': only check who may decide; nothing is decided),
--    principals (comma-separated: the people away who delegated to `by`; '' for none; '?' when not
--    looked up: a refusal then asks the caller to look them up, `check_delegates`) and
--    group_principal (one of them the caller found in the approval's user groups; '' for none): a
--    person who may not decide themselves may decide for one of them ("bob for alice"); assurance
--    (JSON {by, amr, passkey, at}, or ''/absent): the clicker's passkey confirmed this Approve
--    (bot/stepup/): an approval that needs step-up counts a person's Approve only with one; team (the clicker's
--    workspace, '?' when Slack could not say; ''/absent: not checked), home_team (the home workspace's, for an
--    approval without one) and across ('': not checked; '1' / '0': the caller's rule on deciding another
--    workspace's approval): a person of another workspace gets `check_workspace`, then `other_workspace` (refused);
--    edit_hidden ('' or absent: none): what a reviewer's edit of a call with nothing hidden hid, kept on the record;
--    artifacts ('' or absent: unchanged): the approval's artefacts with a reviewer's edit (JSON, #79), kept on the
--    record in the same step as the decision, so the decision and the change it allows are never apart;
--    same ('': not checked; '-' or absent: none; else the approver the caller found `by` to be, through People: the
--    same person named by another account of theirs, `email:<address>` of a Slack user's verified email, #88): `by`
--    decides as that approver, their vote theirs (`by`: one person, one vote, whichever surface); not checked while
--    the approvers name an `email:` or `teams:` person and not `by`, the step returns `check_people`.
--    frozen_at ('' or absent: not checked): sharded, the number of the last freeze (`frozen:at`, read by the worker
--    on the root's slot beside the step): while this workspace's copy of the freeze (k.frozen, its number k.frozen_seq,
--    bot/store/freeze_copies.py) holds an older read, the freeze has not reached it, so an Approve is refused
--    ('unspread', audited; tried again once spread) and a timeout that would approve waits ('unspread').
-- Returns {status, record[, heard]}.
local function decide(k, a)
  local function record() return stored(k.approval, k.texts) end
  local function unspread()  -- this workspace's copy of the freeze is older than the last freeze: fails closed
    if (a.frozen_at or '') == '' or not k.frozen_seq then return false end
    return (tonumber(redis.call('GET', k.frozen_seq) or '0') or 0) < (tonumber(a.frozen_at) or math.huge)
  end
  local feedback = a.feedback
  if a.valid_until ~= '' then
    -- a click answered "try again" by a worker that stopped waiting for Redis must not count later
    local t = redis.call('TIME')
    if tonumber(t[1]) + tonumber(t[2]) / 1000000 > tonumber(a.valid_until) then return {'late', {}} end
  end
  local cur = redis.call('HMGET', k.approval, 'status', 'card_channel', 'card_ts', 'deadline', 'owner',
                         'created_at', 'run_id', 'origin_channel', 'timeout_outcome', 'requester',
                         'allow_self_approval', 'approvers', 'required_approvals', 'votes', 'copies',
                         'proxies', 'webhook', 'policy', 'windows', 'step_up', 'assurances', 'team',
                         'asked_by', 'agent', 'require_details', 'attest', 'canary', 'delivered_at')
  local status, shown_in, shown_ts, deadline, owner = cur[1], cur[2], cur[3], cur[4], cur[5]
  local created_at, run_id, origin, requester = cur[6], cur[7], cur[8], cur[10]
  if not status then return {'missing', {}} end
  if a.card_channel ~= '' and not (shown_in == a.card_channel and shown_ts == a.card_ts) then
    -- not the card: one of its copies in a direct message, or the card before its ts was stored
    local copies = ',' .. (cur[15] or '') .. ','
    local copy = ',' .. a.card_channel .. '/'
    local unnoted = string.find(copies, copy .. ',', 1, true)
    if string.find(copies, copy .. a.card_ts .. ',', 1, true) then
      -- a copy of the card (each person's direct message holds one)
    elseif unnoted then
      -- a copy posted whose ts is not stored yet (or never will be: its worker died): this is it
      local noted = string.sub(copies, 1, unnoted - 1) .. copy .. a.card_ts .. string.sub(copies, unnoted + #copy)
      redis.call('HSET', k.approval, 'copies', string.sub(noted, 2, -2))
      if status ~= 'pending' then redis.call('ZADD', k.outbox, tonumber(a.now), a.id) end
    elseif shown_in == a.card_channel and shown_ts == '' then
      -- the card is posted but its ts not stored: either for a few ms (the caller waits and tries
      -- again) or for good (its worker died in between: the caller then attaches the clicked message,
      -- the only one whose buttons carry this approval's id, and the card can be redrawn again)
      if a.attach ~= '1' and status == 'pending' then return {'unattached', {}} end
      redis.call('HSET', k.approval, 'card_ts', a.card_ts)
      if status ~= 'pending' then redis.call('ZADD', k.outbox, tonumber(a.now), a.id) end
    else
      return {'mismatch', {}}
    end
  end
  if status ~= 'pending' then return {'already', record()} end
  if string.sub(a.by or '', 1, 6) == 'model:' and (redis.call('HGET', k.approval, 'triage_reversed') or '') ~= '' then
    return {'reversed', record()}  -- a channel admin reversed the triage model's held approval: people decide
  end
  if a.outcome == 'timed_out' and tonumber(deadline) > tonumber(a.now) then return {'not_due', {}} end
  local required = tonumber(cur[13] or '1') or 1
  local timeout_outcome = cur[9]
  if a.outcome == 'timed_out' and timeout_outcome == 'approve' then
    -- a timeout approves only what people could see, on any surface (`delivered_at`: lua/note_shown.lua, lua/
    -- attach_card.lua; the Slack card's ts for an approval shown before it was noted), and never a quorum nobody
    -- voted for, nor while its scope is frozen (bot/store/freezes.py)
    local unseen = (shown_ts or '') == '' and (cur[28] or '') == ''
    local stepped = (cur[20] or '') ~= ''
    local held = false
    if k.frozen then
      for _, scope in ipairs({'all', 'channel:' .. (origin or ''), 'key:' .. (cur[23] or ''), 'agent:' .. (cur[24] or '')}) do
        if redis.call('HEXISTS', k.frozen, scope) == 1 then held = true end
      end
    end
    if not held and unspread() then return {'unspread', {}} end  -- (the sweep leaves it due: tried again)
    if held then
      timeout_outcome = 'reject'
      redis.call('HSET', k.approval, 'timeout_outcome', 'reject')
      feedback = 'its scope is frozen, so the timeout does not approve it'
    elseif unseen or stepped or (required > 1 and (cur[14] or '') == '') then
      timeout_outcome = 'reject'
      redis.call('HSET', k.approval, 'timeout_outcome', 'reject')
      if unseen then
        feedback = 'its card was never shown, so the timeout does not approve it'
      elseif stepped then
        feedback = "approving it needs an approver's passkey, so the timeout does not approve it"
      else
        feedback = 'nobody approved, so the timeout does not approve it'
      end
    end
  end
  local function audit(...)  -- returns the entry's seq and stream id (lua/lib/audit.lua, which this needs)
    local entry = {'at', a.now, 'approval', a.id, 'run', run_id, 'card_channel', shown_in, 'origin_channel', origin}
    for _, part in ipairs({...}) do entry[#entry + 1] = part end
    return audit_append(k.audit, k.audit_seq, k.audit_shards, entry)
  end
  local acting_for = ''  -- `by` decides for this person (away, delegating to them)
  local latency_ms = math.floor((tonumber(a.now) - tonumber(created_at)) * 1000)
  if a.check_auth == '1' then
    -- who may decide: not the run's requester (unless the channel allows it), and, when the approval
    -- names approvers, only them (user groups are checked by the caller, which then says in_groups)
    local refusal = nil
    if cur[11] ~= '1' and requester == a.by then refusal = 'self' end
    -- a person of another workspace: the caller applies the rule (bot/approvals/rights.py, may_decide_across)
    local theirs = cur[22] or ''
    if theirs == '' then theirs = a.home_team or '' end  -- an approval from before approvals carried one
    if not refusal and (a.team or '') ~= '' and theirs ~= '' and theirs ~= a.team then
      if (a.across or '') == '' then return {'check_workspace', record()} end
      if a.across ~= '1' then refusal = 'other_workspace' end
    end
    local approvers = cur[12] or ''
    local function named(who) return string.find(',' .. approvers .. ',', ',' .. who .. ',', 1, true) end
    local same = a.same or '-'
    if not refusal and approvers ~= '' and approvers ~= 'anyone' and not named(a.by) and same == '' and
        (string.find(',' .. approvers, ',email:', 1, true) or string.find(',' .. approvers, ',teams:', 1, true)) then
      return {'check_people', record()}  -- an approver named by another account of theirs? (the caller asks People)
    end
    if not refusal and approvers ~= '' and approvers ~= 'anyone' and not named(a.by)
        and not (same ~= '' and same ~= '-' and named(same)) then
      if a.in_groups == '' and string.find(',' .. approvers, ',S', 1, true) then
        return {'check_groups', record()}
      end
      if a.in_groups ~= '1' then
        -- a delegate of someone away who may decide it decides for them (never their own run's)
        for who in string.gmatch(a.principals or '', '[^,]+') do
          if (cur[11] == '1' or who ~= requester) and (named(who) or who == a.group_principal) then
            acting_for = who
            break
          end
        end
        if acting_for == '' then
          if a.principals == '?' then return {'check_delegates', record()} end  -- not looked up yet
          refusal = 'not_allowed'
        end
      end
    end
    if refusal then
      -- every refused attempt is audited: the first of this person's on this approval in 10 s at once, the others
      -- counted for one summarising entry (lua/lib/refusals.lua): a replayed click does not flood the audit log
      local entry = {'at', a.now, 'approval', a.id, 'run', run_id, 'card_channel', shown_in, 'origin_channel', origin,
                     'event', 'refused', 'by', a.by, 'outcome', a.outcome, 'reason', refusal}
      if refusal == 'other_workspace' then  -- whose workspace, and the approval's
        entry[#entry + 1] = 'team'; entry[#entry + 1] = a.team
        entry[#entry + 1] = 'approval_team'; entry[#entry + 1] = theirs
      end
      refusal_noted(k.refused, k.refusals_due, {k.audit, k.audit_seq, k.audit_shards}, entry, a.now, 10)
      return {refusal, record()}
    end
  end
  if a.dry_run == '1' then return {'allowed', record()} end  -- only asked whether this person may
  if cur[27] == '1' then
    -- a worker's synthetic canary (bot/api/canary.py), decided by its probe, its one approver (a person was refused
    -- above): decided and its owner woken as any other, and nothing else: no card, audit entry, oversight, index
    -- or webhook; it keeps its short lifetime
    redis.call('HSET', k.approval, 'status', a.outcome, 'decided_by', a.by, 'decided_at', a.now, 'feedback', feedback)
    local heard = redis.call(a.publish == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH', a.worker_channels .. owner, cjson.encode({t='decision', id=a.id}))
    return {'ok', record(), heard}
  end
  if a.outcome == 'approved' and k.frozen then
    -- a frozen scope (bot/store/freezes.py): nothing in it is approved while frozen (Reject still works)
    local scopes = {'all', 'channel:' .. (origin or '')}
    if (cur[23] or '') ~= '' then scopes[#scopes + 1] = 'key:' .. cur[23] end
    if (cur[24] or '') ~= '' then scopes[#scopes + 1] = 'agent:' .. cur[24] end
    for _, scope in ipairs(scopes) do
      if redis.call('HEXISTS', k.frozen, scope) == 1 then
        local entry = {'at', a.now, 'approval', a.id, 'run', run_id, 'card_channel', shown_in, 'origin_channel',
                       origin, 'event', 'refused', 'by', a.by, 'outcome', a.outcome, 'reason', 'frozen',
                       'scope', scope}
        refusal_noted(k.refused, k.refusals_due, {k.audit, k.audit_seq, k.audit_shards}, entry, a.now, 10)
        return {'frozen', record()}
      end
    end
    if unspread() then
      refusal_noted(k.refused, k.refusals_due, {k.audit, k.audit_seq, k.audit_shards},
                    {'at', a.now, 'approval', a.id, 'run', run_id, 'card_channel', shown_in, 'origin_channel', origin,
                     'event', 'refused', 'by', a.by, 'outcome', a.outcome, 'reason', 'freeze not yet spread'}, a.now, 10)
      return {'unspread', record()}
    end
  end
  if a.check_auth == '1' and a.outcome == 'approved' and (cur[25] or '') ~= ''
     and not redis.call('HGET', k.approval, 'opened:' .. a.by) then
    -- a policy's @require_details: a person's Approve counts only once they opened its details (its page, a modal:
    -- lua/note_opened.lua); refused and audited as the other refusals are
    local entry = {'at', a.now, 'approval', a.id, 'run', run_id, 'card_channel', shown_in, 'origin_channel', origin,
                   'event', 'refused', 'by', a.by, 'action', 'approve', 'outcome', a.outcome,
                   'reason', 'details not opened: Open the details before approving'}
    refusal_noted(k.refused, k.refusals_due, {k.audit, k.audit_seq, k.audit_shards}, entry, a.now, 10)
    return {'details', record()}
  end
  if a.check_auth == '1' and (a.outcome == 'approved' or a.outcome == 'revised') and (cur[26] or '') ~= '' then
    -- fit to decide: the service refuses first, with the words to get one (bot/approvals/service.py `_unfit`); checked
    -- again here, in the step that decides, so an attestation revoked or ended a moment before never counts
    for scope in string.gmatch(cur[26], '[^,]+') do
      local held = redis.call('HGET', k.attested, scope)
      if not held or held == '' or tonumber(held) <= tonumber(a.now) then
        local entry = {'at', a.now, 'approval', a.id, 'run', run_id, 'card_channel', shown_in, 'origin_channel',
                       origin, 'event', 'refused', 'by', a.by, 'action', 'vote', 'outcome', a.outcome, 'scope', scope,
                       'reason', 'no current attestation to ' .. scope}
        refusal_noted(k.refused, k.refusals_due, {k.audit, k.audit_seq, k.audit_shards}, entry, a.now, 10)
        return {'attestation', record()}
      end
    end
  end
  -- how this person decided (lua/lib/oversight.lua): when the card reached them, opened, decided; counted once
  local timing, seen = {}, nil
  if a.check_auth == '1' then timing, seen = oversight_timing(k.approval, a.by, a.now, created_at) end
  local counted = false
  local function observe(outcome)
    if seen == nil or counted then return end
    counted = true
    oversight_count(k, a.by, outcome, a.now, seen, origin or '', cur[18] or '', cur[20] == 'policy',
                    tonumber(a.digest_at or '') or (tonumber(a.now) + 7 * 86400))
  end
  local function with_timing(fields)
    for _, part in ipairs(timing) do fields[#fields + 1] = part end
    return fields
  end
  local assured = {}  -- the audit fields of this vote's passkey confirmation (step-up)
  local keep_assurance = function() end
  if a.check_auth == '1' and a.outcome == 'approved' and (cur[20] or '') ~= '' then
    -- step-up: a person's Approve counts only once their passkey confirmed it (bot/stepup/); a second
    -- vote is said first, so nobody is sent to confirm a vote that would not count
    if required > 1 and (redis.call('SISMEMBER', k.votes, a.by) == 1
                         or string.find(',' .. (cur[16] or '') .. ',', ':' .. a.by .. ',', 1, true)) then
      return {'duplicate', record()}
    end
    if (a.assurance or '') == '' then return {'step_up', record()} end
    local said = cjson.decode(a.assurance)
    keep_assurance = function()  -- once the vote counted: the approval keeps each vote's confirmation
      local list = {}
      if (cur[21] or '') ~= '' then list = cjson.decode(cur[21]) end
      table.insert(list, said)
      redis.call('HSET', k.approval, 'assurances', cjson.encode(list))
    end
    assured = {'amr', table.concat(said.amr, ' '), 'passkey', said.passkey, 'assured_at', tostring(said.at)}
  end
  local voters = {}  -- a quorum's decision names every person whose vote counted
  local function remember()  -- a person's click counted: their Home lists it under "Recently decided by you"
    if a.check_auth ~= '1' then return end
    redis.call('LREM', k.recent, 0, a.id)
    redis.call('LPUSH', k.recent, a.id)
    redis.call('LTRIM', k.recent, 0, 19)
    redis.call('EXPIRE', k.recent, a.retention)
  end
  if a.outcome == 'approved' and required > 1 then
    -- each person counts once, whoever clicked: a delegate's vote counts as the person's it is for,
    -- and one who voted (for themselves or anyone) has no second vote
    local proxies = ',' .. (cur[16] or '') .. ','
    local voter = a.by
    if acting_for ~= '' then voter = acting_for end
    if string.find(proxies, ':' .. a.by .. ',', 1, true)
       or (acting_for ~= '' and redis.call('SISMEMBER', k.votes, a.by) == 1) then
      return {'duplicate', record()}
    end
    if redis.call('SADD', k.votes, voter) == 0 then return {'duplicate', record()} end
    keep_assurance()
    redis.call('EXPIRE', k.votes, a.retention)
    local votes = cur[14] or ''
    if votes == '' then votes = voter else votes = votes .. ',' .. voter end
    redis.call('HSET', k.approval, 'votes', votes)
    voters = {'voters', votes}
    remember()  -- a vote that does not decide yet counted too
    if acting_for ~= '' then
      local pair = acting_for .. ':' .. a.by
      redis.call('HSET', k.approval, 'proxies', (cur[16] or '') == '' and pair or (cur[16] .. ',' .. pair))
    end
    -- neither the voter nor a delegate who voted for them finds it waiting for them now
    index_vote(waits_prefix(k.changes), k.approval, a.id, voter, acting_for ~= '' and a.by or '')
    local count = redis.call('SCARD', k.votes)
    local vote = {'event', 'vote', 'by', a.by, 'for', acting_for, 'outcome', 'approved', 'votes', count,
                  'required', required, 'latency_ms', latency_ms}
    for _, field in ipairs(assured) do vote[#vote + 1] = field end
    if (a.surface or '') ~= '' then vote[#vote + 1] = 'surface'; vote[#vote + 1] = a.surface end  -- teams (#81)
    audit(unpack(with_timing(vote)))
    observe('approved')
    if count < required then
      -- the card shows the vote, even if we die now
      redis.call('HSET', k.approval, 'version', redis.call('INCR', k.changes))
      redis.call('ZADD', k.outbox, tonumber(a.now) + tonumber(a.card_grace), a.id)
      return {'vote', record()}
    end
  end
  if required <= 1 then keep_assurance() end
  redis.call('HSET', k.approval, 'status', a.outcome, 'decided_by', a.by, 'decided_at', a.now,
             'feedback', feedback, 'on_behalf', acting_for, 'version', redis.call('INCR', k.changes))
  if (a.edit_hidden or '') ~= '' then redis.call('HSET', k.approval, 'edit_hidden', a.edit_hidden) end
  if (a.artifacts or '') ~= '' then redis.call('HSET', k.approval, 'artifacts', a.artifacts) end
  remember()
  index_approval(waits_prefix(k.changes), k.approval, a.id, false)  -- it waits for nobody now
  redis.call('ZREM', k.deadlines, a.id)
  redis.call('ZREM', k.nudges, a.id)
  redis.call('ZREM', k.waiting, origin .. '/' .. a.id)
  -- the card is due an update: made at once, or retried by anyone's supervisor
  redis.call('ZADD', k.outbox, tonumber(a.now) + tonumber(a.card_grace), a.id)
  redis.call('EXPIRE', k.approval, a.retention)
  redis.call('EXPIRE', k.texts, a.retention)
  local extra = {}
  if (cur[18] or '') ~= '' then extra = {'policy', cur[18]} end  -- the policies that routed it (bot/policy/)
  for _, field in ipairs(voters) do table.insert(extra, field) end
  for _, field in ipairs(assured) do table.insert(extra, field) end
  if (a.surface or '') ~= '' then table.insert(extra, 'surface'); table.insert(extra, a.surface) end
  if (a.artifacts or '') ~= '' then  -- a reviewer's edit of the change (#79): the edited artefacts' new digests
    local digests = {}
    for _, item in ipairs(cjson.decode(a.artifacts)) do
      if item.edited then table.insert(digests, item.sha256) end
    end
    table.insert(extra, 'edited_artifacts')
    table.insert(extra, table.concat(digests, ','))
  end
  if #assured > 0 and required > 1 then  -- every vote's confirmation, for a quorum
    table.insert(extra, 'assurances')
    table.insert(extra, redis.call('HGET', k.approval, 'assurances'))
  end
  local decision = {'event', 'decision', 'outcome', a.outcome, 'by', a.by, 'for', acting_for,
                    'feedback', feedback, 'latency_ms', latency_ms}
  for _, field in ipairs(extra) do decision[#decision + 1] = field end
  local seq, audit_id = audit(unpack(with_timing(decision)))
  observe(a.outcome)
  local allowed = a.outcome == 'approved' or (a.outcome == 'timed_out' and timeout_outcome == 'approve')
  if not allowed and (cur[19] or '') ~= '' then
    -- rejected, expired or withdrawn: the call no longer counts in its policy windows (lua/lib/windows.lua)
    for _, mark in ipairs(cjson.decode(cur[19])) do window_remove(mark[1], mark[2]) end
  end
  if allowed then
    -- the call is allowed: the approval names its decision's audit entry (signed receipts carry it)
    redis.call('HSET', k.approval, 'decided_audit_seq', seq, 'decided_audit_id', audit_id)
  end
  -- asked through the API with a callback_url: its delivery is due now, whoever dies next
  if cur[17] == '1' then redis.call('ZADD', k.webhooks, tonumber(a.now), a.id) end
  -- wake the owner's waiter (it reads the decision from the record); how many heard it: 0 means its
  -- worker may be gone
  local heard = redis.call(a.publish == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH', a.worker_channels .. owner, cjson.encode({t='decision', id=a.id}))
  return {'ok', record(), heard}
end
