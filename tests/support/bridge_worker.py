"""A worker of the released version that upgraded from the old chain (before #44) through the bridge (commit 4590725,
before the shards of #52 item 6), as far as the audit log goes: what the shards' tests of such a log
(tests/audit/test_bridged.py) write its rolling upgrade with, beside the old workers of tests/support/old_worker.py.

- `bridge_append`: an append while the bridge was on, as that version's lua/lib/audit.lua did it (its first append
  of a script call numbered from the stream's newest entry, which may be an old worker's the counter did not count,
  and every entry ended `seq N prev bridge hash bridge`);
- `bridge_off`: the bridge ending, as its lua/audit_bridge.lua did (the counter taken past the old workers' entries);
  then this version's appends are plain, and no shard index is ever written (the counter is not new);
- `ReleasedWriter`: the checkpoint writer whose scheme 2 starts at the first entry the bridge marked, anchored on the
  old chain's last `hash` (that version's `_genesis`), so its checkpoints sign the bridged stretch too."""

from __future__ import annotations

from redis.commands.core import AsyncScript

from bot.audit.bridged import bridged
from bot.audit.checkpoints import Unsignable
from bot.audit.digests import ZERO, number_of, seq_of
from bot.audit.legacy import link_of
from bot.store import Store
from tests.support.audit_log import UnannouncedWriter

# that version's audit_append with the bridge on (its `audit_seq_of` and the `audit_bridged` branch), one entry
# a call: KEYS audit, audit_seq; ARGV the fields, flat
BRIDGE_APPEND = """
local function audit_seq_of(entry_fields)
  local n = #entry_fields
  if n >= 2 and entry_fields[n - 1] == 'seq' then return tonumber(entry_fields[n]) end
  if n >= 6 and entry_fields[n - 5] == 'seq' and entry_fields[n - 3] == 'prev' and entry_fields[n - 1] == 'hash' then
    return tonumber(entry_fields[n - 4])
  end
  return nil
end
local seq = redis.call('INCR', KEYS[2])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local before = last[1] and audit_seq_of(last[1][2])
if before and before >= seq then
  seq = before + 1
  redis.call('SET', KEYS[2], seq)
end
local args = {'XADD', KEYS[1], '*'}
for i = 1, #ARGV do args[#args + 1] = ARGV[i] end
args[#args + 1] = 'seq'
args[#args + 1] = string.format('%d', seq)
args[#args + 1] = 'prev'
args[#args + 1] = 'bridge'
args[#args + 1] = 'hash'
args[#args + 1] = 'bridge'
return {seq, redis.call(unpack(args))}
"""

BRIDGE_OFF = """
local function audit_seq_of(entry_fields)
  local n = #entry_fields
  if n >= 2 and entry_fields[n - 1] == 'seq' then return tonumber(entry_fields[n]) end
  if n >= 6 and entry_fields[n - 5] == 'seq' and entry_fields[n - 3] == 'prev' and entry_fields[n - 1] == 'hash' then
    return tonumber(entry_fields[n - 4])
  end
  return nil
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local before = last[1] and audit_seq_of(last[1][2])
if before and before > (tonumber(redis.call('GET', KEYS[2])) or 0) then
  redis.call('SET', KEYS[2], before)
end
return 1
"""


def _script(store: Store, source: str) -> AsyncScript:
    return store.redis.register_script(source)


async def bridge_append(store: Store, event: str = "decision", **fields: str) -> tuple[int, str]:
    """One entry written as the released version wrote it while the bridge was on: (its seq, its stream id)."""
    flat = ["event", event, *(part for pair in fields.items() for part in pair)]
    seq, entry_id = await _script(store, BRIDGE_APPEND)(keys=[store.keys.audit, store.keys.audit_seq], args=flat)
    return int(seq), entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def bridge_off(store: Store) -> None:
    """The bridge ends: the counter taken past the newest entry (an old worker's, which it did not count)."""
    await _script(store, BRIDGE_OFF)(keys=[store.keys.audit, store.keys.audit_seq])


class ReleasedWriter(UnannouncedWriter):
    """The checkpoint writer, its scheme starting as the released version's did: at the first entry ending with
    `seq` or marked by the bridge (signed once the log's newest entry is plain)."""

    async def _genesis(self) -> tuple[int, str, int, str, float]:
        audit = self._store.audit
        lower = "-"
        before: tuple[str, dict[str, str]] | None = None
        oldest: int | None = None
        while batch := await audit.chained(lower=lower, count=1000):
            for entry_id, fields in batch:
                seq = number_of(fields)
                if oldest is None and seq is not None:
                    oldest = seq
                if seq_of(fields) is not None or bridged(fields):
                    if seq == 1 and before is None:
                        return 0, ZERO, 1, entry_id, 0.0
                    link = link_of(*before) if before is not None else None
                    if link is None or link.seq + 1 != seq or link.computed != link.hash:
                        raise Unsignable(f"the first entry of the new scheme, {entry_id} (seq {seq}), follows"
                                         " no entry of the old chain")
                    return link.seq, link.hash, oldest or seq, entry_id, 0.0
                before = (entry_id, fields)
            lower = "(" + batch[-1][0]
        raise Unsignable("no entry of the new scheme yet")
