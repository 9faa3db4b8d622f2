"""The watcher's cheap look at the whole Redis log (bot/audit/watch.py), pure: its length and its first and last
entries against what the signed checkpoints and the counter say it holds.

The newest checkpoint signs where the log starts (`start`: the first seq its trim left); the counter is the seq of
the last entry written (an entry and its number are written in one step). So an intact log holds every seq from
`start` to the counter, but for the seqs a restore lost (each signed as such by a checkpoint, `restored_gap`): its
length is their count, its first entry is seq `start` and its last the counter. An entry deleted anywhere, however
old, shortens it; one added by hand lengthens it. Three Redis reads, whatever the log's size: each look makes it,
so a deletion is seen within a look, and the walk then names the entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.audit.checkpoints import VERSION
from bot.audit.digests import seq_of
from bot.store.audit import Census


@dataclass(frozen=True)
class Miscount:
    """What the count found: its kind (deleted or inserted), said, and its identity (what stays the same while the
    log goes on being written: how many entries are missing or extra, at the start and at the end)."""

    kind: str
    what: str
    key: str


def gap_of(fields: dict[str, str]) -> tuple[int, int] | None:
    """A checkpoint's `restored_gap` as kept beside its JWS (`from-to`), or None."""
    low, _, high = fields.get("restored_gap", "").partition("-")
    if not (low.isascii() and low.isdigit() and high.isascii() and high.isdigit()):
        return None
    return int(low), int(high)


def miscount(census: Census, gaps: list[tuple[int, int]]) -> Miscount | None:
    """The log counted against the newest checkpoint of this scheme and the counter (`gaps`: the seqs restores lost,
    as the checkpoints sign them); None when they agree, or when nothing of this scheme is signed yet (the walk
    names what it finds)."""
    if census.newest is None or census.newest[1].get("v") != VERSION:
        return None
    try:
        start, signed = int(census.newest[1]["start"]), int(census.newest[1]["seq"])
    except (KeyError, ValueError):
        return None  # (not a checkpoint's fields: the walk names it forged)
    counter = census.counter or 0
    if counter < signed:
        return Miscount("deleted", f"the counter says seq {counter:,}, below the newest checkpoint's seq {signed:,}:"
                        " the counter was set back", f"counter:{signed - counter}")
    lost = sum(max(0, min(high, counter) - max(low, start) + 1) for low, high in gaps)
    want = counter - start + 1 - lost
    first = seq_of(census.first[1]) if census.first is not None else None
    last = seq_of(census.last[1]) if census.last is not None else None
    if census.length == want and first == start and last == counter:
        return None
    return _miscounted(census.length, first, last, want=want, lost=lost, start=start, counter=counter)


def _miscounted(
    length: int, first: int | None, last: int | None, *, want: int, lost: int, start: int, counter: int
) -> Miscount:
    """What a log of `length` entries from seq `first` to `last` that should be `want` long from seq `start` to
    `counter` (`lost`: the seqs restores lost among them) is found, said."""
    held = (f"the log holds {length:,} entries (seq {first} to {last})" if length
            else "the log holds no entry")
    said = (f"{held}; the signed checkpoints and the counter say {want:,} (seq {start:,} to {counter:,}"
            + (f", but for {lost:,} a restore lost" if lost else "") + ")")
    if length < want:
        kind, what = "deleted", f"{_entries(want - length)} gone: {said}"
    elif length > want:
        kind, what = "inserted", f"{_entries(length - want)} added: {said}"
    else:
        kind, what = ("deleted" if (first or 0) > start or (last or 0) < counter else "inserted"), (
            f"the log does not start and end where it should: {said}")
    key = f"{kind}:{want - length}:{(first or 0) - start}:{counter - (last or 0)}"
    return Miscount(kind, what, key)


def _entries(count: int) -> str:
    return f"{count:,} entries are" if count != 1 else "1 entry is"
