"""Upgrading a log of the old chain (before #44: `seq`, `prev`, `hash` computed in Lua, old-style checkpoints): the
old entries, a frozen shard, still verify under their checkpoints, the new ones, the next shard, under the new
scheme, anchored on the old chain's last hash; and the old chain's tampers, the stripped fields of #44 among them, are
still caught, each named with its shard (tests/audit/test_shards.py has the shards themselves)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.audit_log import UnannouncedWriter, entries, rehashed, rewrite, signing_keys, verdict, write_old
from tests.support.old_worker import OldWorker

CHAIN = ("seq", "prev", "hash")
OLD = "audit log NOT intact: shard 1 (scheme legacy): "  # a finding in the old chain's shard


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


def writer(store: Store, keys: SigningKeys) -> UnannouncedWriter:
    return UnannouncedWriter(store, keys, worker="w1", every=1000, interval=0, retention=10**9)


async def test_old_entries_verify_under_their_checkpoints_and_new_ones_under_the_new_scheme(
    store: Store, keys: SigningKeys
) -> None:
    old = await write_old(store, 6, keys=keys, every=3)  # as the old workers did: checkpoints at seq 3 and 6
    await write_old(store, 1)  # after the old writer's last checkpoint
    said, code = await verdict(store, keys)
    assert code == 0, said
    # the upgraded workers: numbering goes on, and the first checkpoint anchors on the old chain's last hash
    seq, _ = await store.audit.append("settings", by="U0NEW")
    assert seq == 8
    await store.audit.append("settings", by="U0NEW")
    assert await writer(store, keys).write_due()
    stored = (await store.audit.checkpoints())[-1][1]
    log = await entries(store)
    assert (stored["from"], stored["seq"], stored["prev"]) == ("8", "9", log[6][1]["hash"])
    said, code = await verdict(store, keys)
    assert code == 0, said
    assert said.startswith("audit log intact: shard 1 (scheme legacy), frozen at seq 7: 7 entries of the old chain"
                           " checked, seq 1 to 7, under 2 of its checkpoints; shard 2 (scheme 2): 2 entries checked,"
                           " seq 8 to 9; 1 signed checkpoints verified, the last at seq 9")
    # an old entry altered and its chain recomputed to its end: the first new checkpoint's anchor catches it
    prev = log[3][1]["prev"]
    for n in range(3, 7):
        fields = rehashed(log[n][1], prev=prev, **({"by": "U0MALLORY"} if n == 3 else {}))
        log[n], prev = (log[n][0], fields), fields["hash"]
    await rewrite(store, log)
    said, code = await verdict(store, keys)
    assert code == 1 and said.startswith(f"{OLD}altered: entry {log[5][0]} (seq 6): checkpoint")
    old_checkpoints = await store.audit.checkpoints()
    await rewrite(store, [c for c in old_checkpoints if c[1].get("v") == "2"], key=store.keys.audit_checkpoints)
    said, code = await verdict(store, keys)  # the old checkpoints deleted too: the new scheme's anchor still tells
    assert (code, said) == (1, f"{OLD}altered: entry {log[6][0]} (seq 7): checkpoint"
                               f" {old_checkpoints[-1][0]} anchors the new scheme on another hash than this entry's:"
                               " the old chain was rewritten")
    assert old[0][1]["seq"] == "1"


async def test_entries_stripped_of_the_old_chain_fields_are_not_skipped(store: Store, keys: SigningKeys) -> None:
    """#44's attack: the chain fields of the oldest entries removed, one of them edited: checkpoints covered them."""
    await write_old(store, 9, keys=keys, every=3)
    log = await entries(store)
    stripped = [(i, {k: v for k, v in f.items() if k not in CHAIN}) for i, f in log[:5]]
    stripped[2] = (stripped[2][0], {**stripped[2][1], "by": "U0MALLORY"})
    await rewrite(store, [*stripped, *log[5:]])
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{OLD}altered: entry {log[0][0]} (seq 1): it and 4 more entries have no chain"
                               " fields, yet the chain's first entry here is seq 6, not seq 1: their chain fields were"
                               " removed")
    # entries written before any chain, in front of its seq 1, are still skipped
    await store.redis.delete(store.keys.audit, store.keys.audit_checkpoints)
    for n in range(3):
        await store.redis.xadd(store.keys.audit, {"event": "old", "n": str(n)})
    await write_old(store, 2)
    await store.audit.append("settings", by="U0NEW")
    said, code = await verdict(store)
    assert code == 0, said
    assert "2 entries of the old chain checked, seq 1 to 2" in said and "1 entries checked, seq 3 to 3" in said
    assert "3 older entries written before the chain were skipped" in said


async def test_an_old_worker_writing_after_the_freeze_is_named_with_the_frozen_shard(store: Store) -> None:
    """An old worker still running once this version wrote (the old chain's shard frozen): its Lua step (the old
    version's own) finds no chain fields at the end and starts again at seq 1: reported, not silently accepted."""
    old = await write_old(store, 2)
    await store.audit.append("settings", by="U0NEW")
    seq, entry_id = await OldWorker(store, "old1").append()
    assert seq == 1
    said, code = await verdict(store)
    assert (code, said) == (1, f"{OLD}inserted: entry {entry_id} (seq 1): an entry of the old chain's form, appended"
                               f" after the shard was frozen at entry {old[-1][0]} (seq 2): a worker of the old version"
                               " wrote it after this version's first entry")
