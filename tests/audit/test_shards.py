"""The audit log in shards (bot/audit/shards.py): a new log is one shard; a log of the old chain (before #44, written
here by the old version's own Lua step, tests/support/old_worker.py) continued by this version is two, the old one
frozen where this version's first entry went; each is verified by its own rules, and every finding names its shard:
an entry altered in either, the end of the frozen one cut, an entry (or a checkpoint) an old worker wrote after the
freeze. The index is written in the append step itself, only at a new counter: appends stay one INCR and one XADD."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.audit.checkpoints import CHECKPOINT_TYPE
from bot.audit.legacy import entry_hash
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.audit_log import UnannouncedWriter, entries, rewrite, signing_keys, verdict
from tests.support.old_worker import OldWorker, copies_unchanged

Entry = tuple[str, dict[str, str]]
OLD = "audit log NOT intact: shard 1 (scheme legacy): "
NEW = "audit log NOT intact: shard 2 (scheme 2): "


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


def writer(store: Store, keys: SigningKeys) -> UnannouncedWriter:
    return UnannouncedWriter(store, keys, worker="w1", every=1000, interval=0, retention=10**9)


async def index(store: Store) -> dict[str, dict[str, str]]:
    return {n: json.loads(record) for n, record in (await store.audit.shards()).items()}


def test_the_old_steps_are_the_old_versions_files() -> None:
    assert copies_unchanged() == dict.fromkeys(copies_unchanged(), True)


async def test_a_new_log_is_one_shard(store: Store, keys: SigningKeys) -> None:
    for n in range(3):
        await store.audit.append("settings", by="U0ALICE", n=str(n))
    log = await entries(store)
    assert await index(store) == {"1": {"scheme": "2", "first_seq": "1", "first_id": log[0][0]}}
    assert await writer(store, keys).write_due()
    said, code = await verdict(store, keys)
    assert code == 0 and said.startswith("audit log intact: shard 1 (scheme 2): 3 entries checked, seq 1 to 3; 1 signed"
                                         " checkpoints verified"), said
    assert "shard 2" not in said and "legacy" not in said
    await store.redis.hset(store.keys.audit_shards, "1", "not JSON")  # type: ignore[misc]
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"audit log NOT intact: the shard index {store.keys.audit_shards} is not one: shard '1'"
                               " is not a shard's record: 'not JSON'")


async def test_an_append_after_the_first_reads_neither_the_log_nor_the_index(store: Store) -> None:
    await store.audit.append("settings", by="U0ALICE")
    await store.redis.config_resetstat()
    await store.audit.append("settings", by="U0ALICE")
    called = {name.removeprefix("cmdstat_") for name in await store.redis.info("commandstats")}
    assert called & {"incr", "xadd"} == {"incr", "xadd"}
    assert not called & {"xrevrange", "exists", "hset", "hgetall", "hlen", "scan"}, called


async def two_shards(store: Store, keys: SigningKeys) -> tuple[list[Entry], OldWorker]:
    """Nine entries by an old worker (its checkpoints at seq 3, 6, 9), then five of this version, signed: the old
    worker's shard frozen at seq 9, shard 2 from seq 10."""
    old = OldWorker(store, "old1", keys=keys, every=3, interval=3600)
    for _ in range(9):
        await old.append()
        await old.write_due()
    assert await store.audit.shards() == {}  # the old version keeps no index
    for n in range(5):
        await store.audit.append("decision", by="U0NEW", n=str(n))
    assert await writer(store, keys).write_due()
    return await entries(store), old


async def test_the_old_chain_continued_by_this_version_is_two_shards_and_verifies(
    store: Store, keys: SigningKeys
) -> None:
    log, _ = await two_shards(store, keys)
    assert await index(store) == {
        "1": {"scheme": "legacy", "last_id": log[8][0], "last_seq": "9", "last_hash": log[8][1]["hash"]},
        "2": {"scheme": "2", "first_seq": "10", "first_id": log[9][0]},
    }
    assert list(log[9][1])[-1] == "seq" and log[9][1]["seq"] == "10"
    said, code = await verdict(store, keys)
    assert code == 0, said
    assert said.startswith("audit log intact: shard 1 (scheme legacy), frozen at seq 9: 9 entries of the old chain"
                           " checked, seq 1 to 9, under 3 of its checkpoints; shard 2 (scheme 2): 5 entries checked,"
                           " seq 10 to 14; 1 signed checkpoints verified, the last at seq 14"), said
    stored = await index(store)
    await store.redis.delete(store.keys.audit_seq)  # a lost counter: the seq goes on, the index stays as it is
    assert (await store.audit.append("settings", by="U0NEW"))[0] == 15
    assert await index(store) == stored


async def test_an_altered_entry_is_named_with_its_shard(store: Store, keys: SigningKeys) -> None:
    log, _ = await two_shards(store, keys)
    edited = list(log)
    edited[1] = (log[1][0], {**log[1][1], "by": "U0MALLORY"})  # seq 2, in the old chain's shard
    await rewrite(store, edited)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{OLD}altered: entry {log[1][0]} (seq 2): its fields do not hash to its `hash`")
    edited = list(log)
    edited[11] = (log[11][0], {**log[11][1], "by": "U0MALLORY"})  # seq 12, in this scheme's
    await rewrite(store, edited)
    said, code = await verdict(store, keys)
    checkpoint_id = (await store.audit.checkpoints())[-1][0]
    assert (code, said) == (1, f"{NEW}altered: entry {log[11][0]} (seq 12): it is not what checkpoint {checkpoint_id}"
                               " signed for this seq")


