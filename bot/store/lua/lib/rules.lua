-- Whether the "always allow" rule `rule` no longer stands: revoked (not in `rules`, the rules' hash, a declared key)
-- or expired at `now`.
local function rule_lapsed(rules, rule, now)
  local raw = redis.call('HGET', rules, rule)
  return not raw or tonumber(cjson.decode(raw).expires_at) <= tonumber(now)
end
