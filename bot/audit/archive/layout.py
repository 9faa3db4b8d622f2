"""Pure: the archive's objects, by name, and how each is encoded.

    log.json                                    the log's origin and where the archive starts (its base seq)
    segments/<first>-<last>/entries.jsonl.gz    the entries seq first..last, one RFC 8785 line each, gzip
    segments/<first>-<last>/manifest.json       written last: seals the segment (its objects' SHA-256, the tree)
    tile/<L>/<N>[.p/<W>]                        the Merkle tree's hashes (C2SP tlog-tiles; bot/audit/archive/merkle.py)
    checkpoints/<size>.jws                      the tree head of `size` leaves signed as the workers sign today
    checkpoints/<size>.note                     the same tree head as a C2SP signed note (tlog-checkpoint)
    keys/<kid>.json                             the public JWK of each key that signed a checkpoint (the key history)

Seqs and sizes are written with 12 digits, so names sort in order. Leaf `i` of the tree is the entry of seq
`base + i`; its data is the entry's line as archived.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.documents import loads_object as loads_object  # (the archive's readers read objects by this name)
from bot.core.signing import SigningError, b64url_decode

LOG = "log.json"
FORMAT = 1
VERSION = "archive-1"  # an archive checkpoint's claims say `v` this (the Redis log's say 2)
DIGITS = 12
SEGMENT = re.compile(r"segments/(\d{12})-(\d{12})/(entries\.jsonl\.gz|manifest\.json)")
TILE = re.compile(r"tile/(\d+)/((?:x\d{3}/)*\d{3})(?:\.p/(\d+))?")
CHECKPOINT = re.compile(r"checkpoints/(\d{12})\.(jws|note)")


def segment_dir(first: int, last: int) -> str:
    return f"segments/{first:0{DIGITS}d}-{last:0{DIGITS}d}"


def entries_name(first: int, last: int) -> str:
    return segment_dir(first, last) + "/entries.jsonl.gz"


def manifest_name(first: int, last: int) -> str:
    return segment_dir(first, last) + "/manifest.json"


def checkpoint_name(size: int, kind: str = "jws") -> str:
    return f"checkpoints/{size:0{DIGITS}d}.{kind}"


def key_name(kid: str) -> str:
    return "keys/" + re.sub(r"[^A-Za-z0-9_-]", "_", kid)[:100] + ".json"


def pack_entries(lines: Iterable[bytes]) -> bytes:
    """The entries object: their lines, gzip (no time in its header: the same entries give the same bytes)."""
    return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=6, mtime=0)


def unpack_entries(data: bytes) -> list[bytes] | None:
    """The lines of an entries object, or None when it is not one."""
    try:
        text = gzip.decompress(data)
    except (OSError, EOFError, ValueError):
        return None
    if text and not text.endswith(b"\n"):
        return None
    return text.split(b"\n")[:-1] if text else []


def parse_line(line: bytes) -> tuple[str, dict[str, str]] | None:
    """An entry's line back as (stream id, fields in order), or None when it is not one."""
    try:
        items = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(items, list) or len(items) % 2 != 1 or not all(isinstance(i, str) for i in items):
        return None
    fields = dict(zip(items[1::2], items[2::2], strict=True))
    return (items[0], fields) if len(fields) * 2 + 1 == len(items) else None


def parse_tile(name: str) -> tuple[int, int, int] | None:
    """(level, index, width) of a tile's object name, or None."""
    found = TILE.fullmatch(name)
    if found is None:
        return None
    width = int(found.group(3)) if found.group(3) else 256
    return int(found.group(1)), int(found.group(2).replace("x", "").replace("/", "")), width


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dumps(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


# C2SP signed note (https://c2sp.org/signed-note) of a tlog-checkpoint (https://c2sp.org/tlog-checkpoint), Ed25519.

def note_body(origin: str, size: int, root: bytes) -> bytes:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n".encode()


def note_key_id(name: str, public: bytes) -> bytes:
    """A signed note's key ID of an Ed25519 key: the first 4 bytes of SHA-256(name, newline, 0x01, key)."""
    return hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]


def note(body: bytes, name: str, public: bytes, signature: bytes) -> bytes:
    line = f"\u2014 {name} {base64.b64encode(note_key_id(name, public) + signature).decode()}\n"
    return body + b"\n" + line.encode()


@dataclass(frozen=True)
class Note:
    body: bytes
    signatures: list[tuple[str, bytes, bytes]]  # (key name, key ID, signature)


def read_note(data: bytes) -> Note | None:
    """A signed note's body and signatures, or None when it is not one."""
    body, sep, rest = data.partition(b"\n\n")
    if not sep or not rest.endswith(b"\n"):
        return None
    signatures: list[tuple[str, bytes, bytes]] = []
    for line in rest.decode(errors="replace").splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            return None
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            return None
        if len(raw) < 5:
            return None
        signatures.append((parts[1], raw[:4], raw[4:]))
    return Note(body + b"\n", signatures)


def raw_public(x: str) -> bytes:
    """An Ed25519 JWK's `x` as its 32 raw bytes (b"" when it is not)."""
    try:
        raw = b64url_decode(x)
    except SigningError:
        return b""
    return raw if len(raw) == 32 else b""
