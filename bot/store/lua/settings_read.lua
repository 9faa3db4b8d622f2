--! keys: settings
--! uses: settings
-- A channel's settings hash, with its digest (lua/lib/settings.lua): {digest, field, value, ...}.
local flat = redis.call('HGETALL', K.settings)
table.insert(flat, 1, settings_digest(flat))
return flat
