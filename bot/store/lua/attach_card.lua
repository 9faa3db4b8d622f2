--! keys: approval outbox
-- Note the message that shows an approval. If the approval was decided meanwhile (its timeout fired
-- while Redis could not be told the card's ts), the card is due a redraw at once. Another card
-- already attached wins ('other': the caller removes its own). Returns the approval's status.
-- A: id, channel, ts, now, read_seconds (the card's reading time; '' for none).
local cur = redis.call('HMGET', K.approval, 'status', 'card_ts')
if not cur[1] then return 'missing' end
if cur[2] and cur[2] ~= '' and cur[2] ~= A.ts then return 'other' end
redis.call('HSET', K.approval, 'card_channel', A.channel, 'card_ts', A.ts)
-- when its card first reached people (lua/lib/oversight.lua), and the card's reading time
if cur[1] == 'pending' then
  redis.call('HSETNX', K.approval, 'delivered_at', A.now)
  if (A.read_seconds or '') ~= '' then redis.call('HSETNX', K.approval, 'read_seconds', A.read_seconds) end
end
if cur[1] ~= 'pending' then redis.call('ZADD', K.outbox, A.now, A.id) end
return cur[1]
