-- Policy windows (bot/policy/windows.py): each a sorted set of '<approval id> <amount>' members, scored by
-- when the call was counted. A window's total is the sum of the amounts counted after `since`.
local function window_total(key, since)
  local total = 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. since, '+inf')) do
    total = total + (tonumber(string.match(member, ' (%-?%d+)$')) or 0)
  end
  return total
end
