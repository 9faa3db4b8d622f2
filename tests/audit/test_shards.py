"""The audit log's scheme (bot/audit/shards.py): a new log is one shard, of scheme 2, and every finding names it; the
index is written in the append step itself, only at a new counter (appends stay one INCR and one XADD). What is not
of this scheme (an index of another, an entry or a checkpoint of the old chain's form, which versions before 0.1.0
wrote) is named, never verified and never a crash; the checkpoint writer signs none of it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.audit.checkpoints import CHECKPOINT_TYPE
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.audit_log import UnannouncedWriter, entries, rewrite, signing_keys, verdict

Entry = tuple[str, dict[str, str]]
BROKEN = "audit log NOT intact: shard 1 (scheme 2): "
OLD_FORM = ("(it ends with `seq`, `prev`, `hash`: an entry of the old chain's form, which versions before 0.1.0 wrote,"
            " is not of this scheme)")


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


def writer(store: Store, keys: SigningKeys) -> UnannouncedWriter:
    return UnannouncedWriter(store, keys, worker="w1", every=1000, interval=0, retention=10**9)


async def index(store: Store) -> dict[str, dict[str, str]]:
    return {n: json.loads(record) for n, record in (await store.audit.shards()).items()}


async def test_a_new_log_is_one_shard(store: Store, keys: SigningKeys) -> None:
    for n in range(3):
        await store.audit.append("settings", by="U0ALICE", n=str(n))
    log = await entries(store)
    assert await index(store) == {"1": {"scheme": "2", "first_seq": "1", "first_id": log[0][0]}}
    assert await writer(store, keys).write_due()
    said, code = await verdict(store, keys)
    assert code == 0 and said.startswith("audit log intact: shard 1 (scheme 2): 3 entries checked, seq 1 to 3; 1 signed"
                                         " checkpoints verified"), said
    assert "shard 2" not in said and "legacy" not in said and "no shard index" not in said
    await store.redis.delete(store.keys.audit_shards)  # a log written before the index, or its index deleted
    said, code = await verdict(store, keys)
    assert code == 0 and "; no shard index (a log written before it): read as one shard of scheme 2;" in said, said
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


async def test_a_lost_counter_goes_on_from_the_newest_entry_and_leaves_the_index(store: Store) -> None:
    for n in range(3):
        await store.audit.append("settings", by="U0ALICE", n=str(n))
    stored = await index(store)
    await store.redis.delete(store.keys.audit_seq)
    assert (await store.audit.append("settings", by="U0ALICE"))[0] == 4
    assert await index(store) == stored


async def test_an_index_of_another_scheme_is_named(store: Store, keys: SigningKeys) -> None:
    await store.audit.append("settings", by="U0ALICE")
    first = await index(store)
    legacy = {"scheme": "legacy", "last_id": "5-0", "last_seq": "7", "last_hash": "ab"}  # as versions before 0.1.0
    await store.redis.hset(store.keys.audit_shards, mapping={  # type: ignore[misc]
        "1": json.dumps(legacy), "2": json.dumps(first["1"])})
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"audit log NOT intact: the shard index {store.keys.audit_shards} is not one: its shards"
                               " are numbered ['1', '2'], not ['1']: this version writes one shard")
    await store.redis.hdel(store.keys.audit_shards, "2")  # type: ignore[misc]
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"audit log NOT intact: the shard index {store.keys.audit_shards} is not one: shard 1 is"
                               " of scheme 'legacy', not of this scheme (2): this version verifies no other (the old"
                               " chain's shard was written by versions before 0.1.0)")


def old_form(seq: int, prev: str = "0" * 64) -> dict[str, str]:
    """An entry as the old chain's Lua step (before 0.1.0) ended it: `seq`, `prev`, `hash`."""
    return {"event": "settings", "at": "1", "by": "U0OLD", "seq": str(seq), "prev": prev, "hash": "ab" * 32}


async def test_an_entry_of_the_old_chains_form_is_not_of_this_scheme(store: Store, keys: SigningKeys) -> None:
    await store.redis.xadd(store.keys.audit, old_form(1), id="1000000-0")  # type: ignore[arg-type]
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}inserted: entry 1000000-0 (seq 1): it has no `seq` {OLD_FORM}")
    await store.audit.append("settings", by="U0ALICE")  # seq 1 of this scheme, after it
    assert not await writer(store, keys).write_due()  # the log's first entry is not seq 1 of this scheme: not signed
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}inserted: entry 1000000-0 (seq 1): it has no `seq` {OLD_FORM}")
    await store.redis.delete(store.keys.audit, store.keys.audit_seq)
    for n in range(3):
        await store.audit.append("settings", by="U0ALICE", n=str(n))
    assert await writer(store, keys).write_due()
    log = await entries(store)
    after = "9999999999999-0"  # an old worker's entry after this scheme's
    await rewrite(store, [*log, (after, old_form(4, prev="cd" * 32))])
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}inserted: entry {after} (seq 4): it has no `seq`, among numbered entries"
                               f" {OLD_FORM}")


async def test_a_checkpoint_of_the_old_chains_form_is_not_of_this_scheme(store: Store, keys: SigningKeys) -> None:
    for n in range(3):
        await store.audit.append("settings", by="U0ALICE", n=str(n))
    assert await writer(store, keys).write_due()
    log = await entries(store)
    claims = {"seq": 3, "hash": "ab" * 32, "id": log[2][0], "at": time.time()}  # as the old writer signed them
    old = await store.redis.xadd(store.keys.audit_checkpoints, {  # type: ignore[arg-type]
        "seq": "3", "hash": "ab" * 32, "id": log[2][0], "at": repr(claims["at"]),
        "jws": keys.sign(claims, typ=CHECKPOINT_TYPE)})
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}checkpoint {old} (seq 3) is not a checkpoint of this scheme: it has no `v`"
                               " (the old chain's checkpoints, `seq`, `hash`, `id`, `at`, were written by versions"
                               " before 0.1.0)")
    await store.audit.append("settings", by="U0ALICE")
    assert not await writer(store, keys).write_due()  # the newest checkpoint is not of this scheme: nothing signed
    await store.redis.xdel(store.keys.audit_checkpoints, old)
    await store.redis.xadd(store.keys.audit_checkpoints, {"v": "3", "seq": "4"})  # type: ignore[arg-type]
    said, code = await verdict(store, keys)
    assert code == 1 and said.endswith("(seq 4) is not a checkpoint of this scheme: its `v` is '3', not 2"), said
