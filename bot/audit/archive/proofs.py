"""`python -m bot audit prove SEQ --archive URL` and `python -m bot audit check-proof FILE --jwks pinned.json`: one
entry proven in the archive's Merkle tree, and the proof checked offline.

A proof (JSON) holds the entry's line as archived (its RFC 8785 encoding: stream id, then its fields), its leaf
hash, its index in the tree and the audit path (RFC 6962, hex, leaf first) to the tree head of the archive's newest
signed checkpoint, with that checkpoint (JWS and signed note). Checking it needs no archive and no Redis: the line
gives the leaf hash, the path the root, and the JWS (checked with pinned keys) signs that root and size. The
auditor reads the entry's fields from `entry`.
"""

from __future__ import annotations

import json
from typing import Any

from bot.audit.archive import layout
from bot.audit.archive.merkle import (
    WIDTH,
    count_at,
    inclusion_path,
    leaf_hash,
    root_from_path,
    root_of,
    split,
    tile_path,
)
from bot.audit.archive.stores import ArchiveError, ArchiveStore
from bot.audit.archive.verify import ArchiveTrust, Found, _checkpoint
from bot.audit.digests import seq_of
from bot.audit.verify import kid_of
from bot.core.signing import SigningError

FORMAT = "hitl-audit-inclusion-proof/1"


