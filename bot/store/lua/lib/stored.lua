-- An approval as the scripts return it: its hash, and its long texts as the pseudo-field _text.
local function stored(key, texts_key)
  local fields = redis.call('HGETALL', key)
  fields[#fields + 1] = '_text'
  fields[#fields + 1] = redis.call('GET', texts_key) or ''
  return fields
end
