"""The archive's formats against their specifications: the Merkle tree and its inclusion proofs against RFC 6962's
definitions written out naively, tile names as C2SP tlog-tiles spells them, and the signed note against the example
of Go's `golang.org/x/mod/sumdb/note` package (the reference implementation of C2SP signed-note)."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.audit.archive import layout
from bot.audit.archive.merkle import EMPTY, inclusion_path, leaf_hash, node, root_from_path, root_of, tile_path


def mth(data: list[bytes]) -> bytes:
    """RFC 6962, 2.1: MTH(D[n]), as written there."""
    if not data:
        return EMPTY
    if len(data) == 1:
        return leaf_hash(data[0])
    k = 1 << (len(data) - 1).bit_length() - 1
    return node(mth(data[:k]), mth(data[k:]))


def test_tree_heads_and_inclusion_proofs_are_rfc_6962s() -> None:
    for n in [*range(1, 40), 255, 256, 257, 600]:
        data = [n.to_bytes(2, "big") + i.to_bytes(2, "big") for i in range(n)]
        hashes = [leaf_hash(d) for d in data]
        head = mth(data)
        assert root_of(hashes) == head, n
        for index in range(0, n, max(1, n // 17)):
            path = inclusion_path(index, n, lambda lo, height: mth(data[lo:lo + (1 << height)]))  # noqa: B023
            assert root_from_path(index, n, hashes[index], path) == head, (n, index)
            if n > 1:
                assert root_from_path(index, n, hashes[(index + 1) % n], path) != head


def test_tile_names_are_tlog_tiles() -> None:
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 5, 17) == "tile/1/005.p/17"
    assert layout.parse_tile("tile/2/x001/x234/067.p/3") == (2, 1234067, 3)


def test_the_signed_note_is_the_go_note_packages() -> None:
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"  # from the package's documentation
    name, key_id, key = vkey.split("+")
    public = base64.b64decode(key)[1:]
    assert layout.note_key_id(name, public).hex() == key_id
    text = ("If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n"
            "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6Ryy"
            "BwJnAM=\n").encode()
    note = layout.read_note(text)
    assert note is not None and [(n, k.hex()) for n, k, _ in note.signatures] == [("PeterNeumann", key_id)]
    Ed25519PublicKey.from_public_bytes(public).verify(note.signatures[0][2], note.body)  # (raises if not)
    assert layout.note(note.body, name, public, note.signatures[0][2]) == text  # what the writer writes
