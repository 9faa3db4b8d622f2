"""A log from a rolling upgrade through the bridge (the released version before the shards, commit 4590725): the old
chain (before #44), then, while old workers were still alive, their entries and the bridge's (`seq N prev bridge
hash bridge`) interleaved, then this scheme's plain entries. Written here as those versions wrote it (the old
workers' own Lua step, tests/support/old_worker.py; the bridge's append and checkpoint writer,
tests/support/bridge_worker.py), it has no shard index; `audit verify` tells its three shards by the entries' form
(legacy, bridged, scheme 2), verifies each by its rules and names the shard of every finding."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from bot.audit.bridged import BRIDGE, bridged
from bot.audit.digests import TAIL, number_of, seq_of
from bot.audit.legacy import entry_hash
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.audit_log import entries, rehashed, rewrite, signing_keys, verdict
from tests.support.bridge_worker import ReleasedWriter, bridge_append, bridge_off
from tests.support.old_worker import OldWorker

Entry = tuple[str, dict[str, str]]
BRIDGED = "audit log NOT intact: shard 2 (scheme bridged): "


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


def writer(store: Store, keys: SigningKeys, every: int) -> ReleasedWriter:
    return ReleasedWriter(store, keys, worker="n1", every=every, interval=0, retention=10**9)


def old_form(fields: dict[str, str]) -> bool:
    return tuple(fields)[-3:] == TAIL


async def test_old_and_new_workers_writing_at_once_verify_intact(store: Store, keys: SigningKeys) -> None:
    """Ported from the bridge's tests/audit/test_rolling_upgrade.py: two old workers and this version's (the bridge
    on) writing at once, then the bridge off and plain entries; the released writer's checkpoints sign it all."""
    old = [OldWorker(store, f"old{n}", keys=keys, every=3, interval=3600) for n in (1, 2)]
    for _ in range(9):  # the log before the upgrade: the old chain, signed at seq 3, 6, 9
        await old[0].append()
        await old[0].write_due()
    rng = random.Random(44)

    async def old_worker(worker: OldWorker, count: int) -> None:
        for _ in range(count):
            await worker.append(n=str(rng.random()))
            await worker.write_due()
            if rng.random() < 0.5:
                await asyncio.sleep(0)

    async def new_worker(count: int) -> None:
        for i in range(count):
            await bridge_append(store, by="U0NEW", n=str(i))
            if rng.random() < 0.5:
                await asyncio.sleep(0)

    await asyncio.gather(old_worker(old[0], 60), old_worker(old[1], 60), new_worker(45), new_worker(45))
    mixed = await entries(store)
    await bridge_off(store)  # the old workers gone: this version's entries are plain again
    for n in range(10):
        await store.audit.append("settings", by="U0NEW", n=str(n))
    log = await entries(store)
    assert await store.audit.shards() == {}  # no index: the counter was never new
    assert [number_of(fields) for _, fields in log] == list(range(1, len(log) + 1))  # contiguous, no repeat
    assert all(seq_of(fields) is not None for _, fields in log[len(mixed):])
    anchor = next(n for n, (_, f) in enumerate(mixed) if bridged(f))  # the old chain goes on until the first
    by_old = [f for _, f in mixed[anchor:] if old_form(f) and not bridged(f)]
    assert len(by_old) == 120 - (anchor - 9) and len(mixed) - anchor - len(by_old) == 90
    assert all(f["hash"] == entry_hash(f) for f in by_old)  # the old step's own chain, continued
    w = writer(store, keys, every=50)
    while await w.write_due():
        pass
    assert int((await store.audit.checkpoints())[-1][1]["seq"]) == len(log)

    said, code = await verdict(store, keys)
    assert code == 0, said
    last_old = stream_key(mixed[anchor - 1][0])
    old_checkpoints = [f for _, f in await store.audit.checkpoints() if "v" not in f]
    under = len([f for f in old_checkpoints if stream_key(f["id"]) <= last_old])
    aside = len(old_checkpoints) - under
    assert aside, "the old workers signed checkpoints during the upgrade"
    end = len(mixed)
    assert said.startswith(
        f"audit log intact: shard 1 (scheme legacy): {anchor} entries of the old chain checked, seq 1 to {anchor},"
        f" under {under} of its checkpoints; shard 2 (scheme bridged), frozen at seq {end}: {end - anchor} entries of a"
        f" rolling upgrade through the bridge checked, seq {anchor + 1} to {end} (90 written with `prev` and `hash`"
        f" 'bridge', {len(by_old)} by workers of the old version), under the checkpoints of scheme 2; {aside}"
        f" checkpoints of the old chain's form, signed by old workers during the upgrade, compared ({aside} matched"
        f" the entry they signed, the others' entries are trimmed); shard 3 (scheme 2): 10 entries checked, seq"
        f" {end + 1} to {len(log)}; no shard index (a log written before it): the shards told by their entries'"
        " form;"), said
    assert "; 0 entries after it (no unsigned tail)" in said


