-- The digest of a channel's settings hash as HGETALL lists it (field, value, ...): what a worker's copy of them
-- was read as (lua/settings_read.lua), checked again by the open step (lua/open_approval.lua). In the hash's own
-- order, read here both times: a hash unchanged in between gives the same digest.
local function settings_digest(flat)
  return redis.sha1hex(table.concat(flat, '\0') .. '\0' .. #flat)
end
