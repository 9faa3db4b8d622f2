--! keys: cards
-- Release a claim to post an approval's card in a Teams conversation (Teams refused the post), never a card
-- noted there. A: conversation. Returns 1 when a claim was released.
local held = redis.call('HGET', K.cards, A.conversation)
if held and string.sub(held, 1, 8) == 'claimed:' then
  redis.call('HDEL', K.cards, A.conversation)
  return 1
end
return 0
