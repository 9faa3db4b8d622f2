"""`python -m bot audit verify --archive URL [--jwks pinned.json]`: the archive checked on its own, entry by entry,
and (when REDIS_URL is set) against the Redis log, where they overlap and where they join.

Every tree head is derived again from the entries (their RFC 6962 leaf hashes, bot/audit/archive/merkle.py) and
compared with the one its checkpoint signs (JWS and signed note), each checkpoint with the one before (`prev_size`,
`prev_root`), every tile with the hashes of the entries, and the segments with one another: they run on by seq with
no gap. The first problem is named, in these words: **altered** (an entry, a tile, an object its manifest recorded),
**deleted** (entries, a checkpoint, a tile), **inserted**, **segment missing**, **checkpoint forged** (a signature
that does not verify, a chain that breaks), **key not pinned** (signed by a key `--jwks` does not hold),
**overwritten** (an S3 object with more than one version: a put over it, which a versioned bucket allows, with
Object Lock too: the lock keeps the old version, it does not refuse the new one). Each object is read in its oldest
version, the one its writer put (and locked): an archive written over is still checked, and the newer versions are
named, a standing finding (exit 1) that no longer hides the record. Segments written but not sealed yet (no manifest
or checkpoint: a writer at work, or one that stopped mid-segment) are named as findings in the summary, and not
checked.

The keys trusted: `--jwks` (pinned: kept where the bot cannot write them), else the deployment's (SIGNING_KEYS_FILE),
else the archive's own key history (`keys/`), which says nothing against whoever could write the archive: the
summary says which.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc.jwk import OKPKey

from bot.audit.archive import layout
from bot.audit.archive.merkle import HASH, WIDTH, Frontier, count_at, leaf_hash, root_of, split, tile_path
from bot.audit.archive.stores import ArchiveStore
from bot.audit.checkpoints import CHECKPOINT_TYPE
from bot.audit.digests import canonical, seq_of
from bot.audit.verify import kid_of
from bot.core.signing import SigningError, public_keys_of, verify_jws

Verify = Callable[[str], dict[str, Any]]


class Found(Exception):
    """The first problem: its kind and what it says."""

    def __init__(self, kind: str, said: str) -> None:
        super().__init__(f"{kind}: {said}")
        self.kind = kind


@dataclass
class ArchiveTrust:
    """The public keys checkpoints are checked with: {kid: key}, each one's `x`, where from, whether pinned."""

    keys: dict[str, OKPKey]
    xs: dict[str, str]
    source: str
    pinned: bool

    def verify(self, jws: str) -> dict[str, Any]:
        return verify_jws(jws, self.keys, typ=CHECKPOINT_TYPE, whose=self.source)


def trust_of(document: dict[str, Any], *, source: str, pinned: bool) -> ArchiveTrust:
    keys = public_keys_of(document)
    xs = {str(e["kid"]): str(e.get("x")) for e in document.get("keys", [])
          if isinstance(e, dict) and e.get("kid") in keys}
    return ArchiveTrust(keys, xs, source, pinned)


async def history_trust(archive: ArchiveStore) -> ArchiveTrust:
    """The archive's own key history (`keys/*.json`): not pinned."""
    found = [layout.loads_object(await archive.get(name)) for name in await archive.names("keys/")]
    return trust_of({"keys": [k for k in found if k is not None]}, source=f"the archive's own keys/ ({archive.url})",
                    pinned=False)


@dataclass
class Checked:
    """What a walk over the archive found."""

    origin: str = ""
    base: int = 0
    last: int = 0  # the last seq archived (base - 1: none)
    last_id: str = ""
    size: int = 0
    root: bytes = b""
    segments: int = 0
    tiles: int = 0
    unsealed: list[str] = field(default_factory=list)  # segments written but not sealed (no manifest, checkpoint)
    overwritten: str = ""  # the objects written over, said ("": none); their oldest versions were the ones checked
    kept: dict[int, bytes] = field(default_factory=dict)  # entries' lines from `keep_from` on, by seq
    leaves: bytearray = field(default_factory=bytearray)  # every leaf hash, 32 bytes each (58 MB for 5,000 a day
    # for a year)

    def summary(self, url: str, *, trust: ArchiveTrust) -> str:
        said = (f"audit archive NOT intact: overwritten: {self.overwritten}.\nEach object's oldest version (the one"
                " its writer put, and locked) was read: " if self.overwritten else "audit archive intact: ")
        said += (f"{url}: {self.size:,} entries, seq {self.base:,} to {self.last:,}, in"
                f" {self.segments:,} sealed segments; tree size {self.size:,}, root {self.root.hex()};"
                f" {self.segments:,} signed checkpoints verified (JWS and signed note) and chained;"
                f" {self.tiles:,} tiles checked; the keys trusted, from {trust.source}:"
                f" {', '.join(sorted(trust.keys))}")
        if not trust.pinned:
            said += (". Not pinned: whoever can write the archive could have re-signed it; check with the public keys"
                     " pinned apart (--jwks FILE)")
        said += "."
        for where in self.unsealed:
            said += (f"\nfinding: unsealed: {where} holds entries but no manifest or signed checkpoint seals it (a"
                     " writer is writing it, or stopped mid-segment: the next one writes it again equal); not"
                     " checked, and no proof covers it yet.")
        return said


