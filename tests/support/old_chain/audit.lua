-- The one way to write the audit stream: every script that appends an entry calls audit_append
-- (and declares `--! uses: sha256 audit`), so every entry is chained to the one before it in the
-- same atomic step (a test checks that nothing else XADDs to it).
--
-- The chain: an entry is the caller's fields, in their order, followed by `seq` (the last entry's
-- seq + 1, or 1), `prev` (the last entry's `hash`, or 64 zeros) and `hash`: the hex SHA-256
-- (lua/lib/sha256.lua) of the canonical encoding of all its fields but `hash`, in stored order. The
-- encoding is one netstring pair per field, `<len(name)>:<name>,<len(value)>:<value>,` (byte
-- lengths). Names are never sorted here (Redis may run Lua under a collation locale): the stored order
-- is the canonical one. bot/report/audit_chain.py checks the same from Python.
local AUDIT_ZERO = string.rep('0', 64)
local AUDIT_CHAIN = {seq = true, prev = true, hash = true}

-- The seq (a number) and hash of a stream entry's flat field list, when it ends with the chain's three
-- fields; nil for an entry written before the chain.
local function audit_chain_of(entry_fields)
  local n = #entry_fields
  if n >= 6 and entry_fields[n - 5] == 'seq' and entry_fields[n - 3] == 'prev' and entry_fields[n - 1] == 'hash' then
    local seq = tonumber(entry_fields[n - 4])
    if seq then return seq, entry_fields[n] end
  end
  return nil
end

local function audit_text(value)
  if type(value) == 'string' then return value end
  if type(value) == 'number' then return string.format('%.17g', value) end  -- as redis.call would
  error('an audit field is not a string or a number')
end

-- Append `fields` ({k1, v1, k2, v2, ...}) to the stream `key`, trimmed to `minid` (approximately), chained
-- to its last entry. Returns the new entry's seq and stream id.
local function audit_append(key, minid, fields)
  local seq, prev = 1, AUDIT_ZERO
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if last[1] then
    local last_seq, last_hash = audit_chain_of(last[1][2])
    if last_seq then seq, prev = last_seq + 1, last_hash end
  end
  local args = {'XADD', key, 'MINID', '~', minid, '*'}
  local parts = {}
  local function add(name, value)
    args[#args + 1] = name
    args[#args + 1] = value
    parts[#parts + 1] = #name .. ':' .. name .. ',' .. #value .. ':' .. value .. ','
  end
  for i = 1, #fields, 2 do
    local name = audit_text(fields[i])
    if AUDIT_CHAIN[name] then error('the audit field ' .. name .. ' is the chain\'s own') end
    add(name, audit_text(fields[i + 1]))
  end
  add('seq', string.format('%d', seq))
  add('prev', prev)
  args[#args + 1] = 'hash'
  args[#args + 1] = sha256hex(table.concat(parts))
  local id = redis.call(unpack(args))
  return seq, id
end
