"""Pure: the archive's Merkle tree (RFC 6962 / RFC 9162) and its tiles (C2SP tlog-tiles).

A leaf is one archived entry's line (its RFC 8785 encoding, bot/audit/digests.py); its hash is SHA-256(0x00 ||
line), an inner node's SHA-256(0x01 || left || right), and the tree head of `n` leaves is RFC 6962's MTH. A tree
is kept as its right edge (`Frontier`: the roots of its perfect subtrees, largest first), enough to append and to
say the root.

Tiles (https://c2sp.org/tlog-tiles): level 0 holds the leaf hashes, 256 to a tile; level L the hashes of the full
tiles of level L - 1 (the roots of subtrees of 256**L leaves). A tile is `tile/<L>/<N>`, or `tile/<L>/<N>.p/<W>`
while it holds only W < 256 hashes (a later, wider one is another object: none is ever rewritten).

    >>> tile_path(0, 1234067)
    'tile/0/x001/x234/067'
    >>> tile_path(1, 5, 17)
    'tile/1/005.p/17'
    >>> f = Frontier()
    >>> for n in range(3):
    ...     f.append(leaf_hash(bytes([n])))
    >>> f.root() == node(node(leaf_hash(b"\\x00"), leaf_hash(b"\\x01")), leaf_hash(b"\\x02"))
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

HEIGHT = 8  # a tile's height: 2**8 = 256 hashes
WIDTH = 1 << HEIGHT
HASH = 32
EMPTY = hashlib.sha256(b"").digest()  # the head of an empty tree


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(hashes: list[bytes]) -> bytes:
    """MTH of these (leaf or subtree) hashes, as RFC 6962 splits them."""
    if not hashes:
        return EMPTY
    frontier = Frontier()
    for h in hashes:
        frontier.append(h)
    return frontier.root()


@dataclass
class Frontier:
    """A tree as the roots of its perfect subtrees, left to right: (height, hash)."""

    stack: list[tuple[int, bytes]] = field(default_factory=list)
    size: int = 0

    def append(self, h: bytes) -> None:
        stack = self.stack
        stack.append((0, h))
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            height, right = stack.pop()
            _, left = stack.pop()
            stack.append((height + 1, node(left, right)))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY
        head = self.stack[-1][1]
        for _, h in reversed(self.stack[:-1]):
            head = node(h, head)
        return head

    def dump(self) -> list[list[int | str]]:
        return [[height, h.hex()] for height, h in self.stack]

    @classmethod
    def load(cls, dumped: list[list[int | str]], size: int) -> Frontier:
        """A frontier as `dump` wrote it; ValueError when it is not one of `size` leaves."""
        stack = [(int(height), bytes.fromhex(str(h))) for height, h in dumped]
        if sum(1 << height for height, _ in stack) != size or any(len(h) != HASH for _, h in stack):
            raise ValueError("not the right edge of a tree of its size")
        return cls(stack, size)


def tile_path(level: int, index: int, width: int = WIDTH) -> str:
    """A tile's object name (C2SP tlog-tiles): the index in groups of three digits, `x` before all but the last."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
    name = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    return f"tile/{level}/{name}" + (f".p/{width}" if width < WIDTH else "")


def tiles_for(level_hashes: int, level: int, before: int) -> list[tuple[int, int]]:
    """The tiles of `level` (index, width) a tree writes when its hashes at that level go from `before` to
    `level_hashes`: each one they touch, at its new width."""
    if level_hashes <= before:
        return []
    return [(index, min(WIDTH, level_hashes - index * WIDTH))
            for index in range(before // WIDTH, (level_hashes - 1) // WIDTH + 1)]


def count_at(size: int, level: int) -> int:
    """How many hashes a tree of `size` leaves has at tile level `level`."""
    return size >> (HEIGHT * level)


def split(hashes: bytes) -> list[bytes]:
    return [hashes[i:i + HASH] for i in range(0, len(hashes), HASH)]


def subtree(lo: int, hi: int, perfect: Callable[[int, int], bytes]) -> bytes:
    """MTH of leaves [lo, hi), from `perfect(lo, height)`: the root of the perfect subtree of 2**height leaves at lo."""
    size = hi - lo
    if size & (size - 1) == 0:
        return perfect(lo, size.bit_length() - 1)
    k = 1 << (size - 1).bit_length() - 1
    return node(subtree(lo, lo + k, perfect), subtree(lo + k, hi, perfect))


def inclusion_path(index: int, size: int, perfect: Callable[[int, int], bytes]) -> list[bytes]:
    """RFC 6962's PATH(index, D[0:size]), leaf first."""
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = 1 << (hi - lo - 1).bit_length() - 1
        if index < lo + k:
            path.append(subtree(lo + k, hi, perfect))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k, perfect))
            lo = lo + k
    path.reverse()
    return path


def root_from_path(index: int, size: int, leaf: bytes, path: Iterable[bytes]) -> bytes | None:
    """The root an inclusion proof gives (RFC 9162, 2.1.3.2), or None when the path does not fit the size."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None
