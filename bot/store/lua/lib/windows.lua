-- Policy windows (bot/policy/windows.py): each a sorted set of '<approval id> <amount>' members, scored by
-- when the call was counted. A window's total is the sum of the amounts counted after `since`; a `count`
-- window's (each amount 1) is how many there are, which Redis counts without reading them.
local function window_total(key, since, count)
  if count then return redis.call('ZCOUNT', key, '(' .. since, '+inf') end
  local total = 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. since, '+inf')) do
    total = total + (tonumber(string.match(member, ' (%-?%d+)$')) or 0)
  end
  return total
end
