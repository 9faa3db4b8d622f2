"""The audit log as a sequence of shards (Rekor's way): each shard written in one scheme and verified by its own
rules, the old ones frozen. A change of scheme starts a new shard and freezes the old one; nothing is written in a
frozen shard's scheme after that, and an entry that is (a worker of the old version still running) is a finding.

The index is a Redis hash (`Keys.audit_shards`, `{n: JSON}`), written by the append step itself
(bot/store/lua/lib/audit.lua) the one time it reads the stream's newest entry: at a new counter. A new log opens
shard 1 of this scheme; this version's first entry after the old chain's (before #44) freezes the old chain's shard at
its newest entry (its stream id, seq and hash recorded) and opens shard 2, whose seq goes on from there and whose
first checkpoint anchors on that hash. So an append stays one Lua call, and one INCR and one XADD after the first.

    >>> shards = read_index({"1": '{"scheme": "legacy", "last_id": "5-0", "last_seq": "7", "last_hash": "ab"}',
    ...                      "2": '{"scheme": "2", "first_id": "6-0", "first_seq": "8"}'})
    >>> [shard.name for shard in shards]
    ['shard 1 (scheme legacy)', 'shard 2 (scheme 2)']
    >>> shards[0].frozen, shards[1].frozen
    (True, False)

A log written before the index existed has none: its shards are told by their entries' form (the old chain's end
with `seq`, `prev`, `hash`; this scheme's with `seq`), as `inferred` numbers them; a stretch written during a rolling
upgrade through the bridge (entries ending `prev bridge hash bridge` among the old workers') is a shard of scheme
`bridged` between them, put in by `with_bridged` where the walk meets it.

    >>> [shard.name for shard in with_bridged(inferred(True))]
    ['shard 1 (scheme legacy)', 'shard 2 (scheme bridged)', 'shard 3 (scheme 2)']
"""

from __future__ import annotations

import json
from dataclasses import dataclass

LEGACY = "legacy"  # the old Lua-hashed chain (bot/audit/legacy.py)
BRIDGED = "bridged"  # a rolling upgrade through the bridge: both forms interleaved (bot/audit/bridged.py)
CURRENT = "2"  # this scheme (bot/audit/walk.py; its checkpoints say `v` 2); lua/lib/audit.lua writes it too


class ShardIndexError(ValueError):
    """The shard index is not one: the message says why."""


@dataclass(frozen=True)
class Shard:
    number: int
    scheme: str
    first_id: str = ""  # the stream id of its first entry ("": not recorded, as for the old chain's shard)
    first_seq: int = 0  # its first seq (0: not recorded)
    last_id: str = ""  # frozen: the stream id of its last entry ("": the shard the log is written in)
    last_seq: int = 0
    last_hash: str = ""  # frozen, of the old chain: its last entry's `hash`, the head the next shard anchors on

    @property
    def frozen(self) -> bool:
        return bool(self.last_id)

    @property
    def name(self) -> str:
        """How a finding names it: `shard 2 (scheme 2)`."""
        return f"shard {self.number} (scheme {self.scheme})"


def read_index(stored: dict[str, str]) -> list[Shard]:
    """The shards of a stored index (`AuditLog.shards`), by number; ShardIndexError when it is not an index."""
    shards: list[Shard] = []
    for number, text in stored.items():
        try:
            record = json.loads(text)
            shard = Shard(int(number), str(record["scheme"]), str(record.get("first_id", "")),
                          int(record.get("first_seq", 0)), str(record.get("last_id", "")),
                          int(record.get("last_seq", 0)), str(record.get("last_hash", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ShardIndexError(f"shard {number[:20]!r} is not a shard's record: {text[:80]!r}") from None
        shards.append(shard)
    shards.sort(key=lambda shard: shard.number)
    if [shard.number for shard in shards] != list(range(1, len(shards) + 1)):
        raise ShardIndexError(f"its shards are numbered {[shard.number for shard in shards]}, not 1, 2, ...")
    if any(not shard.frozen for shard in shards[:-1]) or (shards and shards[-1].frozen):
        raise ShardIndexError("every shard but the last must be frozen, and the last not")
    return shards


def inferred(legacy: bool) -> list[Shard]:
    """The shards of a log without an index (written before it existed): the old chain's, if it has one, then
    this scheme's."""
    return [Shard(1, LEGACY), Shard(2, CURRENT)] if legacy else [Shard(1, CURRENT)]


def with_bridged(shards: list[Shard]) -> list[Shard]:
    """The shards of a log without an index, with the shard of a rolling upgrade through the bridge put in before
    this scheme's (renumbered)."""
    if by_scheme(shards, BRIDGED) is not None:
        return shards
    schemes = [shard.scheme for shard in shards if shard.scheme != CURRENT] + [BRIDGED, CURRENT]
    return [Shard(number, scheme) for number, scheme in enumerate(schemes, 1)]


def by_scheme(shards: list[Shard], scheme: str) -> Shard | None:
    """The shard written in `scheme` (one per scheme: a scheme is never written again once frozen)."""
    return next((shard for shard in shards if shard.scheme == scheme), None)


def stream_key(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (`ms-n`)."""
    ms, _, number = entry_id.partition("-")
    return int(ms), int(number or 0)