async def check_archive(archive: ArchiveStore, *, trust: ArchiveTrust, keep_from: int | None = None) -> Checked:
    """Walk the whole archive (see the module); Found names the first problem, ArchiveError when it cannot be
    read."""
    overwritten = await overwritten_said(archive)  # (first: each object is then read in its oldest version)
    head = layout.loads_object(await archive.get(layout.LOG))
    if head is None:
        raise Found("segment missing", f"no audit archive at {archive.url} ({layout.LOG} is missing or not JSON)")
    names = await archive.names("")
    checked = Checked(origin=str(head.get("origin", "")), base=_int(head.get("base")))
    checked.last = checked.base - 1
    sealed: list[tuple[int, int]] = []
    started: list[tuple[int, int]] = []
    for name in names:
        if found := layout.SEGMENT.fullmatch(name):
            (sealed if found.group(3) == "manifest.json" else started).append((int(found.group(1)),
                                                                               int(found.group(2))))
    sealed.sort()
    frontier = Frontier()
    prev: tuple[int, bytes] = (0, root_of([]))
    for first, last in sealed:
        await _segment(archive, trust=trust, checked=checked, frontier=frontier, first=first, last=last, prev=prev,
                       keep_from=keep_from)
        prev = (checked.size, checked.root)
    checked.unsealed = [layout.segment_dir(*s) for s in sorted(started) if s[0] > checked.last]
    signed = [int(found.group(1)) for name in names if (found := layout.CHECKPOINT.fullmatch(name))]
    if (beyond := max(signed, default=0)) > checked.size:
        raise Found("segment missing", f"checkpoint {layout.checkpoint_name(beyond)} signs a tree of {beyond:,}"
                    f" entries, the sealed segments hold {checked.size:,}: the segments after seq {checked.last:,} are"
                    " gone")
    await _tiles(archive, checked=checked, names=[n for n in names if n.startswith("tile/")])
    checked.overwritten = overwritten
    return checked


async def overwritten_said(archive: ArchiveStore) -> str:
    """The objects of `archive` written over (a store that keeps versions), said; "" when none is."""
    over = await archive.overwritten()
    if not over:
        return ""
    listed = ", ".join(f"{name} ({count} versions)" for name, count in list(over.items())[:5])
    return (f"{len(over):,} object(s) of {archive.url} were written over, the store keeps their older versions:"
            f" {listed}{', ...' if len(over) > 5 else ''}. Each object is written once: a second version is someone"
            " else's put (a versioned bucket lets it happen, with Object Lock too: the lock keeps the old version,"
            " it refuses no new one); compare the versions, and refuse a put without If-None-Match in the bucket"
            " policy")