def stream_key(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n)


async def mixed_log(store: Store, keys: SigningKeys) -> tuple[list[Entry], OldWorker]:
    """Seq 1 to 4 the old chain (its checkpoints at 2, 4); seq 5 to 22 the upgrade, by turns one entry of the bridge
    (5, 8, ... 20) and two of an old worker, who signs the second (7, 10, ... 22); seq 23 to 25 plain. The released
    writer's one checkpoint covers seq 5 to 14: the rest is its unsigned tail."""
    old = OldWorker(store, "old1", keys=keys, every=2, interval=3600)
    for _ in range(4):
        await old.append()
        await old.write_due()
    for n in range(6):
        await bridge_append(store, by="U0NEW", n=str(n))
        await old.append(n=str(n))
        await old.append(n=f"{n}b")
        await old.write_due()
    await bridge_off(store)
    for n in range(3):
        await store.audit.append("settings", by="U0NEW", n=str(n))
    assert await writer(store, keys, every=10).write_due()
    log = await entries(store)
    assert [number_of(f) for _, f in log] == list(range(1, 26))
    assert [n + 1 for n, (_, f) in enumerate(log) if bridged(f)] == [5, 8, 11, 14, 17, 20]
    return log, old


async def test_a_mixed_log_verifies_naming_its_three_shards(store: Store, keys: SigningKeys) -> None:
    await mixed_log(store, keys)
    said, code = await verdict(store, keys)
    assert code == 0, said
    assert said.startswith(
        "audit log intact: shard 1 (scheme legacy): 4 entries of the old chain checked, seq 1 to 4, under 2 of its"
        " checkpoints; shard 2 (scheme bridged), frozen at seq 22: 18 entries of a rolling upgrade through the bridge"
        " checked, seq 5 to 22 (6 written with `prev` and `hash` 'bridge', 12 by workers of the old version), under"
        " the checkpoints of scheme 2; 6 checkpoints of the old chain's form, signed by old workers during the"
        " upgrade, compared (6 matched the entry they signed, the others' entries are trimmed); shard 3 (scheme 2):"
        " 3 entries checked, seq 23 to 25;"), said
    assert "1 signed checkpoints verified, the last at seq 14" in said and "the unsigned tail: 11 entries" in said
    said, code = await verdict(store, keys, since=time.time() + 60)  # from the checkpoint at seq 14
    assert code == 0, said
    assert said.startswith("audit log intact: shard 2 (scheme bridged), frozen at seq 22: 8 entries of a rolling"
                           " upgrade through the bridge checked, seq 15 to 22, from checkpoint"), said
    assert "(2 written with `prev` and `hash` 'bridge', 6 by workers of the old version)" in said
    assert "; 3 checkpoints of the old chain's form, signed by old workers during the upgrade, compared (3 matched" \
           in said and "; shard 3 (scheme 2): 3 entries checked, seq 23 to 25;" in said


