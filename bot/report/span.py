"""The audit entries of a period for `python -m bot report` and `python -m bot audit export`: from Redis, and, with
`--archive URL`, from the audit archive for the part of the period Redis no longer holds (trimmed once archived
and older than AUDIT_REDIS_KEEP, or than AUDIT_RETENTION). Either way it says where they were read from when Redis
does not hold the whole period: a report or export of Redis alone then lacks the period's start, and says so.

The archive's entries are read from its sealed segments (`archived_entries`, as `audit evidence` reads them; on S3
each object in its oldest version), not verified here: `audit verify --archive URL` checks them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.audit.archive import layout
from bot.audit.archive.stores import ArchiveError, ArchiveStore, Under
from bot.audit.chains import chain_stores
from bot.audit.digests import seq_of
from bot.audit.walk import id_ms
from bot.store import Store


@dataclass(frozen=True)
class Read:
    """The period's entries, oldest first, and what to say about where they came from ("": Redis holds it all)."""

    entries: list[dict[str, str]]
    said: str


async def archived_entries(archive: ArchiveStore) -> list[dict[str, str]]:
    """Every entry of the sealed segments, oldest first (ArchiveError when one cannot be read)."""
    sealed = sorted((int(m.group(1)), int(m.group(2))) for n in await archive.names("segments/")
                    if (m := layout.SEGMENT.fullmatch(n)) and m.group(3) == "manifest.json")
    found: list[dict[str, str]] = []
    for first, last in sealed:
        lines = layout.unpack_entries(await archive.get(layout.entries_name(first, last)) or b"")
        if lines is None:
            raise ArchiveError(f"{layout.entries_name(first, last)} is not readable")
        for line in lines:
            if (parsed := layout.parse_line(line)) is not None:
                found.append({"id": parsed[0], **parsed[1]})
    return found


def _utc(ms: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _about(entry: dict[str, str], wanted: set[str]) -> bool:
    return not wanted or bool(wanted & {entry.get("origin_channel"), entry.get("card_channel")})


async def period_entries(
    store: Store, *, since: float, channels: Sequence[str], archive: ArchiveStore | None
) -> Read:
    """The entries since `since` (epoch seconds) about `channels` (all when empty): Redis's, and the archive's
    before Redis's oldest entry when `archive` is given (ArchiveError when it cannot be read)."""
    held = [entry async for entry in store.audit.export(since=since, channels=channels)]
    oldest = await store.audit.chained(count=1)
    first_seq = seq_of(oldest[0][1]) if oldest else None
    first_ms = id_ms(oldest[0][0]) if oldest else 0
    trimmed = first_seq is not None and first_seq > 1 and first_ms > since * 1000  # (the period starts before)
    if archive is None:
        if not trimmed:
            return Read(held, "")
        return Read(held, f"note: read Redis only: it holds the audit log from {_utc(first_ms)} (seq {first_seq:,})"
                    f" on, and the period starts at {_utc(since * 1000)}: the entries before were trimmed from Redis"
                    " (AUDIT_REDIS_KEEP, AUDIT_RETENTION). Give --archive URL (AUDIT_ARCHIVE's) to read them from"
                    " the audit archive.")
    wanted = set(channels)
    older = [entry for entry in await archived_entries(archive)
             if id_ms(entry["id"]) >= since * 1000 and (first_seq is None or (seq_of(entry) or 0) < first_seq)
             and _about(entry, wanted)]
    seqs = [seq_of(entry) or 0 for entry in older]
    if older:
        said = (f"note: read the audit archive {archive.url} for {len(older):,} entries of the period Redis no longer"
                f" holds (seq {min(seqs):,} to {max(seqs):,}), and Redis for the rest"
                + (f" (from seq {first_seq:,})" if first_seq is not None else "")
                + "; not verified here: `audit verify --archive` checks the archive.")
    elif trimmed:
        said = (f"note: the audit archive {archive.url} holds no entry of the period before Redis's oldest (seq"
                f" {first_seq:,}, {_utc(first_ms)}).")
    else:
        said = ""
    return Read(older + held, said)


async def chains_entries(
    store: Store, *, since: float, channels: Sequence[str], archive: ArchiveStore | None, team: str = ""
) -> Read:
    """`period_entries` of every audit chain (bot/audit/chains.py), merged oldest first: the home chain's (its
    history from before chains holds every workspace's), and each other workspace's (only `team`'s when given; "":
    all); each chain's archive under its folder (`Under`)."""
    read = await period_entries(store, since=since, channels=channels, archive=archive)
    entries, said = list(read.entries), [read.said] if read.said else []
    for name, chain in (await chain_stores(store))[1:]:
        if team and name != team:
            continue
        more = await period_entries(chain, since=since, channels=channels,
                                    archive=Under(archive, name) if archive is not None else None)
        entries += more.entries
        said += [f"{name}: {more.said}"] if more.said else []
    return Read(sorted(entries, key=lambda e: _order(e.get("id", ""))), "\n".join(said))


def _order(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return (int(ms) if ms.isascii() and ms.isdigit() else 0, int(n) if n.isascii() and n.isdigit() else 0)
