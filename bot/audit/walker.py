"""The walk over the audit log's shards, pure: each entry handed, in order, to the walk of its shard's scheme, and every
problem named with its shard (`Walker`). `audit verify` (bot/audit/verify.py) reads the entries and checkpoints from
Redis and feeds them here."""

from __future__ import annotations

import time
from dataclasses import replace

from bot.audit.bridged import BRIDGE, bridged, check_entry, compare
from bot.audit.digests import number_of, seq_of
from bot.audit.legacy import ChainWalk, Checkpoint
from bot.audit.shards import BRIDGED, CURRENT, LEGACY, Shard, by_scheme, inferred, stream_key, with_bridged
from bot.audit.walk import LogWalk, Problem, Signed, id_ms


def iso_utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def as_float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


class Walker:
    """Hands each entry to the walk of its shard's scheme (bot/audit/shards.py), and names the shard of every problem:
    the old chain's shard (bot/audit/legacy.py, under its own checkpoints), a rolling upgrade's through the bridge
    (bot/audit/bridged.py, in a log without an index), then this scheme's (bot/audit/walk.py, under the `v` 2
    checkpoints), in that order only; and checks where the log starts against the newest signed checkpoint.

    This scheme's shard starts at its first entry that ends with `seq`. The old chain's shard is frozen there: an entry
    of its form after that, or one of its checkpoints signing one, was appended after the freeze (a worker of the old
    version still writing) and is named as such. Where the index recorded the freeze (its last entry, seq and hash),
    the old shard must end exactly there, and this scheme's first checkpoint must anchor on that hash.

    In a log without an index, an entry marked by the bridge (or one of the old chain's form that a checkpoint of
    scheme 2 covers) after the old chain's starts the bridged shard instead, frozen in turn at this scheme's first
    plain entry: the `v` 2 checkpoints sign both (one digest chain), its entries beyond them are checked as their
    writers wrote them, and the old workers' checkpoints signed in it are compared with the entries they name."""

    def __init__(
        self, old: list[Checkpoint], new: list[Signed], *, begin: Signed | None, signing: bool,
        shards: list[Shard] | None = None, indexed: bool = False,
    ) -> None:
        self.begin = begin
        self.new = [c for c in new if begin is None or c.seq > begin.seq]
        self.signing = signing
        self.shards = shards if shards is not None else inferred(bool(old))
        self.indexed = indexed
        self.old_shard = by_scheme(self.shards, LEGACY)
        self.new_shard = by_scheme(self.shards, CURRENT)
        self.bridged_shard: Shard | None = None
        self.frozen = self.old_shard if self.old_shard is not None and self.old_shard.frozen else None
        self.after_freeze: list[Checkpoint] = []  # old-form checkpoints signing entries after the freeze
        self.stepped_up = 0  # votes confirmed by a passkey among the entries walked
        if self.frozen is not None:
            end = stream_key(self.frozen.last_id)
            self.after_freeze = [c for c in old if stream_key(c.entry_id) > end]
            old = [c for c in old if stream_key(c.entry_id) <= end]
        self.old = old
        self.legacy = ChainWalk(old if begin is None else [])
        self.walk = LogWalk(self.new, want=begin.seq + 1 if begin else None, anchor=begin.head if begin else None)
        self.phase = "new" if begin is not None else "old"  # "old", "bridged", "new": the shard being walked
        self.first: tuple[str, int] | None = None  # the first numbered entry: where the log starts
        self.plain = False  # an entry of this scheme's plain form (ending with `seq`) was fed
        # the bridged shard: the seq of its first entry, the walk's count before it, its last entry once frozen
        self.bridged_from = 0
        self.bridged_base = 0
        self.bridged_end: tuple[str, int, int] | None = None  # (stream id, seq, entries checked) where it was frozen
        self.by_bridge = 0  # its entries the bridge wrote
        self.by_old = 0  # its entries old workers wrote
        self.aside: dict[int, Checkpoint] = {}  # old workers' checkpoints in it, by seq (the first for a seq)
        self.aside_compared: set[str] = set()  # their stream ids, once compared with the entry of their seq
        self.aside_matched = 0
        self._aside_problem: Problem | None = None
        self._before: dict[str, str] | None = None  # the fields of the entry fed before this one
        self._covered = (self.new[0].first, self.new[-1].seq) if self.new else None

    @property
    def old_name(self) -> str:
        return self.old_shard.name if self.old_shard is not None else f"shard ? (scheme {LEGACY})"

    @property
    def new_name(self) -> str:
        return self.new_shard.name if self.new_shard is not None else f"shard ? (scheme {CURRENT})"

    @property
    def bridged_name(self) -> str:
        return self.bridged_shard.name if self.bridged_shard is not None else f"shard ? (scheme {BRIDGED})"

    def feed(self, entry_id: str, fields: dict[str, str]) -> Problem | None:
        problem = self._feed(entry_id, fields)
        self._before = fields
        if fields.get("passkey") and (fields.get("event") == "vote" or (
                fields.get("event") == "decision" and not fields.get("voters"))):
            self.stepped_up += 1  # a vote its voter's passkey confirmed (step-up: bot/stepup/)
        return problem

    def _feed(self, entry_id: str, fields: dict[str, str]) -> Problem | None:
        seq = seq_of(fields)
        number = seq if seq is not None else number_of(fields)
        bridging = self._bridging(fields, seq, number)
        if self.first is None and self.begin is None and number is not None:
            self.first = (entry_id, number)
            if (problem := self._check_start(entry_id, number)) is not None:
                shard = self.new_name if seq is not None else self.bridged_name if bridging else self.old_name
                return replace(problem, shard=shard)
        if bridging and number is not None:
            if (problem := self._enter_bridged(entry_id, number)) is not None:
                return problem
        elif self.phase == "old" and seq is not None:
            self.phase = "new"
            if (problem := self._enter_new(entry_id, seq)) is not None:
                return problem
        elif self.phase == "bridged" and seq is not None:  # this scheme's first plain entry: the bridged shard frozen
            self.phase = "new"
            self.bridged_end = (self.walk.last_id, self.walk.last_seq or 0, self.walk.checked - self.bridged_base)
        if self.phase == "bridged":
            return self._feed_bridged(entry_id, fields, number)
        if self.phase == "new":
            if seq is None and number is not None:
                return self._appended_after_freeze(entry_id, number)
            self.plain = self.plain or seq is not None
            return self._by_seq(self.walk.feed(entry_id, fields, seq))
        return named(self.legacy.feed(entry_id, fields), self.old_name)

    def _bridging(self, fields: dict[str, str], seq: int | None, number: int | None) -> bool:
        """Whether this entry starts the bridged shard: in a log without an index, before any plain entry, one the
        bridge marked, one of the old form a checkpoint of scheme 2 covers, or (`--since`) one of the old form that
        goes on from the checkpoint's seq (not an old worker's starting again at seq 1)."""
        if self.indexed or self.plain or seq is not None or number is None or self.phase == "bridged":
            return False
        if self.phase == "new":
            return bridged(fields) or number == self.walk.want
        return bridged(fields) or (self._covered is not None and number >= self._covered[0])

    def _enter_bridged(self, entry_id: str, seq: int) -> Problem | None:
        """The bridged shard's first entry: put in the shards, the old chain's frozen before it."""
        self.shards = with_bridged(self.shards)
        self.old_shard = by_scheme(self.shards, LEGACY)
        self.bridged_shard = by_scheme(self.shards, BRIDGED)
        self.new_shard = by_scheme(self.shards, CURRENT)
        entering_from, self.phase = self.phase, "bridged"
        self.bridged_from, self.bridged_base = seq, self.walk.checked
        if entering_from == "new":  # from a checkpoint (`--since`): the old workers' checkpoints after it
            aside = [c for c in self.old if self.begin is not None and c.seq > self.begin.seq]
        elif self.legacy.last is not None:
            aside = self.legacy.set_aside(self.legacy.last.id)
        else:
            aside = [c for c in self.old if c.seq >= seq]
        for checkpoint in aside:
            self.aside.setdefault(checkpoint.seq, checkpoint)
        if entering_from == "new":
            return None
        return self._enter_new(entry_id, seq, shard=self.bridged_name)

    def _feed_bridged(self, entry_id: str, fields: dict[str, str], number: int | None) -> Problem | None:
        if number is not None and seq_of(fields) is None:
            if bridged(fields):
                self.by_bridge += 1
            else:
                self.by_old += 1
            problem = check_entry(entry_id, fields, number, before=self._before, after=self.walk.last_seq,
                                  covered=self._covered)
            if problem is not None:
                return replace(problem, shard=self.bridged_name)
        problem = self.walk.feed(entry_id, fields, number)
        signed = self.aside.get(number) if number is not None else None
        if problem is None and signed is not None and number is not None:
            self.aside_compared.add(signed.id)
            mismatch = compare(signed, entry_id, fields, number)
            if mismatch is None:
                self.aside_matched += 1
            elif self._aside_problem is None:  # told at the end, if the walk finds nothing first
                self._aside_problem = replace(mismatch, shard=self.bridged_name)
        return self._by_seq(problem)

    def _by_seq(self, problem: Problem | None) -> Problem | None:
        """A problem of the walk of scheme 2's checkpoints, named with the shard of its seq: the bridged shard's, or
        this scheme's."""
        if problem is None or problem.shard:
            return problem
        in_bridged = self.bridged_shard is not None and (
            self.phase == "bridged" or (self.bridged_end is not None and problem.seq <= self.bridged_end[1]))
        return replace(problem, shard=self.bridged_name if in_bridged else self.new_name)

    def _frozen_at(self) -> str:
        frozen = self.frozen
        if frozen is not None:
            return f"at entry {frozen.last_id} (seq {frozen.last_seq:,})"
        last = self.legacy.last
        return f"at entry {last.id} (seq {last.seq:,})" if last is not None else f"when {self.new_name} began"

    def _appended_after_freeze(self, entry_id: str, number: int) -> Problem:
        """An entry of the old chain's form after this scheme's first entry: written in a frozen shard's scheme."""
        if self.bridged_end is not None:
            return Problem("inserted", entry_id, number, "an entry of the old chain's form, appended after the shard"
                           f" was frozen {self._bridged_at()}: a worker of the old version wrote it after this"
                           " version's first plain entry", shard=self.bridged_name)
        if self.old_shard is None:
            return Problem("inserted", entry_id, number, "an entry of the old chain's form (`seq`, `prev`, `hash`), in"
                           " a log that has no shard of that scheme: a worker of the old version wrote it",
                           shard=self.new_name)
        return Problem("inserted", entry_id, number, "an entry of the old chain's form, appended after the shard was"
                       f" frozen {self._frozen_at()}: a worker of the old version wrote it after this version's first"
                       " entry", shard=self.old_name)

    def _bridged_at(self) -> str:
        end = self.bridged_end
        return f"at entry {end[0]} (seq {end[1]:,})" if end is not None and end[0] else f"when {self.new_name} began"

    def _check_start(self, entry_id: str, seq: int) -> Problem | None:
        """The log must start where the newest checkpoint signed it starts (or at seq 1, with none signed): entries
        missing before that are no trim."""
        if self.new:
            newest = self.new[-1]
            if seq > newest.start:
                return Problem("deleted", entry_id, newest.start, f"entries seq {newest.start} to {seq - 1} at the"
                               f" start of the log are gone: checkpoint {newest.id} signed that the log starts at seq"
                               f" {newest.start}; that is no trim")
        elif seq > 1 and self.signing and not self.legacy.checkpoints:
            return Problem("deleted", entry_id, 1, f"the log starts at seq {seq}, and no signed checkpoint says"
                           " entries were trimmed")
        return None

    def _enter_new(self, entry_id: str, seq: int, shard: str | None = None) -> Problem | None:
        """This scheme's first entry (or, `shard` the bridged one's name, that shard's): the old chain's shard ends
        before it (where it was frozen, if recorded)."""
        name = shard or self.new_name
        if self.new and seq < self.new[0].first:
            oldest = self.new[0]
            return Problem("deleted", entry_id, seq, f"no checkpoint kept covers seq {seq} to {oldest.first - 1},"
                           f" though checkpoint {oldest.id} and later ones cover what follows: the checkpoints before"
                           " it are gone", shard=name)
        last = self.legacy.last
        if last is not None:
            if self.frozen is None and shard is None:  # (the bridged shard compares the old workers' checkpoints)
                self.after_freeze = self.legacy.set_aside(last.id)
            if (problem := self.legacy.finish()) is not None:
                return named(problem, self.old_name)
            if (problem := self._check_freeze(last.id, last.seq, last.hash)) is not None:
                return problem
            if seq != last.seq + 1:
                return Problem("deleted", entry_id, last.seq + 1, f"the new scheme's first entry here is seq {seq},"
                               f" after the old chain's seq {last.seq} (entry {last.id})", shard=name)
            self.walk.want = seq
        elif self.legacy.skipped and seq != 1:
            return Problem("altered", self.legacy.skipped_first, max(1, seq - self.legacy.skipped), f"it and"
                           f" {self.legacy.skipped - 1:,} more entries have no `seq`, before seq {seq}: their numbering"
                           " was removed", shard=self.old_name)
        elif self.frozen is not None:  # the old shard's entries are trimmed: its recorded end still anchors this one
            first = next((c for c in self.new if c.first == self.frozen.last_seq + 1), None)
            if first is not None and first.prev != self.frozen.last_hash:
                return Problem("altered", self.frozen.last_id, self.frozen.last_seq, "the index says the shard was"
                               f" frozen at this entry (trimmed) with another hash than checkpoint {first.id} anchors"
                               f" {name} on", shard=self.old_name)
        return None

    def _check_freeze(self, last_id: str, last_seq: int, last_hash: str) -> Problem | None:
        """The old chain's shard ends at `last_id`: where the index says it was frozen, and the new scheme's first
        checkpoint anchors on its hash."""
        first = next((c for c in self.new if c.first == last_seq + 1), None)  # the signed anchor, told first
        if first is not None and first.prev != last_hash:
            return Problem("altered", last_id, last_seq, f"checkpoint {first.id} anchors the new scheme on another"
                           " hash than this entry's: the old chain was rewritten", shard=self.old_name)
        frozen = self.frozen
        if frozen is not None and last_seq < frozen.last_seq:
            return Problem("deleted", last_id, last_seq + 1, f"entries seq {last_seq + 1:,} to {frozen.last_seq:,} at"
                           f" the end of the shard are gone: it was frozen at entry {frozen.last_id} (seq"
                           f" {frozen.last_seq:,})", shard=self.old_name)
        if frozen is not None and (last_id, last_seq, last_hash) != (frozen.last_id, frozen.last_seq, frozen.last_hash):
            return Problem("altered", last_id, last_seq, f"the shard was frozen at entry {frozen.last_id} (seq"
                           f" {frozen.last_seq:,}) and its hash, not at this entry", shard=self.old_name)
        return None

    def finish(self) -> Problem | None:
        if self.phase == "old":
            problem = named(self.legacy.finish(), self.old_name) or named(self.walk.finish(), self.new_name)
            last = self.legacy.last
            if problem is None and last is not None and self.frozen is not None:
                problem = self._check_freeze(last.id, last.seq, last.hash)
        else:
            problem = self._by_seq(self.walk.finish())
            if problem is None and self.bridged_shard is not None:
                problem = self._aside_problem or self._aside_left()
        if problem is None and self.after_freeze:
            signed = self.after_freeze[0]
            problem = Problem("inserted", signed.entry_id, signed.seq, f"checkpoint {signed.id}, of the old chain's"
                              f" form, signs this entry, appended after the shard was frozen {self._frozen_at()}: a"
                              " worker of the old version wrote it", shard=self.old_name)
        return problem

    def _aside_left(self) -> Problem | None:
        """The old workers' checkpoints of the bridged shard not compared with an entry: one signing an entry after
        the shard was frozen, or beyond the log's end (the others' entries are trimmed)."""
        end = self.walk.last_seq
        for signed in sorted(self.aside.values(), key=lambda c: c.seq):
            if signed.id in self.aside_compared:
                continue
            if self.bridged_end is not None and stream_key(signed.entry_id) > stream_key(self.bridged_end[0] or "0-0"):
                return Problem("inserted", signed.entry_id, signed.seq, f"checkpoint {signed.id}, of the old chain's"
                               f" form, signs this entry, appended after the shard was frozen {self._bridged_at()}: a"
                               " worker of the old version wrote it", shard=self.bridged_name)
            if end is not None and signed.seq > end:
                return Problem("deleted", signed.entry_id, end + 1, f"checkpoint {signed.id} (of the old chain's form)"
                               f" signed seq {signed.seq}, but the log ends at seq {end}: entries seq {end + 1} to"
                               f" {signed.seq} are gone", shard=self.bridged_name)
        return None

    @property
    def checked(self) -> int:
        """How many numbered entries the walks checked."""
        return self.legacy.checked + self.walk.checked

    def past_end(self, counter: int | None) -> Problem | None:
        """Entries deleted from the log's end: the log's counter (read before the walk) is past its last entry."""
        end = self.walk.last_seq if self.phase != "old" else (self.legacy.last.seq if self.legacy.last else None)
        if end is None and self.begin is not None:
            end = self.begin.seq
        if counter is None or counter <= (end or 0):
            return None
        first = (end or 0) + 1
        return Problem("deleted", "(the end)", first, f"entries seq {first:,} to {counter:,} at the end of the log are"
                       f" gone: the log's counter is at seq {counter:,}, its last entry is "
                       + (f"seq {end:,}" if end is not None else "none"),
                       shard=self.bridged_name if self.phase == "bridged" else self.new_name)

    def summary(self, now: float) -> str:
        """The paragraph `audit verify` prints for an intact log: each shard, then the signatures."""
        walk, legacy = self.walk, self.legacy
        parts: list[str] = []
        frozen = f", frozen at seq {self.frozen.last_seq:,}" if self.frozen is not None else ""
        if legacy.checked:
            assert legacy.first is not None and legacy.last is not None
            parts.append(f"{self.old_name}{frozen}: {legacy.checked:,} entries of the old chain checked, seq"
                         f" {legacy.first.seq:,} to {legacy.last.seq:,}, under {len(legacy.matched):,} of its"
                         " checkpoints")
        elif self.frozen is not None and self.begin is None:
            parts.append(f"{self.old_name}{frozen}: no entry of it is left (trimmed)")
        since = (f", from checkpoint {self.begin.id} (seq {self.begin.seq:,}, signed {iso_utc(self.begin.at)})"
                 if self.begin else "")
        plain, first = walk.checked, walk.first_seq
        if self.bridged_shard is not None:
            part, since = self._bridged_summary(since), ""
            if part:
                parts.append(part)
            plain -= self.bridged_end[2] if self.bridged_end is not None else walk.checked - self.bridged_base
            first = self.bridged_end[1] + 1 if self.bridged_end is not None else None
        if plain and walk.last_seq is not None:
            parts.append(f"{self.new_name}: {plain:,} entries checked, seq {first or walk.first_seq:,} to"
                         f" {walk.last_seq:,}{since}")
        if not walk.checked and not legacy.checked:
            parts.append("no numbered entry")
        said = "audit log intact: " + "; ".join(parts)
        if legacy.skipped:
            said += f"; {legacy.skipped:,} older entries written before the chain were skipped"
        if self.stepped_up:
            votes = "vote" if self.stepped_up == 1 else "votes"
            said += (f"; {self.stepped_up:,} {votes} among them confirmed by a passkey (step-up: each entry's amr,"
                     " passkey digest and assured_at are in the chain)")
        if walk.checked and not self.indexed:
            said += "; no shard index (a log written before it): the shards told by their entries' form"
        matched = self.new if walk.checked else walk.matched
        if matched and matched[-1].signed:
            newest = matched[-1]
            said += (f"; {len(matched):,} signed checkpoints verified, the last at seq {newest.seq:,} (signed"
                     f" {iso_utc(newest.at)})")
            said += self._tail(now)
        elif matched:
            said += (f"; unsigned: no signing key (SIGNING_KEYS_FILE, SIGNING_KEYS or --jwks), so the"
                     f" {len(matched):,} checkpoints it reached were compared but their signatures not checked")
        elif walk.checked and self.signing:
            said += f"; no signed checkpoint covers them yet: all {walk.checked:,} are covered by no signature"
        elif walk.checked:
            said += "; unsigned: no checkpoint (a worker with a signing key writes them)"
        return said + "."

    def _bridged_summary(self, since: str) -> str:
        """The bridged shard's part of the summary ("": none of its entries checked)."""
        end = self.bridged_end
        checked = end[2] if end is not None else self.walk.checked - self.bridged_base
        if not checked:
            return ""
        last = end[1] if end is not None else self.walk.last_seq or 0
        first = last - checked + 1
        frozen = f", frozen at seq {end[1]:,}" if end is not None else ""
        said = (f"{self.bridged_name}{frozen}: {checked:,} entries of a rolling upgrade through the bridge checked, seq"
                f" {first:,} to {last:,}{since} ({self.by_bridge:,} written with `prev` and `hash` {BRIDGE!r},"
                f" {self.by_old:,} by workers of the old version), under the checkpoints of scheme {CURRENT}")
        if self.aside:
            said += (f"; {len(self.aside):,} checkpoints of the old chain's form, signed by old workers during the"
                     f" upgrade, compared ({self.aside_matched:,} matched the entry they signed, the others' entries"
                     " are trimmed)")
        return said

    def _tail(self, now: float) -> str:
        walk = self.walk
        if not walk.tail:
            return "; 0 entries after it (no unsigned tail)"
        age = max(0.0, now - id_ms(walk.tail_since) / 1000)
        return (f"; the unsigned tail: {walk.tail:,} entries after it are covered by no signature yet, the oldest"
                f" written {age:,.1f} s ago")


def named(problem: Problem | None, shard: str) -> Problem | None:
    """`problem` naming `shard`, unless it names one already."""
    return replace(problem, shard=shard) if problem is not None and not problem.shard else problem
