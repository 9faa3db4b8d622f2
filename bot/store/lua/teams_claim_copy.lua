--! keys: cards
-- Claim the card of an approval in one Teams conversation for one poster, in one step, so two workers never
-- leave two cards there: a conversation with no card, or one whose claim ran out (its poster died before
-- posting), is claimed until A.till; one with a card (its activity id) or a live claim is not. The poster
-- then notes the card's activity id (HSET), or releases the claim when Teams refused the post.
-- A: conversation, now, till, ttl. Returns 'claimed', 'posted' (a card is there) or 'busy' (a live claim).
local held = redis.call('HGET', K.cards, A.conversation)
if held then
  local till = string.match(held, '^claimed:(.+)$')
  if not till then return 'posted' end
  if tonumber(till) > tonumber(A.now) then return 'busy' end
end
redis.call('HSET', K.cards, A.conversation, 'claimed:' .. A.till)
redis.call('EXPIRE', K.cards, tonumber(A.ttl))
return 'claimed'
