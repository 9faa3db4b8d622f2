"""The old audit chain (before #44), checked in pure Python, so logs written by it still verify after the upgrade:
the rules of a shard of scheme `legacy` (bot/audit/shards.py); bot/audit/verify.py hands it that shard's entries and
the old checkpoints, oldest first.

Each of those entries ends with `seq`, `prev` and `hash` (the Lua step that wrote it computed them): `hash` is the hex
SHA-256 of the canonical encoding of all its other fields in stored order, one netstring pair per field
(`<len(name)>:<name>,<len(value)>:<value>,`, byte lengths), and `prev` is the previous entry's `hash`. An old
checkpoint `{seq, hash, id, at}` signed the chain's head at its seq.

The walk reports the first problem, by stream id and seq, as one of:

- altered: an entry whose recomputed hash is not its `hash`, whose `hash` is not the next entry's `prev`, or whose
  `hash` is not the one a signed checkpoint holds for its seq;
- deleted: a gap in `seq` (the next entry links to one that is gone), or a checkpoint beyond the last entry (the
  end of the log was cut);
- inserted: an entry without chain fields after chained ones, a repeated seq, or a `prev` that links to nothing.

Entries written before the chain existed have no chain fields: the walk skips them only in front of the chain's
very first entry (seq 1, `prev` 64 zeros). In front of any later seq they are entries whose chain fields were
removed (what a checkpoint covered, never skipped): reported as altered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.audit.shards import stream_key
from bot.audit.walk import Problem

ZERO = "0" * 64  # the `prev` of the chain's first entry
CHAIN_FIELDS = ("seq", "prev", "hash")
HEX = frozenset("0123456789abcdef")

def canonical(fields: Iterable[tuple[str, str]]) -> bytes:
    """The canonical encoding of fields in their order: `<len(name)>:<name>,<len(value)>:<value>,` each."""
    parts: list[bytes] = []
    for name, value in fields:
        raw_name, raw_value = name.encode(), value.encode()
        parts += [b"%d:" % len(raw_name), raw_name, b",%d:" % len(raw_value), raw_value, b","]
    return b"".join(parts)


def entry_hash(fields: Mapping[str, str]) -> str:
    """The hash an entry's fields (in stored order) should end with: of every field but `hash` itself."""
    return hashlib.sha256(canonical((k, v) for k, v in fields.items() if k != "hash")).hexdigest()


@dataclass(frozen=True)
class Link:
    """An entry's place in the chain."""

    id: str
    seq: int
    prev: str
    hash: str
    computed: str  # what its fields hash to


def link_of(entry_id: str, fields: Mapping[str, str]) -> Link | None:
    """The entry's chain fields, or None when it has none (the last three fields are not `seq`, `prev`, `hash`
    with a positive seq and 64-hex hashes)."""
    if tuple(fields)[-3:] != CHAIN_FIELDS:
        return None
    seq, prev, digest = fields["seq"], fields["prev"], fields["hash"]
    if not (seq.isascii() and seq.isdigit() and int(seq) > 0 and _hex(prev) and _hex(digest)):
        return None
    return Link(entry_id, int(seq), prev, digest, entry_hash(fields))