class TileReader:
    """The hashes of perfect subtrees of the tree of `size` leaves, from the archive's tiles (each read once)."""

    def __init__(self, archive: ArchiveStore, size: int) -> None:
        self._archive = archive
        self._size = size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    async def load(self, lo: int, height: int) -> None:
        level = height // 8
        index = (lo >> (8 * level)) // WIDTH
        if (level, index) not in self._tiles:
            width = min(WIDTH, count_at(self._size, level) - index * WIDTH)
            data = await self._archive.get(tile_path(level, index, width))
            if data is None or len(data) != 32 * width:
                raise ArchiveError(f"{tile_path(level, index, width)} is missing or cut: `python -m bot audit verify"
                                   " --archive` names the problem")
            self._tiles[(level, index)] = split(data)

    def perfect(self, lo: int, height: int) -> bytes:
        level = height // 8
        at = lo >> (8 * level)
        row = self._tiles[(level, at // WIDTH)]
        return root_of(row[at % WIDTH:at % WIDTH + (1 << (height - 8 * level))])


async def prove(archive: ArchiveStore, *, seq: int, trust: ArchiveTrust) -> dict[str, Any]:
    """The inclusion proof of entry `seq` in the newest signed tree (Found or ArchiveError when there is none)."""
    head = layout.loads_object(await archive.get(layout.LOG))
    if head is None:
        raise Found("segment missing", f"no audit archive at {archive.url}")
    origin, base = str(head.get("origin")), int(str(head.get("base")))
    segments = sorted((int(m.group(1)), int(m.group(2))) for n in await archive.names("segments/")
                      if (m := layout.SEGMENT.fullmatch(n)) and m.group(3) == "manifest.json")
    if not segments:
        raise Found("segment missing", "the archive has no sealed segment yet")
    holder = next(((a, b) for a, b in segments if a <= seq <= b), None)
    if holder is None:
        raise Found("segment missing", f"no sealed segment holds seq {seq:,} (the archive holds seq {base:,} to"
                    f" {segments[-1][1]:,})")
    lines = layout.unpack_entries(await archive.get(layout.entries_name(*holder)) or b"") or []
    line = lines[seq - holder[0]] if seq - holder[0] < len(lines) else b""
    parsed = layout.parse_line(line)
    if parsed is None or seq_of(parsed[1]) != seq:
        raise Found("altered", f"{layout.entries_name(*holder)} does not hold seq {seq:,} where it should")
    manifest = layout.loads_object(await archive.get(layout.manifest_name(*segments[-1]))) or {}
    size = int(str(manifest.get("size", 0)))
    prev = (int(str(manifest.get("prev_size", 0))), bytes.fromhex(str(manifest.get("prev_root", ""))))
    claims = await _checkpoint(archive, trust=trust, origin=origin, size=size, prev=prev)
    index = seq - base
    reader = TileReader(archive, size)
    await _load_path(reader, index, size)
    path = inclusion_path(index, size, reader.perfect)
    h = leaf_hash(line)
    if root_from_path(index, size, h, path) != bytes.fromhex(str(claims["root"])):
        raise Found("altered", f"the tiles do not prove seq {seq:,} in the signed tree: `python -m bot audit verify"
                    " --archive` names the problem")
    return {"format": FORMAT, "origin": origin, "seq": seq, "entry_id": parsed[0], "entry": line.decode(),
            "fields": parsed[1], "leaf_index": index, "leaf_hash": h.hex(), "tree_size": size,
            "root": claims["root"], "audit_path": [p.hex() for p in path],
            "checkpoint": {"jws": (await archive.get(layout.checkpoint_name(size)) or b"").decode(),
                           "note": (await archive.get(layout.checkpoint_name(size, "note")) or b"").decode()}}


async def _load_path(reader: TileReader, index: int, size: int) -> None:
    """Read every tile the path of leaf `index` needs (the perfect subtrees `inclusion_path` will ask for)."""
    wanted: list[tuple[int, int]] = []

    def note(lo: int, height: int) -> bytes:
        wanted.append((lo, height))
        return b"\x00" * 32

    inclusion_path(index, size, note)
    for lo, height in wanted:
        await reader.load(lo, height)


def check_proof(proof: object, trust: ArchiveTrust) -> str:
    """What a proof proves, said; Found naming why it does not."""
    if not isinstance(proof, dict) or proof.get("format") != FORMAT:
        raise Found("altered", f"not an inclusion proof of this format ({FORMAT})")
    try:
        line = str(proof["entry"]).encode()
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(str(p)) for p in proof["audit_path"]]
        jws = str(proof["checkpoint"]["jws"])
    except (KeyError, ValueError, TypeError):
        raise Found("altered", "the proof lacks a field (entry, leaf_index, tree_size, audit_path,"
                    " checkpoint)") from None
    parsed = layout.parse_line(line)
    if parsed is None:
        raise Found("altered", "its entry is not an entry's line")
    kid = kid_of(jws)
    if kid not in trust.keys:
        raise Found("key not pinned" if trust.pinned else "checkpoint forged",
                    f"its checkpoint is signed by key {kid[:60]}, which {trust.source} does not hold")
    try:
        claims = trust.verify(jws)
    except SigningError as exc:
        raise Found("checkpoint forged", str(exc)) from None
    if claims.get("size") != size or claims.get("origin") != proof.get("origin"):
        raise Found("checkpoint forged", "its checkpoint signs another tree size or log than the proof says")
    h = leaf_hash(line)
    if proof.get("leaf_hash") not in (None, h.hex()):
        raise Found("altered", "its leaf_hash is not the hash of its entry")
    if proof.get("fields", parsed[1]) != parsed[1] or proof.get("entry_id", parsed[0]) != parsed[0]:
        raise Found("altered", "its fields or entry_id are not those of its entry (the line is what is proven)")
    seq = seq_of(parsed[1])
    if seq is None or seq != int(claims.get("base", -1)) + index:
        raise Found("altered", f"its entry is seq {seq}, not the seq of leaf {index} in this log")
    root = root_from_path(index, size, h, path)
    if root is None or root.hex() != claims.get("root"):
        raise Found("altered", "its entry and audit path do not give the root its checkpoint signs")
    return (f"inclusion proof OK: entry {parsed[0]} (seq {seq:,}, event {parsed[1].get('event', '?')[:40]}) is leaf"
            f" {index:,} of the archive {str(claims.get('origin'))[:100]}'s tree of {size:,} entries, root"
            f" {root.hex()}, signed by key {kid} ({trust.source}).")


def dumps(proof: dict[str, Any]) -> str:
    return json.dumps(proof, indent=2, ensure_ascii=False)
