-- The one way to write the audit stream: every script that appends an entry calls audit_append
-- (and declares `--! uses: audit` and the keys audit, audit_seq and audit_shards), so every entry is
-- numbered in the same atomic step that writes it (a test checks that nothing else XADDs to it).
--
-- An entry is the caller's fields, in their order, followed by `seq`: the next number of the counter
-- `Keys.audit_seq` (1 for the first). That is all the write path does: no hashing here. The workers hash the entries by seq
-- off this path and sign the result (bot/audit/checkpoints.py); bot/audit/ verifies both. Trimming is the checkpoint
-- writer's (it signs where the log starts), never this step's.
--
-- Shards (bot/audit/shards.py): the log is a sequence of shards, each written in one scheme and verified by its own
-- rules, the old ones frozen; `Keys.audit_shards` is their index ({n: JSON}). A new counter (INCR gives 1: a new
-- log, this version's first entry after the old chain's, a lost counter) is the one time this step reads the
-- stream's newest entry and the index:
--   no index, no entry: a new log; this entry opens shard 1, of this scheme;
--   no index, the newest entry the old chain's (it ends with `seq`, `prev`, `hash`: before #44): that shard is
--     frozen at it (its id, seq and hash recorded: nothing may follow it in its scheme), and this entry opens shard
--     2, of this scheme, its seq going on from there (the scheme's first checkpoint anchors on that hash);
--   else (a lost counter): the seq goes on from the newest entry's.
-- Every other append is one INCR and one XADD.
local AUDIT_OWN = {seq = true, prev = true, hash = true}
local AUDIT_SCHEME = '2'  -- this scheme's name in the shard index (bot/audit/shards.py: CURRENT)

-- Whether a stream entry's flat field list ends as the old chain's entries do (`seq`, `prev`, `hash`).
local function audit_old_form(entry_fields)
  local n = #entry_fields
  return n >= 6 and entry_fields[n - 5] == 'seq' and entry_fields[n - 3] == 'prev' and entry_fields[n - 1] == 'hash'
end

-- The seq (a number) of a stream entry's flat field list: its last field (`seq`), or, for an entry
-- of the old chain, the third from last; nil for an entry with neither.
local function audit_seq_of(entry_fields)
  local n = #entry_fields
  if n >= 2 and entry_fields[n - 1] == 'seq' then return tonumber(entry_fields[n]) end
  if audit_old_form(entry_fields) then return tonumber(entry_fields[n - 4]) end
  return nil
end

local function audit_text(value)
  if type(value) == 'string' then return value end
  if type(value) == 'number' then return string.format('%.17g', value) end  -- as redis.call would
  error('an audit field is not a string or a number')
end

-- A new counter (above): the seq this entry takes, and the shards to record once it is written ({n, record}...,
-- the new shard's record still without its first stream id; none: the index stays as it is).
local function audit_restart(key, seq_key, shards_key, seq)
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  local fields = last[1] and last[1][2]
  local before = fields and audit_seq_of(fields)
  if before and before >= seq then
    seq = before + 1
    redis.call('SET', seq_key, seq)
  end
  if redis.call('EXISTS', shards_key) == 1 then return seq, {} end
  local opened = {scheme = AUDIT_SCHEME, first_seq = string.format('%d', seq)}
  if not fields then return seq, {{'1', opened}} end
  if before and audit_old_form(fields) then
    local frozen = {scheme = 'legacy', last_id = last[1][1], last_seq = string.format('%d', before),
                    last_hash = fields[#fields]}
    return seq, {{'1', frozen}, {'2', opened}}
  end
  return seq, {}
end

-- Append `fields` ({k1, v1, k2, v2, ...}) to the stream `key`, numbered by the counter `seq_key` (one INCR: reading
-- the last entry back costs Redis more than the XADD); a new counter may open a shard in `shards_key` (above).
-- Returns the new entry's seq and stream id.
local function audit_append(key, seq_key, shards_key, fields)
  local args = {'XADD', key, '*'}
  for i = 1, #fields, 2 do
    local name = audit_text(fields[i])
    if AUDIT_OWN[name] then error('the audit field ' .. name .. ' is the log\'s own') end
    args[#args + 1] = name
    args[#args + 1] = audit_text(fields[i + 1])
  end
  local seq = redis.call('INCR', seq_key)
  local shards = nil
  if seq == 1 then seq, shards = audit_restart(key, seq_key, shards_key, seq) end
  args[#args + 1] = 'seq'
  args[#args + 1] = string.format('%d', seq)
  local id = redis.call(unpack(args))
  if shards and #shards > 0 then
    shards[#shards][2].first_id = id
    for _, shard in ipairs(shards) do redis.call('HSET', shards_key, shard[1], cjson.encode(shard[2])) end
  end
  return seq, id
end
