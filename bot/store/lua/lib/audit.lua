--! needs: audit_floor
-- The one way to write the audit stream: every script that appends an entry calls audit_append
-- (and declares `--! uses: audit` and the keys audit, audit_seq and audit_shards), so every entry is
-- numbered in the same atomic step that writes it (a test checks that nothing else XADDs to it).
--
-- An entry is the caller's fields, in their order, followed by `seq`: the next number of the counter
-- `Keys.audit_seq` (1 for the first). That is all the write path does: no hashing here. The workers hash the entries by seq
-- off this path and sign the result (bot/audit/checkpoints.py); bot/audit/ verifies both. Trimming is the checkpoint
-- writer's (it signs where the log starts), never this step's.
--
-- The shard index (bot/audit/shards.py): `Keys.audit_shards`, {n: JSON}, says which scheme the log is written in,
-- from which entry; this version writes one, shard 1 of this scheme. A new counter (INCR gives 1: a new log, or a
-- lost counter) is the one time this step reads the stream's newest entry and the index: a log with no entry and no
-- index gets its shard 1 (this entry opens it); in a log with entries the seq goes on from the newest one's.
-- Every other append is one INCR and one XADD.
-- The floor (`Keys.audit_floor`, {seq, run, ...}): once an archive holds entries, its writer keeps there the last seq
-- the archive holds and the Redis run (INFO's run_id) it confirmed the counter in (lua/audit_floor.lua). A Redis
-- that restarted since (a restore from an older backup is one) has another run_id: every script that may append an
-- entry is then held before it writes anything to the log (AUDIT_HELD: bot/store/scripts.py tries again) until a
-- worker has raised the counter past the archive and confirmed the floor for this run. While held, each step says
-- the highest seq its worker was given (`AUDIT_KNOWN`, from the loader; kept at most) and when the hold began (`held_at`, ms), so
-- the counter resumes past those too. So no seq is numbered again, whichever worker asks first after the restart.
-- No floor (no archive yet): no hold.
local function audit_run()
  return string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
end

local function audit_held(floor_key)
  local run = redis.call('HGET', floor_key, 'run')
  if not run or run == audit_run() then return false end
  local known = AUDIT_KNOWN
  if known > (tonumber(redis.call('HGET', floor_key, 'known') or '0') or 0) then
    redis.call('HSET', floor_key, 'known', string.format('%d', known))
  end
  local now = redis.call('TIME')
  redis.call('HSETNX', floor_key, 'held_at', string.format('%d', now[1] * 1000 + math.floor(now[2] / 1000)))
  return true
end
if audit_held(K.audit_floor) then  -- (at load, before the script's own lines: a step held writes no entry)
  return redis.error_reply('AUDIT_HELD Redis restarted since the audit floor was confirmed: numbering waits for a'
                           .. ' worker to check the counter against the archive')
end

local AUDIT_OWN = {seq = true}
local AUDIT_SCHEME = '2'  -- this scheme's name in the shard index (bot/audit/shards.py: CURRENT)

local function audit_text(value)
  if type(value) == 'string' then return value end
  if type(value) == 'number' then return string.format('%.17g', value) end  -- as redis.call would
  error('an audit field is not a string or a number')
end

-- A new counter (above): the seq this entry takes, and whether it opens shard 1.
local function audit_restart(key, seq_key, shards_key, seq)
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  local fields = last[1] and last[1][2]
  if not fields then return seq, redis.call('EXISTS', shards_key) == 0 end
  local n = #fields
  local before = n >= 2 and fields[n - 1] == 'seq' and tonumber(fields[n])
  if before and before >= seq then
    seq = before + 1
    redis.call('SET', seq_key, seq)
  end
  return seq, false
end

-- Append `fields` ({k1, v1, k2, v2, ...}) to the stream `key`, numbered by the counter `seq_key` (one INCR: reading
-- the last entry back costs Redis more than the XADD); a new log's first entry opens shard 1 in `shards_key` (above).
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
  local opens = false
  if seq == 1 then seq, opens = audit_restart(key, seq_key, shards_key, seq) end
  args[#args + 1] = 'seq'
  args[#args + 1] = string.format('%d', seq)
  local id = redis.call(unpack(args))
  if opens then
    redis.call('HSET', shards_key, '1', cjson.encode({scheme = AUDIT_SCHEME, first_seq = string.format('%d', seq),
                                                      first_id = id}))
  end
  return seq, id
end
