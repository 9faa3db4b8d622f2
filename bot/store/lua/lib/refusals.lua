-- Refused attempts, every one in the audit log without flooding it (PCI DSS 10.2.1: every invalid access attempt
-- logged). A refusal (one person's, for one reason: the caller's key) opens a quiet window of `window` seconds: the
-- first in it is written at once, as the caller's entry; the others in it are only counted in the key (a hash:
-- `until`, `count`, `entry`, the first's fields); when the window has closed, one summarising entry stands for them:
-- the first's fields, `at` the time it is written, `count` (how many more) and `since` (the first's `at`). It is
-- written by the next refusal after the window, or by a worker's sweeper (lua/refusals_due.lua: the key is in
-- `due`, by the window's end), whichever comes first, in the same atomic step that deletes the count: none is
-- lost when a worker dies, and none is written twice. Needs lua/lib/audit.lua.

-- Write the summary of the window `held` ({until, count, entry} as stored; nothing when none was counted).
local function refusal_summary(audit_keys, held, now)
  local count = tonumber(held[2] or '0') or 0
  if count <= 0 or not held[3] then return end
  local entry, since = cjson.decode(held[3]), ''
  for i = 1, #entry, 2 do
    if entry[i] == 'at' then since, entry[i + 1] = entry[i + 1], now end
  end
  for _, part in ipairs({'count', tostring(count), 'since', since}) do entry[#entry + 1] = part end
  audit_append(audit_keys[1], audit_keys[2], audit_keys[3], entry)
end

-- One refused attempt: `entry` (a flat field list, `event` first, then `at`) written now when it is the first of its
-- window (then true), else counted (false). `audit_keys`: {audit, audit_seq, audit_shards}.
local function refusal_noted(key, due, audit_keys, entry, now, window)
  local held = redis.call('HMGET', key, 'until', 'count', 'entry')
  if held[1] and tonumber(held[1]) > tonumber(now) then
    redis.call('HINCRBY', key, 'count', 1)
    return false
  end
  refusal_summary(audit_keys, held, now)
  audit_append(audit_keys[1], audit_keys[2], audit_keys[3], entry)
  local ends = tonumber(now) + tonumber(window)
  redis.call('HSET', key, 'until', string.format('%.6f', ends), 'count', '0', 'entry', cjson.encode(entry))
  redis.call('ZADD', due, ends, key)
  return true
end