async def test_the_end_of_the_frozen_shard_cut_is_named_with_its_shard(store: Store, keys: SigningKeys) -> None:
    log, _ = await two_shards(store, keys)
    await rewrite(store, log[:7] + log[9:])  # seq 8 and 9 gone: the old chain's checkpoint at seq 9 tells
    said, code = await verdict(store, keys)
    assert code == 1 and said.startswith(f"{OLD}deleted: "), said
    await store.redis.delete(store.keys.audit_checkpoints)  # and with no checkpoint left, the index
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{OLD}deleted: entry {log[6][0]} (seq 8): entries seq 8 to 9 at the end of the shard"
                               f" are gone: it was frozen at entry {log[8][0]} (seq 9)")


async def test_an_old_workers_entry_after_the_freeze_is_named_with_its_shard(store: Store, keys: SigningKeys) -> None:
    log, old = await two_shards(store, keys)
    seq, entry_id = await old.append()  # the old step: no chain at the end, so it starts again at seq 1
    assert seq == 1
    said, code = await verdict(store, keys)
    frozen = f"frozen at entry {log[8][0]} (seq 9)"
    assert (code, said) == (1, f"{OLD}inserted: entry {entry_id} (seq 1): an entry of the old chain's form, appended"
                               f" after the shard was {frozen}: a worker of the old version wrote it after this"
                               " version's first entry")
    await store.audit.append("settings", by="U0NEW")
    assert not await writer(store, keys).write_due()  # nothing signed past it
    # a checkpoint of the old chain's form signing it (as the old writer signs its chain's head) still tells, the
    # entry gone
    fields = dict((await store.redis.xrange(store.keys.audit, min=entry_id, max=entry_id))[0][1])
    claims = {"seq": 1, "hash": fields["hash"], "id": entry_id, "at": time.time()}
    await store.redis.xadd(store.keys.audit_checkpoints, {  # type: ignore[arg-type]
        "seq": "1", "hash": fields["hash"], "id": entry_id, "at": repr(claims["at"]),
        "jws": keys.sign(claims, typ=CHECKPOINT_TYPE)})
    old_checkpoint = (await store.audit.checkpoints())[-1]
    await rewrite(store, [e for e in await entries(store) if e[0] != entry_id])
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{OLD}inserted: entry {entry_id} (seq 1): checkpoint {old_checkpoint[0]}, of the old"
                               f" chain's form, signs this entry, appended after the shard was {frozen}: a worker of"
                               " the old version wrote it")


async def test_a_log_without_an_index_is_told_by_its_entries_form(store: Store, keys: SigningKeys) -> None:
    """A log written before the index existed (the #44 version's upgrade): the same two shards, inferred."""
    log, _ = await two_shards(store, keys)
    await store.redis.delete(store.keys.audit_shards)
    said, code = await verdict(store, keys)
    assert code == 0 and said.startswith("audit log intact: shard 1 (scheme legacy): 9 entries of the old chain"
                                         " checked"), said
    assert "; no shard index (a log written before it): the shards told by their entries' form" in said
    extra = {"event": "settings", "at": "1", "by": "old1", "seq": "1", "prev": "0" * 64, "hash": ""}
    extra["hash"] = entry_hash(extra)
    await store.redis.xadd(store.keys.audit, extra)  # type: ignore[arg-type]
    said, code = await verdict(store, keys)
    assert code == 1 and said.startswith(f"{OLD}inserted: "), said
    assert f"appended after the shard was frozen at entry {log[8][0]} (seq 9)" in said


async def test_a_frozen_shard_trimmed_away_is_still_named_and_anchors_the_next(store: Store, keys: SigningKeys) -> None:
    log, _ = await two_shards(store, keys)
    await store.audit.append("settings", by="U0NEW")
    trimmer = UnannouncedWriter(store, keys, worker="w1", every=1000, interval=0, retention=1.0)
    assert await trimmer.write_due(now=time.time() + 60)  # everything but the newest entry is past the retention
    assert [fields["seq"] for _, fields in await entries(store)] == ["15"]
    said, code = await verdict(store, keys)
    assert code == 0 and said.startswith("audit log intact: shard 1 (scheme legacy), frozen at seq 9: no entry of"
                                         " it is left (trimmed); shard 2 (scheme 2): 1 entries checked, seq 15 to"
                                         " 15;"), said
    stored = await index(store)
    await store.redis.hset(store.keys.audit_shards, "1", json.dumps(  # type: ignore[misc]
        {**stored["1"], "last_hash": "f" * 64}))
    said, code = await verdict(store, keys)
    first = next(i for i, fields in await store.audit.checkpoints() if fields.get("from") == "10")
    assert (code, said) == (1, f"{OLD}altered: entry {log[8][0]} (seq 9): the index says the shard was frozen at this"
                               f" entry (trimmed) with another hash than checkpoint {first} anchors shard 2 (scheme"
                               " 2) on")
