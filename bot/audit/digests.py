"""What the workers hash: an audit entry's canonical encoding, its digest, and the chain of digests by seq.

An entry's canonical encoding is the RFC 8785 (JCS) JSON of one array: its stream id, then each field's name and
value in stored order (`["1795000000123-0", "event", "decision", ..., "seq", "41"]`). It is an array of strings, so
JCS is `json.dumps` with no spaces and no ASCII escaping (a test holds it to the `rfc8785` package's output); the
stream id is in it, so the time an entry was written (and every trim, which goes by stream id) is signed too.

An entry's digest (its leaf) is the SHA-256 of that encoding. The chain runs over the leaves by seq: `head(k) =
SHA-256(head(k - 1) || leaf(k))` (raw 32-byte digests), starting from the scheme's anchor, `ZERO`. A checkpoint
signs the head at its last seq and keeps its leaves beside the signature, so a verifier names the first entry that
differs.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from itertools import chain as chain_items
from json.encoder import encode_basestring as _string

ZERO = "0" * 64  # the chain's anchor: the head before seq 1
DIGEST = 32


def canonical(entry_id: str, fields: Mapping[str, str]) -> bytes:
    """The entry's RFC 8785 encoding (see the module): each string as `json.dumps(ensure_ascii=False)` writes it
    (the C encoder, called once per string: verify hashes every entry)."""
    return ("[" + ",".join(map(_string, chain_items((entry_id,), *fields.items()))) + "]").encode()


def leaf(entry_id: str, fields: Mapping[str, str]) -> bytes:
    """The entry's digest: SHA-256 of its canonical encoding."""
    return hashlib.sha256(canonical(entry_id, fields)).digest()


def chain(anchor: bytes, leaves: Iterable[bytes]) -> bytes:
    """The head after `leaves`, from `anchor` (a head, or `ZERO`)."""
    head = anchor
    for digest in leaves:
        head = hashlib.sha256(head + digest).digest()
    return head


def pack(leaves: list[bytes]) -> str:
    """Leaves as the text kept beside a checkpoint (base64 of their concatenation)."""
    return base64.b64encode(b"".join(leaves)).decode()


def unpack(text: str) -> list[bytes] | None:
    """`pack`'s leaves back, or None when the text is not that."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    if len(raw) % DIGEST:
        return None
    return [raw[i:i + DIGEST] for i in range(0, len(raw), DIGEST)]


def seq_of(fields: dict[str, str]) -> int | None:
    """An entry's seq when it is numbered by this scheme (its last field is `seq`, a positive number), else None."""
    for last in reversed(fields):
        value = fields[last]
        if last == "seq" and value.isascii() and value.isdigit() and int(value) > 0:
            return int(value)
        return None
    return None

