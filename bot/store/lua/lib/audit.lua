-- The one way to write the audit stream: every script that appends an entry calls audit_append
-- (and declares `--! uses: audit` and the keys audit, audit_seq and audit_bridge), so every entry is
-- numbered in the same atomic step that writes it (a test checks that nothing else XADDs to it).
--
-- An entry is the caller's fields, in their order, followed by `seq`: the next number of the counter
-- `Keys.audit_seq` (1 for the first). That is all the write path does: no hashing here. The workers hash the entries by seq
-- off this path and sign the result (bot/audit/checkpoints.py); bot/audit/ verifies both. An entry
-- written before #44 ends with `seq`, `prev` and `hash` (the Lua chain it replaced, bot/audit/legacy.py):
-- its seq counts too, so the numbering goes on across the upgrade. Trimming is the checkpoint
-- writer's (it signs where the log starts), never this step's.
--
-- The bridge (a rolling upgrade: workers of the old chain still write, bot/audit/bridge.py sets
-- `Keys.audit_bridge` while one is alive): an old worker's step numbers its entry from the stream's newest
-- entry, if that ends with `seq`, `prev`, `hash` (else it starts again at seq 1). So while the flag is set,
-- each script's first append numbers from the newest entry too (it may be an old worker's, which the counter
-- did not count), and every entry ends with `seq N prev bridge hash bridge`: the old step then goes on at N + 1.
-- `bridge` is no SHA-256 (not 64 hex digits): no old-chain entry can be taken for one. Without the flag:
-- one EXISTS per script call, nothing more.
local AUDIT_OWN = {seq = true, prev = true, hash = true}
local AUDIT_BRIDGE = 'bridge'
local audit_bridged = nil  -- this script call's bridge state, looked up at its first append (nil: not yet)

-- The seq (a number) of a stream entry's flat field list: its last field (`seq`), or, for an entry
-- ending as the old chain's did (an old-chain entry, a bridge entry), the third from last; nil for an entry with neither.
local function audit_seq_of(entry_fields)
  local n = #entry_fields
  if n >= 2 and entry_fields[n - 1] == 'seq' then return tonumber(entry_fields[n]) end
  if n >= 6 and entry_fields[n - 5] == 'seq' and entry_fields[n - 3] == 'prev' and entry_fields[n - 1] == 'hash' then
    return tonumber(entry_fields[n - 4])
  end
  return nil
end

local function audit_text(value)
  if type(value) == 'string' then return value end
  if type(value) == 'number' then return string.format('%.17g', value) end  -- as redis.call would
  error('an audit field is not a string or a number')
end

-- Append `fields` ({k1, v1, k2, v2, ...}) to the stream `key`, numbered by the counter `seq_key` (one INCR: reading
-- the last entry back costs Redis more than the XADD). A new counter (the first entry, a log of the old chain, or a
-- lost counter) goes on from the stream's last entry, and so does the first append of a script call while the
-- flag `bridge_key` is set (above). Returns the new entry's seq and stream id.
local function audit_append(key, seq_key, bridge_key, fields)
  local seq = redis.call('INCR', seq_key)
  local first = audit_bridged == nil
  if first then audit_bridged = redis.call('EXISTS', bridge_key) == 1 end
  if seq == 1 or (first and audit_bridged) then
    local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    local before = last[1] and audit_seq_of(last[1][2])
    if before and before >= seq then
      seq = before + 1
      redis.call('SET', seq_key, seq)
    end
  end
  local args = {'XADD', key, '*'}
  for i = 1, #fields, 2 do
    local name = audit_text(fields[i])
    if AUDIT_OWN[name] then error('the audit field ' .. name .. ' is the log\'s own') end
    args[#args + 1] = name
    args[#args + 1] = audit_text(fields[i + 1])
  end
  args[#args + 1] = 'seq'
  args[#args + 1] = string.format('%d', seq)
  if audit_bridged then
    args[#args + 1] = 'prev'
    args[#args + 1] = AUDIT_BRIDGE
    args[#args + 1] = 'hash'
    args[#args + 1] = AUDIT_BRIDGE
  end
  local id = redis.call(unpack(args))
  return seq, id
end
