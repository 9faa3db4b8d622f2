--! keys: home room changes due since viewers ...approvals
--! uses: home_queue
-- A person's Home was drawn: it shows change A.seen, Slack's A.hash, page A.page with approvals A.shown
-- (K.approvals: their hashes, in that order). Each shown approval's `home_shown` set (A.shown_prefix .. id:
-- whose Homes show it, kept A.seconds) gets A.user, and those the Home showed before and no longer does
-- lose them. A page showing fewer than A.page_size has room: the person is in `room` (an approval opened
-- for them would show on it).
-- A change made after the draw read Redis (its counter past A.seen) whose Homes were marked before this
-- step found this Home neither showing that approval nor with room: it is due again (home_due.lua's way)
-- when one of the shown approvals changed since (a vote, a decision, an escalation), or when the page
-- gains room now and anything changed since (an approval opened for this person meanwhile).
local seen = tonumber(A.seen)
local missed = false
for i, _ in ipairs(A.shown) do
  if tonumber(redis.call('HGET', K.approvals[i], 'version') or '0') > seen then missed = true end
end
local before = redis.call('HGET', K.home, 'shown') or ''
local now = {}
for _, id in ipairs(A.shown) do now[id] = true end
for id in string.gmatch(before, '[^,]+') do
  if not now[id] then redis.call('SREM', A.shown_prefix .. id, A.user) end
end
for _, id in ipairs(A.shown) do
  redis.call('SADD', A.shown_prefix .. id, A.user)
  redis.call('EXPIRE', A.shown_prefix .. id, A.seconds)
end
if #A.shown < tonumber(A.page_size) then
  if redis.call('SADD', K.room, A.user) == 1 and tonumber(redis.call('GET', K.changes) or '0') > seen then
    missed = true
  end
else
  redis.call('SREM', K.room, A.user)
end
redis.call('HSET', K.home, 'seen', A.seen, 'hash', A.hash, 'shown_page', A.page, 'shown', table.concat(A.shown, ','))
if missed then
  mark_due(K.due, K.since, K.viewers, A.user, now_ms())
  return 'again'
end
return 'ok'