def _hex(text: str) -> bool:
    return len(text) == 64 and set(text) <= HEX


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature verified (or, `signed` False, one that could not be checked: no key)."""

    id: str  # its stream id in the checkpoints stream
    seq: int
    hash: str
    entry_id: str
    at: float
    signed: bool = True


@dataclass
class ChainWalk:
    """Feed entries oldest first (`feed`), then `finish`; the first problem stops the walk. `start`: a checkpoint
    the walk begins at (`--since`): the first entry fed must be the one it signed."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    start: Checkpoint | None = None
    checked: int = 0
    skipped: int = 0  # entries before the first chained one (written before the chain existed)
    skipped_first: str = ""  # the stream id of the first of them
    first: Link | None = None
    last: Link | None = None
    matched: list[Checkpoint] = field(default_factory=list)  # checkpoints the chain reached
    problem: Problem | None = None
    _before: Link | None = None  # the entry before `last`
    _by_seq: dict[int, Checkpoint] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for checkpoint in self.checkpoints:  # the first for a seq (an old worker's after the freeze restarts at 1)
            if self.start is None or checkpoint.seq >= self.start.seq:
                self._by_seq.setdefault(checkpoint.seq, checkpoint)

    def feed(self, entry_id: str, fields: Mapping[str, str]) -> Problem | None:
        """Check one more entry; the problem it shows (kept in `problem`), if any."""
        if self.problem is None:
            self.problem = self._check(entry_id, fields)
        return self.problem

    def _check(self, entry_id: str, fields: Mapping[str, str]) -> Problem | None:
        link = link_of(entry_id, fields)
        last = self.last
        if link is None:
            if last is None and self.start is None:
                self.skipped += 1
                self.skipped_first = self.skipped_first or entry_id
                return None
            seq = last.seq + 1 if last is not None else self.start.seq if self.start is not None else 0
            return Problem("inserted", entry_id, seq, "it has no chain fields (seq, prev, hash), after chained entries")
        if link.computed != link.hash:
            return Problem("altered", entry_id, link.seq, "its fields do not hash to its `hash`")
        problem: Problem | None
        if last is None and self.skipped and self.start is None and (link.seq, link.prev) != (1, ZERO):
            problem = Problem("altered", self.skipped_first, max(1, link.seq - self.skipped), f"it and"
                              f" {self.skipped - 1:,} more entries have no chain fields, yet the chain's first entry"
                              f" here is seq {link.seq}, not seq 1: their chain fields were removed")
        elif last is None:
            problem = self._check_first(link)
        elif link.seq == last.seq + 1:
            problem = None if link.prev == last.hash else self._misfit(link, last)
        elif link.seq > last.seq + 1:
            if link.prev == last.hash:  # it links to the entry before it, yet claims a later seq
                problem = Problem("inserted", entry_id, link.seq, f"its seq skips from {last.seq} though it links to"
                                  f" entry {last.id}")
            else:
                problem = Problem("deleted", entry_id, last.seq + 1, f"entries seq {last.seq + 1} to {link.seq - 1}"
                                  f" are missing between entry {last.id} and this one")
        elif self._before is not None and link.seq == last.seq and link.prev == self._before.hash:
            # it links past the last entry: that one was put in between
            problem = Problem("inserted", last.id, last.seq, f"entry {link.id} has the same seq and links past it")
        else:
            problem = Problem("inserted", entry_id, link.seq, f"its seq repeats or goes back (after seq {last.seq})")
        if problem is None:
            problem = self._check_checkpoint(link)
        if problem is None:
            self._before, self.last = last, link
            self.checked += 1
            if self.first is None:
                self.first = link
        return problem

    def _check_first(self, link: Link) -> Problem | None:
        start = self.start
        if start is not None:
            if link.seq != start.seq or link.id != start.entry_id:
                return Problem("deleted" if link.seq > start.seq else "inserted", link.id, link.seq,
                               f"the walk starts at checkpoint {start.id}, which signed seq {start.seq}"
                               f" (entry {start.entry_id})")
            return None
        if link.seq == 1 and link.prev != ZERO:
            return Problem("inserted", link.id, 1, "it is seq 1 but its `prev` links to an entry")
        anchor = self._by_seq.get(link.seq - 1)  # the checkpoint just before the retained entries, if kept
        if anchor is not None:
            if link.prev != anchor.hash:
                return Problem("altered", link.id, link.seq, f"its `prev` is not the hash checkpoint {anchor.id}"
                               f" signed for seq {anchor.seq}")
            self.matched.append(anchor)
        return None

    @staticmethod
    def _misfit(link: Link, last: Link) -> Problem:
        """`link` follows `last` by seq but its `prev` is not `last`'s hash: `last` was rewritten (its own hash
        recomputed to fit its new fields)."""
        return Problem("altered", last.id, last.seq, f"its `hash` is not the `prev` of the next entry {link.id}")

    def _check_checkpoint(self, link: Link) -> Problem | None:
        checkpoint = self._by_seq.get(link.seq)
        if checkpoint is None:
            return None
        if link.hash != checkpoint.hash or link.id != checkpoint.entry_id:
            since = max((c.seq for c in self.matched), default=(self.first or link).seq - 1)
            return Problem("altered", link.id, link.seq, f"checkpoint {checkpoint.id} signed another entry for this"
                           f" seq: an entry from seq {since + 1} to {link.seq} was altered and the chain rewritten")
        self.matched.append(checkpoint)
        return None

    def set_aside(self, entry_id: str) -> list[Checkpoint]:
        """The checkpoints that sign an entry after stream id `entry_id`, where this shard was frozen (an old
        worker's, after it), which this walk no longer checks, oldest first."""
        end = stream_key(entry_id)
        aside = [c for c in self.checkpoints if stream_key(c.entry_id) > end]
        for checkpoint in aside:
            if self._by_seq.get(checkpoint.seq) is checkpoint:
                del self._by_seq[checkpoint.seq]
        return aside

    def finish(self) -> Problem | None:
        """After the last entry: a checkpoint beyond it means the end of the log was cut."""
        if self.problem is not None:
            return self.problem
        end = self.last.seq if self.last is not None else self.start.seq - 1 if self.start is not None else 0
        beyond = [c for c in self._by_seq.values() if c.seq > end]
        if beyond:
            cut = max(beyond, key=lambda c: c.seq)
            after = f"after entry {self.last.id}" if self.last is not None else "(no chained entry is left)"
            self.problem = Problem("deleted", cut.entry_id, end + 1, f"checkpoint {cut.id} signed seq {cut.seq}, but"
                                   f" the log ends at seq {end} {after}: entries seq {end + 1} to {cut.seq} are gone")
        return self.problem

    @property
    def signed(self) -> list[Checkpoint]:
        """The checkpoints the chain reached whose signature verified."""
        return [c for c in self.matched if c.signed]

    @property
    def unsigned_tail(self) -> int:
        """Entries after the last signed checkpoint reached: covered only by the chain, whose head is in Redis."""
        if self.last is None:
            return 0
        signed = [c.seq for c in self.signed]
        since = max(signed) if signed else (self.first.seq - 1 if self.first is not None else 0)
        return self.last.seq - since