@dataclass(frozen=True)
class Mark:
    """Where an incremental check of the archive stopped (the watcher's, bot/audit/watch.py): the log's origin and
    base, the last seq of the sealed segments checked, and the tree they make (size, root, its right edge)."""

    origin: str
    base: int
    last: int
    size: int
    root: str
    edge: list[list[int | str]]

    def dumps(self) -> str:
        return json.dumps([self.origin, self.base, self.last, self.size, self.root, self.edge], separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Mark | None:
        """A mark as `dumps` wrote it; None for anything else (then the check starts from the beginning)."""
        try:
            origin, base, last, size, root, edge = json.loads(text)
            mark = cls(str(origin), int(base), int(last), int(size), str(root), list(edge))
            Frontier.load(mark.edge, mark.size)
        except (ValueError, TypeError, RecursionError):
            return None
        return mark


async def check_new_segments(archive: ArchiveStore, *, trust: ArchiveTrust, mark: Mark | None) -> tuple[int, Mark]:
    """The sealed segments written after `mark` (every one without it), each against its signed tree head, chained
    from the mark's head, and the level-0 tiles that hold only their entries: (how many segments checked, the mark to
    go on from). An archive not written yet, without a mark, is nothing to check. Found names the first problem,
    ArchiveError when it cannot be read. What was checked before is not read again (the full walk,
    `check_archive`, does that)."""
    head = layout.loads_object(await archive.get(layout.LOG))
    if head is None:
        if mark is None:
            return 0, Mark("", 0, -1, 0, root_of([]).hex(), [])
        raise Found("segment missing", f"{layout.LOG} of {archive.url} is gone, after segments up to seq {mark.last:,}")
    checked = Checked(origin=str(head.get("origin", "")), base=_int(head.get("base")))
    checked.last, checked.root, frontier = checked.base - 1, root_of([]), Frontier()
    if mark is not None and mark.size:
        if (mark.origin, mark.base) != (checked.origin, checked.base):
            raise Found("altered", f"{layout.LOG} of {archive.url} names another log (origin, base) than it did")
        checked.last, checked.size, checked.root = mark.last, mark.size, bytes.fromhex(mark.root)
        frontier = Frontier.load(mark.edge, mark.size)
    names = await archive.names("segments/")
    sealed = sorted((int(f.group(1)), int(f.group(2))) for name in names
                    if (f := layout.SEGMENT.fullmatch(name)) and f.group(3) == "manifest.json")
    start = checked.size
    for first, last in sealed:
        if last > checked.last:
            await _segment(archive, trust=trust, checked=checked, frontier=frontier, first=first, last=last,
                           prev=(checked.size, checked.root), keep_from=None)
    await _new_tiles(archive, checked=checked, start=start)
    return checked.segments, Mark(checked.origin, checked.base, checked.last, checked.size, checked.root.hex(),
                                  frontier.dump())


async def _new_tiles(archive: ArchiveStore, *, checked: Checked, start: int) -> None:
    """The level-0 tiles wholly within the leaves from `start` on (`checked.leaves`): each the entries' hashes."""
    for name in await archive.names("tile/0/"):
        where = layout.parse_tile(name)
        if where is None or where[0] != 0:
            continue
        _, index, width = where
        begin = index * WIDTH
        if begin < start or begin + width > checked.size:
            continue
        expected = bytes(checked.leaves[(begin - start) * HASH:(begin - start + width) * HASH])
        if await archive.get(name) != expected:
            raise Found("altered", f"tile {name} was rewritten: its leaf hashes are not the entries'")
        checked.tiles += 1


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


async def _segment(
    archive: ArchiveStore, *, trust: ArchiveTrust, checked: Checked, frontier: Frontier, first: int, last: int,
    prev: tuple[int, bytes], keep_from: int | None,
) -> None:
    """One sealed segment, seq `first` to `last`, checked and added to the tree (`frontier`, `checked`)."""
    where = layout.segment_dir(first, last)
    want = checked.last + 1
    if first > want:
        raise Found("segment missing", f"entries seq {want:,} to {first - 1:,}: no sealed segment holds them"
                    f" (before {where})")
    if first < want:
        raise Found("inserted", f"{where} holds seqs from {first:,}, already archived up to {checked.last:,}")
    manifest = layout.loads_object(await archive.get(layout.manifest_name(first, last))) or {}
    data = await archive.get(layout.entries_name(first, last))
    if data is None:
        raise Found("segment missing", f"{layout.entries_name(first, last)} is gone (seq {first:,} to {last:,})")
    lines = layout.unpack_entries(data)
    if lines is None:
        raise Found("altered", f"{layout.entries_name(first, last)} is not a gzip of entry lines")
    leaves = _leaves(lines, checked=checked, first=first, last=last, keep_from=keep_from)
    for h in leaves:
        frontier.append(h)
    size, root = frontier.size, frontier.root()
    claims = await _checkpoint(archive, trust=trust, origin=checked.origin, size=size, prev=prev)
    if claims.get("root") != root.hex():
        await _which_entry(archive, checked=checked, leaves=leaves, size=size, where=where)
    if claims.get("seq") != last or claims.get("base") != checked.base:
        raise Found("checkpoint forged", f"{layout.checkpoint_name(size)} signs seq {claims.get('seq')} (base"
                    f" {claims.get('base')}), the segment ends at seq {last:,} (base {checked.base:,})")
    objects = manifest.get("objects") if isinstance(manifest.get("objects"), dict) else {}
    recorded = objects.get(layout.entries_name(first, last)) if isinstance(objects, dict) else None
    if recorded != layout.sha256(data):
        raise Found("altered", f"{layout.entries_name(first, last)} is not the object its manifest recorded")
    checked.leaves += b"".join(leaves)
    checked.last, checked.size, checked.root = last, size, root
    checked.segments += 1


def _leaves(lines: list[bytes], *, checked: Checked, first: int, last: int, keep_from: int | None) -> list[bytes]:
    """The leaf hashes of a segment's lines, each an entry in its signed form with the next seq (`first` to
    `last`); the lines from seq `keep_from` on kept in `checked` (to compare with Redis)."""
    where = layout.segment_dir(first, last)
    leaves: list[bytes] = []
    for number, line in enumerate(lines, first):
        parsed = layout.parse_line(line)
        if parsed is None:
            raise Found("altered", f"the entry after seq {number - 1:,} in {where} is not an entry's line")
        entry_id, fields = parsed
        seq = seq_of(fields)
        if seq is None or seq < number:
            raise Found("inserted", f"entry {entry_id[:40]} (seq {seq}) in {where}: its seq repeats or goes back"
                        f" (seq {number:,} expected)")
        if seq > number:
            raise Found("deleted", f"entries seq {number:,} to {seq - 1:,} are missing from {where}, before entry"
                        f" {entry_id[:40]}")
        if canonical(entry_id, fields) != line:
            raise Found("altered", f"entry {entry_id[:40]} (seq {seq:,}) in {where} is not in its signed form")
        if keep_from is not None and seq >= keep_from:
            checked.kept[seq] = line
        leaves.append(leaf_hash(line))
        checked.last_id = entry_id
    if len(lines) < last - first + 1:
        raise Found("deleted", f"entries seq {first + len(lines):,} to {last:,} are missing from the end of {where}")
    if len(lines) > last - first + 1:
        raise Found("inserted", f"{where} holds {len(lines) - (last - first + 1)} entries past seq {last:,}")
    return leaves


async def _which_entry(
    archive: ArchiveStore, *, checked: Checked, leaves: list[bytes], size: int, where: str
) -> None:
    """The entries of a segment do not give the signed head: name the first whose leaf hash is not its tile's."""
    start = checked.size
    for index in range(start // WIDTH, (size - 1) // WIDTH + 1):
        tile = await archive.get(tile_path(0, index, min(WIDTH, size - index * WIDTH)))
        stored = split(tile or b"")
        for position, h in enumerate(stored):
            at = index * WIDTH + position
            if start <= at < size and h != leaves[at - start]:
                raise Found("altered", f"entry seq {checked.base + at:,} in {where} is not the one the signed tree"
                            " holds (its leaf hash is not its tile's)")
    raise Found("altered", f"the entries of {where} do not give the tree head {layout.checkpoint_name(size)} signs"
                " (an entry and its tile were both rewritten)")


async def _checkpoint(
    archive: ArchiveStore, *, trust: ArchiveTrust, origin: str, size: int, prev: tuple[int, bytes]
) -> dict[str, Any]:
    """The signed tree head of `size` (JWS and note), checked; its claims."""
    name = layout.checkpoint_name(size)
    jws = (await archive.get(name) or b"").decode(errors="replace")
    if not jws:
        raise Found("deleted", f"the signed checkpoint {name} is gone")
    kid = kid_of(jws)
    if not kid:
        raise Found("checkpoint forged", f"{name} is not a signed checkpoint (a compact JWS with a kid)")
    if kid not in trust.keys:
        if trust.pinned:
            raise Found("key not pinned", f"{name} is signed by key {kid[:60]}, which {trust.source} does not pin")
        raise Found("checkpoint forged", f"{name} is signed by key {kid[:60]}, not one of {trust.source}")
    try:
        claims = trust.verify(jws)
    except SigningError as exc:
        raise Found("checkpoint forged", f"{name}: {exc}") from None
    if claims.get("v") != layout.VERSION or claims.get("origin") != origin or claims.get("size") != size:
        raise Found("checkpoint forged", f"{name} signs another log or size ({str(claims.get('origin'))[:80]},"
                    f" {claims.get('size')})")
    if claims.get("prev_size") != prev[0] or claims.get("prev_root") != prev[1].hex():
        raise Found("checkpoint forged", f"{name} does not follow the checkpoint of tree size {prev[0]:,}: the chain"
                    " of checkpoints breaks there")
    note = layout.read_note(await archive.get(layout.checkpoint_name(size, "note")) or b"")
    public = layout.raw_public(trust.xs.get(kid, ""))
    root = bytes.fromhex(str(claims.get("root", ""))) if _hex(claims.get("root")) else b""
    if note is None or note.body != layout.note_body(origin, size, root):
        raise Found("checkpoint forged", f"{layout.checkpoint_name(size, 'note')} is missing or signs another tree"
                    " than the JWS")
    key_id = layout.note_key_id(origin, public)
    if not any(name_ == origin and kid_ == key_id and _ed25519(public, sig, note.body)
               for name_, kid_, sig in note.signatures):
        raise Found("checkpoint forged", f"{layout.checkpoint_name(size, 'note')}: no signature of key {kid[:60]}"
                    " verifies")
    return claims


def _hex(value: object) -> bool:
    try:
        return len(bytes.fromhex(str(value))) == 32
    except ValueError:
        return False


def _ed25519(public: bytes, signature: bytes, body: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, body)
        return True
    except (InvalidSignature, ValueError):
        return False


async def _tiles(archive: ArchiveStore, *, checked: Checked, names: list[str]) -> None:
    """Every tile is the hashes of the entries, and the tree's tiles are all there."""
    full = WIDTH * HASH
    levels = [bytes(checked.leaves)]
    while len(levels[-1]) >= full:
        row = levels[-1]
        levels.append(b"".join(root_of(split(row[i:i + full])) for i in range(0, len(row) - full + 1, full)))
    have = set(names)
    for name in names:
        where = layout.parse_tile(name)
        if where is None:
            raise Found("inserted", f"{name} is not a tile")
        level, index, width = where
        row = levels[level] if level < len(levels) else b""
        expected = row[index * full:index * full + width * HASH]
        if len(expected) != width * HASH:
            raise Found("inserted", f"tile {name} is beyond the tree (size {checked.size:,})")
        stored = await archive.get(name) or b""
        if stored != expected:
            got = split(stored)
            at = next((i for i, h in enumerate(split(expected)) if i >= len(got) or got[i] != h), 0)
            what = (f"seq {checked.base + index * WIDTH + at:,}'s leaf hash" if level == 0
                    else f"hash {at} of level {level}")
            raise Found("altered", f"tile {name} was rewritten: its {what} is not the entries'")
        checked.tiles += 1
    for level in range(len(levels)):
        count = count_at(checked.size, level)
        for index in range((count + WIDTH - 1) // WIDTH):
            name = tile_path(level, index, min(WIDTH, count - index * WIDTH))
            if name not in have:
                raise Found("deleted", f"tile {name} of the tree of size {checked.size:,} is gone")


def join_redis(checked: Checked, redis_entries: list[tuple[str, dict[str, str]]], *,
                     archived: int | None, signed_archived: int | None) -> str | None:
    """The archive and Redis against each other: Redis's oldest entries join the archive without a gap, agree where
    both have them, and Redis never says more was archived than the archive holds. A problem said, or None."""
    for said_by, value in (("Redis's archived_through", archived), ("the newest Redis checkpoint", signed_archived)):
        if value is not None and value > checked.last:
            return (f"segment missing: {said_by} says the archive holds seq up to {value:,}, it ends at seq"
                    f" {checked.last:,}")
    numbered = [(seq, entry_id, fields) for entry_id, fields in redis_entries if (seq := seq_of(fields)) is not None]
    if numbered and numbered[0][0] > checked.last + 1:
        return (f"deleted: entries seq {checked.last + 1:,} to {numbered[0][0] - 1:,} are in neither the archive"
                f" (it ends at seq {checked.last:,}) nor Redis (it starts at seq {numbered[0][0]:,})")
    for seq, entry_id, fields in numbered:
        if seq > checked.last:
            break
        line = checked.kept.get(seq)
        if line is not None and line != canonical(entry_id, fields):
            return (f"altered: the archive and Redis disagree on entry seq {seq:,} ({entry_id}): one of them was"
                    " altered")
    return None
