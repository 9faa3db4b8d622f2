"""The audit log checked against its signed checkpoints, in pure Python: what `python -m bot audit verify` walks
for the entries numbered by this scheme (bot/audit/verify.py reads Redis and hands them here, oldest first).

Every entry ends with `seq` (lua/lib/audit.lua numbers it in the step that writes it). A checkpoint (written by
bot/audit/checkpoints.py, one worker at a time) signs, for the entries seq `from` to `seq`: the head of the chain of
their digests (bot/audit/digests.py) from `prev` (the previous checkpoint's head, or the scheme's anchor), the stream
id of its last entry, and `start`: the seq the log starts at once its trim (of entries older than `trim`, ms) was
done. The digests themselves are kept beside the signature. So:

- every entry a checkpoint covers is hashed and compared with the digest kept for its seq: the first that differs
  is **altered** (or **inserted**, when the next entry has the same seq and the digest); when the kept digests
  themselves were rewritten, the signed head catches the range;
- seq runs on by one: a gap is **deleted** (by the first missing seq), a seq that repeats or goes back **inserted**,
  two entries that traded places are named; an entry without `seq` among numbered ones is **inserted**;
- the checkpoints follow one another (`from` the last `seq` + 1, `prev` its head): one missing is reported; the one
  exception is a checkpoint that signs a restore (`restored_gap` [from, to]: the seqs Redis lost when restored from
  an older backup, which the archive holds): it starts after them, and the walk crosses them as a known restore;
- the log must start where the newest checkpoint signed it starts: an older head deleted reads as **deleted**,
  not as a trim, and a signed trim of entries younger than the retention is reported;
- a checkpoint beyond the last entry: the end of the log was **deleted**.
Entries after the newest checkpoint (the unsigned tail, seconds old when a worker runs) are checked for their
numbering only; the summary says how many and since when.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Literal

from bot.audit.digests import leaf, seq_of

ProblemKind = Literal["altered", "deleted", "inserted"]


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    id: str  # the stream id of the entry at fault (for a deletion: the entry after the gap, or the checkpoint's)
    seq: int  # its seq (for a deletion: the first seq missing)
    why: str
    shard: str = ""  # the shard it is in, as `audit verify` names it (bot/audit/shards.py), once known

    def __str__(self) -> str:
        return (f"{self.shard}: " if self.shard else "") + f"{self.kind}: entry {self.id} (seq {self.seq}): {self.why}"


@dataclass(frozen=True)
class Signed:
    """A checkpoint of this scheme whose signature verified (`signed` False: compared only, no key to check it)."""

    id: str  # its stream id in the checkpoints stream
    first: int  # `from`: the first seq it covers
    seq: int  # the last
    entry_id: str  # the stream id of its last entry
    head: str  # hex: the chain's head at `seq`
    prev: str  # hex: the chain's head before `first` (the previous checkpoint's `head`, or the anchor)
    start: int  # the seq the log starts at, once this checkpoint's trim was done
    trim: str  # the cutoff (ms) below which it trimmed the log ("": no trim)
    at: float
    leaves: tuple[bytes, ...] | None = None  # the digests kept beside it, when they chain to `head`
    signed: bool = True
    gap: tuple[int, int] | None = None  # `restored_gap`: the seqs before `first` a restore lost (the archive has them)
    keep: float | None = None  # `keep`: how long entries stayed in Redis, as signed with it (None: not said)

    def covers(self, seq: int) -> bool:
        return self.first <= seq <= self.seq


def id_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


@dataclass
class LogWalk:
    """Feed this scheme's entries oldest first (`feed`), then `finish`; the first problem stops the walk.

    `checkpoints`: this scheme's, oldest first. `want`: the seq the first entry fed must have (None: take the
    first's). `anchor`: the chain's head before `want`, when known (the checkpoint's head it starts from)."""

    checkpoints: list[Signed] = field(default_factory=list)
    want: int | None = None
    anchor: str | None = None
    checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    last_id: str = ""
    tail: int = 0  # entries after the newest checkpoint
    tail_since: str = ""  # the stream id of the first of them
    matched: list[Signed] = field(default_factory=list)
    problem: Problem | None = None
    _at: int = 0  # index of the checkpoint covering the next seq
    _head: bytes | None = None  # the chain's head at the last seq fed, when known
    _suspect: Problem | None = None  # an entry whose digest differs, named once the next one is seen
    _suspect_seq: int = 0
    _gap: tuple[str, int, int] | None = None  # (id, seq, want) of an entry that skipped seqs, told by the next
    restored: list[Signed] = field(default_factory=list)  # checkpoints whose signed restored gap the walk crossed

    def __post_init__(self) -> None:
        if self.anchor is not None:
            self._head = bytes.fromhex(self.anchor)

    def feed(self, entry_id: str, fields: dict[str, str], seq: int | None = None) -> Problem | None:
        """Check one more entry (`seq`: its seq_of, when the caller has it); the problem it shows, if any."""
        if self.problem is None:
            self.problem = self._check(entry_id, fields, seq_of(fields) if seq is None else seq)
        return self.problem

    def _check(self, entry_id: str, fields: dict[str, str], seq: int | None) -> Problem | None:
        if seq is None:
            at = self.last_seq + 1 if self.last_seq is not None else self.want or 1
            return self._settle() or Problem("inserted", entry_id, at, unnumbered(fields, first=self.last_seq is None))
        if self._gap is not None:
            gap_id, gap_seq, gap_want = self._gap
            if seq == gap_want:
                return Problem("altered", entry_id, seq, f"it is out of order: it comes after entry {gap_id}"
                               f" (seq {gap_seq}); the two traded places")
            return Problem("deleted", gap_id, gap_want, f"entries seq {gap_want} to {gap_seq - 1} are missing before"
                           " this one" + (f", after entry {self.last_id}" if self.last_id else ""))
        if self._suspect is not None:
            if seq == self._suspect_seq and self._digest_fits(entry_id, fields, seq):
                suspect = self._suspect
                return Problem("inserted", suspect.id, suspect.seq, f"entry {entry_id} has the same seq and is the"
                               " one the checkpoint signed")
            return self._suspect
        want = self.want if self.want is not None else seq
        if seq > want and (restore := self._restore(want, seq)) is not None:
            self.restored.append(restore)  # a known restore: the seqs it lost, signed as such
            return self._take(entry_id, fields, seq)
        if self.last_seq is not None and seq <= self.last_seq:
            return Problem("inserted", entry_id, seq, f"its seq repeats or goes back (after seq {self.last_seq})")
        if seq > want:
            if self.last_seq is None:
                return Problem("deleted", entry_id, want, f"entries seq {want} to {seq - 1} at the start of the log"
                               " are gone, and no signed trim says they were trimmed")
            self._gap = (entry_id, seq, want)
            return None
        return self._take(entry_id, fields, seq)

    def _restore(self, want: int, seq: int) -> Signed | None:
        """The checkpoint starting at `seq` that signs seqs `want` to `seq` - 1 as lost in a restore, if one does."""
        return next((c for c in self.checkpoints if c.first == seq and c.gap == (want, seq - 1)), None)

    def _checkpoint_for(self, seq: int) -> Signed | None:
        checkpoints, at = self.checkpoints, self._at
        while at < len(checkpoints) and checkpoints[at].seq < seq:
            at += 1
        self._at = at
        if at < len(checkpoints) and checkpoints[at].first <= seq:
            return checkpoints[at]
        return None

    def _digest_fits(self, entry_id: str, fields: dict[str, str], seq: int) -> bool:
        checkpoint = self._checkpoint_for(seq)
        if checkpoint is None or checkpoint.leaves is None:
            return False
        return leaf(entry_id, fields) == checkpoint.leaves[seq - checkpoint.first]

    def _take(self, entry_id: str, fields: dict[str, str], seq: int) -> Problem | None:
        checkpoint = self._checkpoint_for(seq)
        if checkpoint is None:
            if self.checkpoints and seq > self.checkpoints[-1].seq:
                if not self.tail:
                    self.tail_since = entry_id
                self.tail += 1
            self._head = None
        else:
            digest = leaf(entry_id, fields)
            if seq == checkpoint.first:
                self._head = bytes.fromhex(checkpoint.prev)
            elif self._head is None and checkpoint.leaves is not None:  # its first entries were trimmed
                head = bytes.fromhex(checkpoint.prev)
                for earlier in checkpoint.leaves[:seq - checkpoint.first]:
                    head = hashlib.sha256(head + earlier).digest()
                self._head = head
            if checkpoint.leaves is not None and digest != checkpoint.leaves[seq - checkpoint.first]:
                self._suspect = Problem("altered", entry_id, seq, f"it is not what checkpoint {checkpoint.id} signed"
                                        " for this seq")
                self._suspect_seq = seq
                return None
            if self._head is None:
                return Problem("altered", checkpoint.entry_id, checkpoint.first, f"the digests kept beside checkpoint"
                               f" {checkpoint.id} are not what it signed, and its first entries are gone")
            self._head = hashlib.sha256(self._head + digest).digest()
            if seq == checkpoint.seq:
                if self._head.hex() != checkpoint.head or entry_id != checkpoint.entry_id:
                    return Problem("altered", entry_id, seq, f"checkpoint {checkpoint.id} signed other entries for"
                                   f" seq {checkpoint.first} to {seq}: an entry in this range was altered and the"
                                   " digests kept beside the checkpoint rewritten")
                self.matched.append(checkpoint)
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq, self.last_id, self.want = seq, entry_id, seq + 1
        self.checked += 1
        return None

    def _settle(self) -> Problem | None:
        if self._suspect is not None:
            return self._suspect
        if self._gap is not None:
            gap_id, gap_seq, gap_want = self._gap
            return Problem("deleted", gap_id, gap_want, f"entries seq {gap_want} to {gap_seq - 1} are missing before"
                           " this one" + (f", after entry {self.last_id}" if self.last_id else ""))
        return None

    def finish(self) -> Problem | None:
        """After the last entry: what was held back, and a checkpoint beyond the last entry (the end was cut)."""
        if self.problem is None:
            self.problem = self._settle()
        if self.problem is None and self.checkpoints:
            newest = self.checkpoints[-1]
            end = self.last_seq if self.last_seq is not None else (self.want or 1) - 1
            if newest.seq > end:
                after = f"after entry {self.last_id}" if self.last_id else "(no entry of it is left)"
                self.problem = Problem("deleted", newest.entry_id, end + 1, f"checkpoint {newest.id} signed seq"
                                       f" {newest.seq}, but the log ends at seq {end} {after}: entries seq {end + 1}"
                                       f" to {newest.seq} are gone")
        return self.problem


def unnumbered(fields: dict[str, str], *, first: bool) -> str:
    """Why an entry that does not end with `seq` is no entry of this scheme (`first`: before any numbered one)."""
    why = "it has no `seq`" + ("" if first else ", among numbered entries")
    if tuple(fields)[-3:] == ("seq", "prev", "hash"):
        why += (" (it ends with `seq`, `prev`, `hash`: an entry of the old chain's form, which versions before 0.1.0"
                " wrote, is not of this scheme)")
    return why


def check_checkpoints(checkpoints: list[Signed], *, retention: float | None) -> Problem | None:
    """The checkpoints among themselves: each follows the one before (`from` = its `seq` + 1, `prev` = its head),
    and a signed trim removed only entries older than what the checkpoint signs it keeps (`keep`), or, for one that
    signs none (written before it did), `retention` seconds (None: not checked)."""
    for before, after in itertools.pairwise(checkpoints):
        follows = after.first == before.seq + 1 or after.gap == (before.seq + 1, after.first - 1)
        if not follows or after.prev != before.head:
            return Problem("deleted", after.entry_id, before.seq + 1, f"checkpoint {after.id} (seq {after.first} to"
                           f" {after.seq}) does not follow checkpoint {before.id} (to seq {before.seq}): a checkpoint"
                           " between them is gone")
    for checkpoint in checkpoints:
        cutoff = int(checkpoint.trim) if checkpoint.trim.isascii() and checkpoint.trim.isdigit() else None
        keep = checkpoint.keep if checkpoint.keep is not None else retention
        if keep is not None and cutoff is not None and cutoff > (checkpoint.at - keep) * 1000 + 1:
            return Problem("deleted", checkpoint.entry_id, checkpoint.start - 1, f"checkpoint {checkpoint.id} trimmed"
                           f" the log up to seq {checkpoint.start - 1}, entries written up to"
                           f" {(checkpoint.at - cutoff / 1000):,.0f} s before it was signed: younger"
                           f" than the retention ({keep:,.0f} s"
                           + (", as it signs it keeps entries)" if checkpoint.keep is not None else ")"))
    return None
