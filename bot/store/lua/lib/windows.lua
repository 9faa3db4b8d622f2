-- Policy windows (bot/policy/windows.py): each a sorted set of '<approval id> <amount>' members, scored by
-- when the call was counted. A window's total is the sum of the amounts counted after `since`; a `count`
-- window's (each amount 1) is how many there are, which Redis counts without reading them.
--
-- A sum window also keeps its amounts in time buckets, in a hash beside it (`<window>:sums`): per minute
-- ('m' .. minute), hour ('h' .. hour) and day ('d' .. day) since the epoch, each the sum of the amounts of the
-- calls the sorted set holds in it (kept so by every add, trim and removal; a bucket at 0 is deleted). The
-- total after `since` is then exact and costs what it reads, not the calls in the window: the calls of
-- `since`'s own minute that came after it, then minutes up to the hour, hours up to the day, and days (at
-- most 59 + 23 + 91 fields for a 90-day window), whatever the window holds. The hash's 'built' names the
-- sorted set it was made for (how many calls, and the newest): a window written without its buckets (before
-- they existed, or by a worker of that version during a rolling upgrade) no longer matches, and its buckets
-- are made again from its calls before they are read or changed.

local function window_amount(member)
  return tonumber(string.match(member, ' (%-?%d+)$')) or 0
end

local function window_sums_add(sums, score, amount)
  if amount == 0 then return end
  local t = tonumber(score)
  for _, field in ipairs({'m' .. math.floor(t / 60), 'h' .. math.floor(t / 3600), 'd' .. math.floor(t / 86400)}) do
    if redis.call('HINCRBY', sums, field, amount) == 0 then redis.call('HDEL', sums, field) end
  end
end

local function window_built(key)
  local newest = redis.call('ZRANGE', key, -1, -1)
  return redis.call('ZCARD', key) .. ' ' .. (newest[1] or '')
end

local function window_sums(key)
  local sums = key .. ':sums'
  local built = window_built(key)
  if redis.call('HGET', sums, 'built') ~= built then
    redis.call('DEL', sums)
    local calls = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    for i = 1, #calls, 2 do window_sums_add(sums, calls[i + 1], window_amount(calls[i])) end
    redis.call('HSET', sums, 'built', built)
    local ttl = redis.call('TTL', key)
    if ttl > 0 then redis.call('EXPIRE', sums, ttl) end
  end
  return sums
end

local function window_total(key, since, count)
  if count then return redis.call('ZCOUNT', key, '(' .. since, '+inf') end
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #last == 0 then return 0 end
  local sums, newest = window_sums(key), tonumber(last[2])
  local t = (math.floor(tonumber(since) / 60) + 1) * 60  -- the first whole minute after `since`
  local total = 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. since, '(' .. t)) do
    total = total + window_amount(member)
  end
  local fields = {}
  while t <= newest and t % 3600 ~= 0 do fields[#fields + 1] = 'm' .. (t / 60); t = t + 60 end
  while t <= newest and t % 86400 ~= 0 do fields[#fields + 1] = 'h' .. (t / 3600); t = t + 3600 end
  while t <= newest do fields[#fields + 1] = 'd' .. (t / 86400); t = t + 86400 end
  if #fields > 0 then
    for _, value in ipairs(redis.call('HMGET', sums, unpack(fields))) do total = total + (tonumber(value) or 0) end
  end
  return total
end

-- Count `member` at `now`, after taking out the calls at or before `since` (no longer in any total); the
-- window (and its buckets) expire `ttl` seconds after its last call. A count window has no buckets (unless it
-- was a sum window once: then they are kept, for when it is one again).
local function window_add(key, since, now, member, ttl, count)
  if count and redis.call('EXISTS', key .. ':sums') == 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', since)
    redis.call('ZADD', key, now, member)
    redis.call('EXPIRE', key, ttl)
    return
  end
  local sums = window_sums(key)
  local old = redis.call('ZRANGEBYSCORE', key, '-inf', since, 'WITHSCORES')
  for i = 1, #old, 2 do window_sums_add(sums, old[i + 1], -window_amount(old[i])) end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', since)
  redis.call('ZADD', key, now, member)
  window_sums_add(sums, now, window_amount(member))
  redis.call('HSET', sums, 'built', window_built(key))
  redis.call('EXPIRE', key, ttl)
  redis.call('EXPIRE', sums, ttl)
end

-- The call no longer counts (rejected, expired, withdrawn).
local function window_remove(key, member)
  local sums = key .. ':sums'
  if redis.call('EXISTS', sums) == 1 then
    sums = window_sums(key)
    local score = redis.call('ZSCORE', key, member)
    if not score then return end
    redis.call('ZREM', key, member)
    window_sums_add(sums, score, -window_amount(member))
    redis.call('HSET', sums, 'built', window_built(key))
  else
    redis.call('ZREM', key, member)
  end
end
