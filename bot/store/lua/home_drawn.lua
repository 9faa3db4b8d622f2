--! keys: home room
-- A person's Home was drawn: it shows change A.seen, Slack's A.hash, page A.page with approvals A.shown.
-- Each shown approval's `home_shown` set (A.shown_prefix .. id: whose Homes show it, kept A.seconds)
-- gets A.user, and those the Home showed before and no longer does lose them. A page showing fewer than
-- A.page_size has room: the person is in `room` (an approval opened for them would show on it).
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
  redis.call('SADD', K.room, A.user)
else
  redis.call('SREM', K.room, A.user)
end
redis.call('HSET', K.home, 'seen', A.seen, 'hash', A.hash, 'shown_page', A.page, 'shown', table.concat(A.shown, ','))
return 'ok'
