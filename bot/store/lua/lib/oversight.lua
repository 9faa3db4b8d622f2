-- How a person decided (issue 80): when the card reached them, when they opened its details, when they decided, and
-- the rubber-stamp signals that follow, kept in the decide step that audits the decision (lua/lib/decide.lua).
--
-- The approval's hash holds `delivered_at` (its card first posted: lua/attach_card.lua), `read_seconds` (the card's
-- reading time, bot/core/oversight.py) and `opened:<person>` (when that person first opened its details: its page,
-- a modal; lua/note_opened.lua). `oversight_timing` gives the fields a person's vote or decision entry gains:
-- delivered_at, opened_at (absent if never), decided_at, read_seconds and fast ('true' when they decided sooner
-- after the card reached them than its reading time).
-- `oversight_count` keeps the signals: k.oversight_people {"<signal>|<person>": n} for the metrics (approvals,
-- fast, unopened: approvals of a high-risk call (one a policy marks @step_up) whose details they never opened; streak:
-- their approvals since their last rejection or revision), k.oversight_times the last OVERSIGHT_TIMES times to decide
-- ("<seconds> <person> <channel> <policy ids>"), and the tenant's k.oversight_week {"<channel>|<person>|<signal>": n}
-- for the weekly digest (its `streak` the longest this week), due at `week` in k.digest_due (set once, then by each
-- digest sent). A step given none of these keys (the timeout sweep) counts nothing.
local OVERSIGHT_TIMES = 5000

local function oversight_timing(approval_key, by, now, created_at)
  local got = redis.call('HMGET', approval_key, 'delivered_at', 'read_seconds', 'opened:' .. by)
  local delivered = tonumber(got[1] or '') or tonumber(created_at) or tonumber(now)
  local read = tonumber(got[2] or '') or 2
  local opened = got[3]
  local fast = (tonumber(now) - delivered) < read
  local fields = {'delivered_at', string.format('%.3f', delivered)}
  if opened then
    fields[#fields + 1] = 'opened_at'; fields[#fields + 1] = opened
  end
  for _, part in ipairs({'decided_at', string.format('%.3f', tonumber(now)), 'read_seconds', string.format('%.1f', read),
                         'fast', fast and 'true' or 'false'}) do
    fields[#fields + 1] = part
  end
  return fields, {delivered = delivered, opened = opened ~= false and opened ~= nil, fast = fast}
end

local function oversight_count(k, by, outcome, now, seen, channel, policy, high_risk, digest_at)
  if not k.oversight_people then return end
  local people = k.oversight_people
  if outcome == 'approved' then
    redis.call('HINCRBY', people, 'approvals|' .. by, 1)
    local streak = redis.call('HINCRBY', people, 'streak|' .. by, 1)
    if seen.fast then redis.call('HINCRBY', people, 'fast|' .. by, 1) end
    local unopened = high_risk and not seen.opened
    if unopened then redis.call('HINCRBY', people, 'unopened|' .. by, 1) end
    local week = channel .. '|' .. by .. '|'
    redis.call('HINCRBY', k.oversight_week, week .. 'approvals', 1)
    if seen.fast then redis.call('HINCRBY', k.oversight_week, week .. 'fast', 1) end
    if unopened then redis.call('HINCRBY', k.oversight_week, week .. 'unopened', 1) end
    local longest = tonumber(redis.call('HGET', k.oversight_week, week .. 'streak') or '0') or 0
    if streak > longest then redis.call('HSET', k.oversight_week, week .. 'streak', streak) end
  elseif outcome == 'rejected' or outcome == 'revised' then
    redis.call('HSET', people, 'streak|' .. by, 0)
    redis.call('HINCRBY', k.oversight_week, channel .. '|' .. by .. '|overrides', 1)
  else
    return
  end
  redis.call('HINCRBY', k.oversight_week, channel .. '|' .. by .. '|decisions', 1)
  local ids = ''
  if policy ~= '' then
    local ok, found = pcall(cjson.decode, policy)
    if ok and type(found) == 'table' and type(found.ids) == 'table' then ids = table.concat(found.ids, ',') end
  end
  redis.call('LPUSH', k.oversight_times, string.format('%.3f %s %s %s', math.max(0, tonumber(now) - seen.delivered),
                                                       by, channel, ids))
  redis.call('LTRIM', k.oversight_times, 0, OVERSIGHT_TIMES - 1)
  redis.call('ZADD', k.digest_due, 'NX', digest_at, 'week')
end
