"""The audit log's shard index (Rekor's way): which scheme the log is written in, from which entry. This version
writes and verifies one scheme (`CURRENT`), so a log is one shard: shard 1, of scheme 2, opened by the log's first
entry. A later change of scheme freezes it where the new scheme's first entry goes and opens shard 2, so a verifier
knows which rules each entry is checked by without guessing from its form.

The index is a Redis hash (`Keys.audit_shards`, `{n: JSON}`), written by the append step itself
(bot/store/lua/lib/audit.lua) the one time it reads the stream: at a new counter, when the log has no entry yet. So an
append stays one Lua call, and one INCR and one XADD after the first.

    >>> read_index({"1": '{"scheme": "2", "first_id": "6-0", "first_seq": "1"}'}).name
    'shard 1 (scheme 2)'
    >>> read_index({"1": '{"scheme": "legacy", "last_id": "5-0"}'})
    Traceback (most recent call last):
    ...
    bot.audit.shards.ShardIndexError: shard 1 is of scheme 'legacy', not of this scheme (2): this version verifies \
no other (the old chain's shard was written by versions before 0.1.0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

CURRENT = "2"  # this scheme (bot/audit/walk.py; its checkpoints say `v` 2); lua/lib/audit.lua writes it too


class ShardIndexError(ValueError):
    """The shard index is not one of this scheme: the message says why."""


@dataclass(frozen=True)
class Shard:
    number: int
    scheme: str
    first_id: str = ""  # the stream id of its first entry ("": not recorded)
    first_seq: int = 0  # its first seq (0: not recorded)

    @property
    def name(self) -> str:
        """How a finding names it: `shard 1 (scheme 2)`."""
        return f"shard {self.number} (scheme {self.scheme})"


ONE = Shard(1, CURRENT)  # the log's one shard, as named when the log has no index (written before it existed)


def read_index(stored: dict[str, str]) -> Shard | None:
    """The log's shard from its stored index (`AuditLog.shards`; None: no index), or ShardIndexError when it is not
    an index of one shard of this scheme."""
    if not stored:
        return None
    if sorted(stored) != ["1"]:
        raise ShardIndexError(f"its shards are numbered {sorted(n[:20] for n in stored)}, not ['1']: this version"
                              " writes one shard")
    text = stored["1"]
    try:
        record = json.loads(text)
        scheme, first_id, first_seq = str(record["scheme"]), str(record.get("first_id", "")), int(
            record.get("first_seq", 0))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise ShardIndexError(f"shard '1' is not a shard's record: {text[:80]!r}") from None
    if scheme != CURRENT:
        raise ShardIndexError(f"shard 1 is of scheme {scheme[:20]!r}, not of this scheme ({CURRENT}): this version"
                              " verifies no other (the old chain's shard was written by versions before 0.1.0)")
    return Shard(1, scheme, first_id, first_seq)