async def test_an_altered_entry_in_the_bridged_stretch_is_named_with_its_shard(store: Store, keys: SigningKeys) -> None:
    log, _ = await mixed_log(store, keys)
    checkpoint_id = (await store.audit.checkpoints())[-1][0]
    edited = list(log)
    edited[7] = (log[7][0], {**log[7][1], "by": "U0MALLORY"})  # seq 8: the bridge's, signed
    await rewrite(store, edited)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BRIDGED}altered: entry {log[7][0]} (seq 8): it is not what checkpoint"
                               f" {checkpoint_id} signed for this seq")
    edited = list(log)
    edited[17] = (log[17][0], {**log[17][1], "by": "U0MALLORY"})  # seq 18: an old worker's, in the unsigned tail
    await rewrite(store, edited)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BRIDGED}altered: entry {log[17][0]} (seq 18): an old worker's entry whose fields do"
                               " not hash to its `hash`")
    edited[17] = (log[17][0], rehashed(log[17][1], by="U0MALLORY"))  # its hash recomputed: the next one tells
    await rewrite(store, edited)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BRIDGED}altered: entry {log[18][0]} (seq 19): an old worker's entry whose `prev` is"
                               " not the `hash` of the entry before it")
    edited = list(log)
    edited[19] = (log[19][0], {**log[19][1], "prev": "0" * 64})  # seq 20: the bridge's, in the unsigned tail
    await rewrite(store, edited)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BRIDGED}altered: entry {log[19][0]} (seq 20): it ends as the bridge's entries do,"
                               f" but its `prev` is not {BRIDGE!r}")
    await rewrite(store, log[:15] + log[16:])  # seq 16 deleted
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BRIDGED}deleted: entry {log[16][0]} (seq 16): entries seq 16 to 16 are missing"
                               f" before this one, after entry {log[14][0]}")


async def test_an_old_workers_checkpoint_of_the_upgrade_is_compared(store: Store, keys: SigningKeys) -> None:
    log, _ = await mixed_log(store, keys)
    checkpoints = await store.audit.checkpoints()
    entry_id = next(i for i, f in checkpoints if "v" not in f and f["seq"] == "10")
    await rewrite(store, [(i, {**f, "hash": "f" * 64} if i == entry_id else f) for i, f in checkpoints],
                  key=store.keys.audit_checkpoints)
    said, code = await verdict(store)  # (its JWS no longer fits: compared without the keys)
    assert (code, said) == (1, f"{BRIDGED}altered: entry {log[9][0]} (seq 10): checkpoint {entry_id} (of the old"
                               " chain's form, signed by an old worker during the upgrade) signed another entry for"
                               f" this seq: entry {log[9][0]}")


async def test_an_old_worker_writing_after_the_upgrade_is_named_with_the_bridged_shard(
    store: Store, keys: SigningKeys
) -> None:
    log, old = await mixed_log(store, keys)
    seq, entry_id = await old.append()  # (after a plain entry the old step starts again at seq 1)
    assert seq == 1
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BRIDGED}inserted: entry {entry_id} (seq 1): an entry of the old chain's form,"
                               f" appended after the shard was frozen at entry {log[21][0]} (seq 22): a worker of the"
                               " old version wrote it after this version's first plain entry")


async def test_since_a_checkpoint_an_old_workers_restart_is_no_bridged_shard(store: Store, keys: SigningKeys) -> None:
    """Without an index, from a checkpoint (`--since`), an entry of the old form opens the bridged shard only when
    it goes on with the numbering: an old worker's starting again at seq 1 is named as written after the freeze."""
    old = OldWorker(store, "old1", keys=keys, every=3, interval=3600)
    for _ in range(3):
        await old.append()
        await old.write_due()
    for n in range(3):
        await store.audit.append("settings", by="U0NEW", n=str(n))
    await store.redis.delete(store.keys.audit_shards)  # (a log upgraded before the index existed)
    assert await ReleasedWriter(store, keys, worker="n1", every=100, interval=0, retention=10**9).write_due()
    seq, entry_id = await old.append()
    assert seq == 1
    said, code = await verdict(store, keys, since=time.time() + 60)
    assert code == 1 and said.startswith(f"audit log NOT intact: shard 1 (scheme legacy): inserted: entry {entry_id}"
                                         " (seq 1): an entry of the old chain's form, appended after the shard was"
                                         " frozen"), said
