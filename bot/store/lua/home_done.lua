--! keys: due since drawing publishes viewers
--! uses: home_queue
-- A drawer is done with A.user's Home (taken by home_claim.lua or home_take.lua). A.refund: the budget
-- token to give back (nothing was sent to Slack); A.again: due again at once (Slack refused for its rate
-- limit, or another drawer held the Home), else it stays drawn until the next change or opening.
redis.call('ZREM', K.drawing, A.user)
if A.refund ~= '' then redis.call('ZREM', K.publishes, A.refund) end
if A.again then mark_due(K.due, K.since, K.viewers, A.user, 0) end
return 'ok'
