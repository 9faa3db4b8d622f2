"""A rolling upgrade through the bridge, checked in pure Python, so logs written during one still verify: the rules
of a shard of scheme `bridged` (bot/audit/shards.py), a frozen shard of its own kind.

The released version before the shards (#52 item 6) upgraded from the old chain (before #44, bot/audit/legacy.py)
with workers of both versions writing at once: while a worker of the old chain was alive, that version's append step
numbered each entry from the stream's newest one and ended it `seq N prev bridge hash bridge` (`bridge` is no
SHA-256), so the old workers' step, which numbers from the newest entry when it ends with `seq`, `prev`, `hash`, went
on with the numbering. The two forms interleave: the bridge's entries, and the old workers', which chain as the old
chain did (`prev` the `hash` of the entry before, which may be `bridge`). Such a log has no shard index: its shard
of this kind runs from its first entry marked `bridge` (or the first of the old form that a checkpoint of scheme 2
covers: its first ones trimmed) to the last before the first entry of this scheme's plain form, ending with `seq`.

Its entries are numbered as this scheme's are, and the checkpoints of scheme 2 signed them (each hashed whole,
bot/audit/walk.py, the first anchored on the old chain's last `hash`; their digest chain runs on into the next
shard). Beyond those checkpoints each is checked as its writer wrote it (`check_entry`):

- the bridge's: its `prev` is `bridge` too;
- an old worker's: its fields hash to its `hash` and its `prev` is the `hash` of the entry before it; one that starts
  the chain again at seq 1 (`prev` 64 zeros) after numbered entries was written while the bridge was off.

The old workers' checkpoints of the old chain's form, signed during the upgrade, each name an entry by seq, stream
id and `hash`: `compare` holds that entry to them.

    >>> bridged({"event": "settings", "seq": "12", "prev": "bridge", "hash": "bridge"})
    True
    >>> check_entry("5-0", {"event": "settings", "seq": "12", "prev": "x", "hash": "bridge"}, 12, before=None,
    ...             after=11, covered=None).why
    "it ends as the bridge's entries do, but its `prev` is not 'bridge'"
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.audit.digests import TAIL
from bot.audit.legacy import ZERO, Checkpoint, entry_hash
from bot.audit.walk import Problem

BRIDGE = "bridge"  # `prev` and `hash` of the bridge's entries: no SHA-256, so none is taken for the old chain's


def bridged(fields: Mapping[str, str]) -> bool:
    """Whether the bridge wrote the entry (a worker of the released version, during the upgrade): it ends `prev
    bridge hash bridge`."""
    return fields.get("hash") == BRIDGE and tuple(fields)[-3:] == TAIL


def check_entry(
    entry_id: str, fields: Mapping[str, str], seq: int, *, before: Mapping[str, str] | None, after: int | None,
    covered: tuple[int, int] | None,
) -> Problem | None:
    """An entry of the shard ending with `seq`, `prev`, `hash` (seq `seq`): the bridge's or an old worker's.
    `before`: the fields of the entry before it; `after`: the seq of the last entry of the shard taken (None: none
    yet); `covered`: the seqs the checkpoints of scheme 2 cover (first, last), which cover all of such an entry."""
    prev, digest = fields["prev"], fields["hash"]
    if digest != BRIDGE and (seq, prev) == (1, ZERO) and after is not None:
        return Problem("inserted", entry_id, after + 1, "an entry of the old chain that starts it again at seq 1, after"
                       " entries of the new scheme: a worker of the old version wrote it while the bridge was off (no"
                       " worker of the new version saw it alive)")
    if covered is not None and covered[0] <= seq <= covered[1]:
        return None
    if digest == BRIDGE:
        if prev != BRIDGE:
            return Problem("altered", entry_id, seq, f"it ends as the bridge's entries do, but its `prev` is not"
                           f" {BRIDGE!r}")
        return None
    if entry_hash(fields) != digest:
        return Problem("altered", entry_id, seq, "an old worker's entry whose fields do not hash to its `hash`")
    if before is not None and before.get("hash") != prev:
        return Problem("altered", entry_id, seq, "an old worker's entry whose `prev` is not the `hash` of the entry"
                       " before it")
    return None


def compare(signed: Checkpoint, entry_id: str, fields: Mapping[str, str], seq: int) -> Problem | None:
    """The entry of seq `seq` against the old worker's checkpoint of that seq (signed during the upgrade)."""
    if (entry_id, fields.get("hash")) == (signed.entry_id, signed.hash):
        return None
    return Problem("altered", entry_id, seq, f"checkpoint {signed.id} (of the old chain's form, signed by an old worker"
                   f" during the upgrade) signed another entry for this seq: entry {signed.entry_id}")
