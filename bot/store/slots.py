"""Where a key lives on Redis Cluster: its hash slot (`key_slot`, as `CLUSTER KEYSLOT` answers), and the prefix of
a workspace's keys under a hash tag of its own (`workspace_prefix`, issue 89). Pure: no Redis call.

On one node the names stay as they are (`{p}:ws:<tenant>:…`): one node has one keyspace, a tag would spread
nothing, and renaming every store that exists would cost each deployment a move for no gain. Sharded (Cluster:
`REDIS_URL=redis+cluster://`, the root a hash tag such as `{hitl}`, and `Keys(sharded=True)`) a workspace's keys are
`hitl:{ws:<tenant>}:…`: the first `{…}` of a name is its tag, so every key of the workspace (an approval's
`{<id>}` coming after it) hashes to the workspace's slot, its Lua steps run on one node, and workspaces spread over
the primaries; the global keys stay on the root's tag (`{hitl}:…`), and so do the home workspace's (its names kept:
a deployment of one workspace moves nothing, and its steps that read a global key stay in one slot)."""

from __future__ import annotations

SLOTS = 16384  # Redis Cluster's hash slots


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), Redis Cluster's key hash."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def hash_tag(key: str) -> str:
    """What of `key` is hashed: the text between its first `{` and the first `}` after it, when not empty; else
    the whole key (Redis Cluster's rule)."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def key_slot(key: str) -> int:
    """The hash slot of `key` on Redis Cluster (0 … 16383), as `CLUSTER KEYSLOT` says."""
    return crc16(hash_tag(key).encode()) % SLOTS


def is_tag(root: str) -> bool:
    """Whether the root prefix is a hash tag (`{hitl}`: Redis Cluster's, `bot.core.redis_urls.cluster_prefix`)."""
    return len(root) > 2 and root.startswith("{") and root.endswith("}")


def workspace_prefix(root: str, tenant: str, *, sharded: bool) -> str:
    """The prefix of `tenant`'s keys (not home's: home keeps the root's names): `sharded` and the root a tag
    (Cluster), under a hash tag of its own (`hitl:{ws:T…}`); else `{root}:ws:<tenant>` (the root's tag)."""
    if sharded and is_tag(root):
        return f"{root[1:-1]}:{{ws:{tenant}}}"
    return f"{root}:ws:{tenant}"


def tenant_of_prefix(root: str, prefix: str) -> str:
    """The tenant whose keys `prefix` names ("" for home's: the root itself), either shape of `workspace_prefix`."""
    for start, end in ((f"{root}:ws:", ""), (f"{root[1:-1]}:{{ws:", "}") if is_tag(root) else ("\0", "\0")):
        if prefix.startswith(start) and prefix.endswith(end):
            return prefix[len(start):len(prefix) - len(end)] if end else prefix[len(start):]
    return ""
