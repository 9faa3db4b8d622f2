--! keys: due since viewers
--! uses: home_queue
-- Homes due a redraw: each of A.users who opened their Home lately goes in `due` (once, whatever the
-- number of changes), scored by when they last looked; a change gathered into a redraw already due keeps
-- its first time. A.now_ready: ready at once (no gathering: a person who opened their Home while Slack
-- refused). Returns how many are due.
local now = now_ms()
local since = now
if A.now_ready then since = now - 3600000 end
local marked = 0
for _, user in ipairs(A.users) do marked = marked + mark_due(K.due, K.since, K.viewers, user, since) end
return marked
