--! keys: publishes
--! uses: home_queue
-- A drawer sends its views.publish call now: its budget token (A.token, taken when the Home was claimed
-- or opened) is counted at this moment, so the budget's window holds the times Slack gets the calls.
redis.call('ZADD', K.publishes, now_ms(), A.token)
return 'ok'
