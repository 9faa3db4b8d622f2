--! keys: approval
-- An approval first shown to people on a surface (Slack's card, a Teams copy, an e-mail: bot/store/surface_due.py):
-- `delivered_at` noted once while it is pending (lua/attach_card.lua notes it for the Slack card). The timeout-approve
-- guard (lua/lib/decide.lua) and the oversight signals (lua/lib/oversight.lua) read it. A: now.
-- Returns 1 when this was its first show, else 0.
if redis.call('HGET', K.approval, 'status') ~= 'pending' then return 0 end
return redis.call('HSETNX', K.approval, 'delivered_at', A.now)
