"""The walk over the audit log, pure: each entry handed, in order, to this scheme's walk (bot/audit/walk.py), where
the log starts checked against the newest signed checkpoint, and every problem named with the log's shard
(`Walker`). `audit verify` (bot/audit/verify.py) reads the entries and checkpoints from Redis and feeds them here."""

from __future__ import annotations

import time
from dataclasses import replace

from bot.audit.digests import seq_of
from bot.audit.shards import ONE
from bot.audit.walk import LogWalk, Problem, Signed, id_ms


def iso_utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def as_float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


class Walker:
    """Hands each entry to this scheme's walk under its `v` 2 checkpoints (`new`), from the start of the log or from
    the checkpoint `begin` (`--since`), and names every problem with the log's shard (`name`, bot/audit/shards.py).
    An entry that does not end with `seq` (such as the old chain's, of versions before 0.1.0) is no entry of this
    scheme: the walk names it inserted."""

    def __init__(
        self, new: list[Signed], *, begin: Signed | None, signing: bool, name: str = ONE.name, indexed: bool = True,
    ) -> None:
        self.begin = begin
        self.new = [c for c in new if begin is None or c.seq > begin.seq]
        self.signing = signing
        self.name = name
        self.indexed = indexed
        self.stepped_up = 0  # votes confirmed by a passkey among the entries walked
        self.walk = LogWalk(self.new, want=begin.seq + 1 if begin else None, anchor=begin.head if begin else None)
        self._started = begin is not None  # where the log starts was checked (from a checkpoint: nothing to check)

    def feed(self, entry_id: str, fields: dict[str, str]) -> Problem | None:
        seq = seq_of(fields)
        problem = None
        if not self._started and seq is not None:
            self._started = True
            problem = self._check_start(entry_id, seq)
        if fields.get("passkey") and (fields.get("event") == "vote" or (
                fields.get("event") == "decision" and not fields.get("voters"))):
            self.stepped_up += 1  # a vote its voter's passkey confirmed (step-up: bot/stepup/)
        return named(problem or self.walk.feed(entry_id, fields, seq), self.name)

    def _check_start(self, entry_id: str, seq: int) -> Problem | None:
        """The log must start where the newest checkpoint signed it starts (or at seq 1, with none signed): entries
        missing before that are no trim; and a checkpoint must cover it when later ones are kept."""
        if self.new:
            newest, oldest = self.new[-1], self.new[0]
            if seq > newest.start:
                return Problem("deleted", entry_id, newest.start, f"entries seq {newest.start} to {seq - 1} at the"
                               f" start of the log are gone: checkpoint {newest.id} signed that the log starts at seq"
                               f" {newest.start}; that is no trim")
            if seq < oldest.first:
                return Problem("deleted", entry_id, seq, f"no checkpoint kept covers seq {seq} to {oldest.first - 1},"
                               f" though checkpoint {oldest.id} and later ones cover what follows: the checkpoints"
                               " before it are gone")
        elif seq > 1 and self.signing:
            return Problem("deleted", entry_id, 1, f"the log starts at seq {seq}, and no signed checkpoint says"
                           " entries were trimmed")
        return None

    def finish(self) -> Problem | None:
        return named(self.walk.finish(), self.name)

    @property
    def checked(self) -> int:
        """How many numbered entries the walk checked."""
        return self.walk.checked

    def past_end(self, counter: int | None) -> Problem | None:
        """Entries deleted from the log's end: the log's counter (read before the walk) is past its last entry."""
        end = self.walk.last_seq
        if end is None and self.begin is not None:
            end = self.begin.seq
        if counter is None or counter <= (end or 0):
            return None
        first = (end or 0) + 1
        return Problem("deleted", "(the end)", first, f"entries seq {first:,} to {counter:,} at the end of the log are"
                       f" gone: the log's counter is at seq {counter:,}, its last entry is "
                       + (f"seq {end:,}" if end is not None else "none"), shard=self.name)

    def summary(self, now: float) -> str:
        """The paragraph `audit verify` prints for an intact log: what was checked, then the signatures."""
        walk = self.walk
        since = (f", from checkpoint {self.begin.id} (seq {self.begin.seq:,}, signed {iso_utc(self.begin.at)})"
                 if self.begin else "")
        said = (f"audit log intact: {self.name}: {walk.checked:,} entries checked, seq {walk.first_seq or 0:,} to"
                f" {walk.last_seq or 0:,}{since}")
        if self.stepped_up:
            votes = "vote" if self.stepped_up == 1 else "votes"
            said += (f"; {self.stepped_up:,} {votes} among them confirmed by a passkey (step-up: each entry's amr,"
                     " passkey digest and assured_at are in the chain)")
        if not self.indexed:
            said += "; no shard index (a log written before it): read as one shard of scheme 2"
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
