"""A rolling upgrade from the old chain (before #44): workers of the old version, running its own Lua step
(tests/support/old_worker.py, verbatim from commit 355e5b1), and of the new one write the log at once. While an old
worker is alive the bridge is on and the old step goes on with the numbering; `audit verify` then says intact, the new
checkpoints covering every entry of the mixed period; once the old workers are gone entries are plain again; and the
tampers of the mixed period are caught as anywhere else."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.audit.bridge import AuditBridge
from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.digests import BRIDGE, number_of
from bot.audit.legacy import entry_hash
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.audit_log import entries, rehashed, rewrite, signing_keys, spaced, verdict
from tests.support.old_worker import OldWorker, copies_unchanged

Entry = tuple[str, dict[str, str]]


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


def writer(store: Store, keys: SigningKeys, bridge: AuditBridge | None = None, retention: float = 10**9,
           every: int = 1000) -> AuditCheckpoints:
    return AuditCheckpoints(store, keys, worker="n1", every=every, interval=0, retention=retention, poll=0.02,
                            bridge=bridge)


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 20.0) -> None:
    """Poll `check` until it holds (a deadline, not a sleep standing in for synchronisation)."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.02)


def tail(fields: dict[str, str]) -> list[str]:
    return list(fields)[-3:]


def test_the_old_steps_are_the_old_versions_files() -> None:
    assert copies_unchanged() == dict.fromkeys(copies_unchanged(), True)


async def test_old_and_new_workers_writing_at_once_verify_intact(store: Store, keys: SigningKeys) -> None:
    old = [OldWorker(store, f"old{n}", keys=keys, every=3, interval=3600) for n in (1, 2)]
    for worker in old:
        await worker.beat()
    for _ in range(9):  # the log before the upgrade: the old chain, signed at seq 3, 6, 9
        await old[0].append()
        await old[0].write_due()
    bridge = AuditBridge(store, heartbeat=0.2)  # looks every 0.1 s; off 0.4 s after the last old worker went
    checkpoints = writer(store, keys, bridge, every=100)
    await checkpoints.start()  # the first new worker: it finds the old ones alive before it writes
    assert bridge.on and await store.redis.exists(store.keys.audit_bridge)
    rng = random.Random(44)

    async def old_worker(worker: OldWorker, count: int) -> None:
        for _ in range(count):
            await worker.append(n=str(rng.random()))
            await worker.write_due()
            await worker.beat()
            if rng.random() < 0.5:
                await asyncio.sleep(0)

    async def new_worker(count: int) -> None:  # group commit: many appends on their way at once
        await asyncio.gather(*(store.audit.append("decision", by="U0NEW", n=str(i)) for i in range(count)))

    try:
        await asyncio.gather(old_worker(old[0], 200), old_worker(old[1], 200), new_worker(150), new_worker(150),
                             *(store.audit.append_once(store.keys.api_idempotency("k", str(i)), "allowed",
                                                       {"tool": "t"}, body_digest="d", answer="{}", ttl=60)
                               for i in range(20)))
        mixed = await entries(store)
        for worker in old:  # the old workers stop: their heartbeats go
            await worker.drop()
        await until(lambda: _gone(store), "the bridge ends once no old worker is left")
        assert not bridge.on
        for n in range(30):  # (b) the cheap path again: nothing but `seq` at the end, numbering going on
            await store.audit.append("settings", by="U0NEW", n=str(n))
        log = await entries(store)
        assert [number_of(fields) for _, fields in log] == list(range(1, len(log) + 1))  # contiguous, no repeat
        assert len(log) == 9 + 400 + 300 + 20 + 30
        assert all(tail(fields) != ["seq", "prev", "hash"] for _, fields in log[len(mixed):])
        # the old chain goes on until the first new entry (the old workers may write first): the new scheme's anchor
        anchor = next(n for n, (_, f) in enumerate(mixed) if f.get("hash") == BRIDGE)
        by_old = [f for _, f in mixed[anchor:] if tail(f) == ["seq", "prev", "hash"] and f["hash"] != BRIDGE]
        by_new = [f for _, f in mixed[anchor:] if f.get("hash") == BRIDGE]
        assert len(by_old) == 400 - (anchor - 9) and len(by_new) == 320
        assert all(f["hash"] == entry_hash(f) for f in by_old)  # the old step's own chain, continued
        await until(lambda: _signed_to(store, len(log)), "the new checkpoints cover every entry")
    finally:
        await checkpoints.stop()
    said, code = await verdict(store, keys)
    assert code == 0, said
    aside = [c for _, c in await store.audit.checkpoints() if "v" not in c and int(c["seq"]) > anchor]
    assert aside, "the old workers signed checkpoints during the upgrade"
    under = len([c for _, c in await store.audit.checkpoints() if "v" not in c and int(c["seq"]) <= anchor])
    assert said.startswith(f"audit log intact: {anchor} entries of the old chain checked, seq 1 to {anchor}, under"
                           f" {under} of its checkpoints; {len(log) - anchor:,} entries checked, seq {anchor + 1} to"
                           f" {len(log):,}"), said
    assert f"; {len(by_old) + 320} of them written during a rolling upgrade, with `prev` and `hash` (the bridge)," \
           f" {len(by_old)} by workers of the old version" in said
    assert f"; {len(aside)} checkpoints of the old chain's form, signed by old workers during the upgrade, set aside" \
           f" ({len(aside)} matched the entry they signed" in said
    assert "; 0 entries after it (no unsigned tail)" in said


async def _gone(store: Store) -> bool:
    return not await store.redis.exists(store.keys.audit_bridge)


async def _signed_to(store: Store, seq: int) -> bool:
    newest = await store.audit.last_checkpoint("2")
    return newest is not None and int(newest[1]["seq"]) == seq


async def test_the_bridge_is_on_only_while_an_old_worker_is_alive(store: Store, keys: SigningKeys) -> None:
    old = OldWorker(store, "old1")
    await old.append()
    bridge = AuditBridge(store, heartbeat=6.0, grace=0.0)
    await store.workers.beat("new1", ttl=6.0)  # a worker of this version: its heartbeat is marked
    assert await store.workers.unmarked() == []
    assert not await bridge.check()
    assert await store.audit.append("settings", by="U0NEW") == (2, (await entries(store))[-1][0])
    assert tail((await entries(store))[-1][1]) != ["seq", "prev", "hash"]  # no old worker: a plain entry
    assert await old.append() == (1, (await entries(store))[-1][0])  # (the old step restarts after a plain entry)
    # no old worker seen and no bridge: the upgrade is over for good, and nobody scans the key space for one again
    assert await store.audit.upgraded() and bridge.over
    await store.redis.config_resetstat()
    assert not await bridge.keep() and not await AuditBridge(store, heartbeat=6.0).start()
    assert "cmdstat_scan" not in await store.redis.info("commandstats")
    await store.redis.delete(store.keys.audit, store.keys.audit_seq, store.keys.audit_upgraded)

    bridge = AuditBridge(store, heartbeat=6.0, grace=0.0)
    await old.append()
    assert await bridge.start()  # the log ends with an old entry: on from the start, no old worker seen yet
    await old.beat(ttl=0.3)
    assert await store.workers.unmarked() == ["old1"]
    assert await bridge.check()
    seq, _ = await store.audit.append("settings", by="U0NEW")
    new = (await entries(store))[-1][1]
    assert seq == 2 and list(new.items())[-3:] == [("seq", "2"), ("prev", BRIDGE), ("hash", BRIDGE)]
    assert (await old.append())[0] == 3 and (await old.append())[0] == 4  # the old step goes on
    assert (await store.audit.append("settings", by="U0NEW"))[0] == 5  # numbered past the old worker's entries
    assert (await old.append())[0] == 6  # the last word an old worker's: the counter is behind it
    await until(lambda: _no_old(store), "the old worker's heartbeat expires")
    assert not await bridge.check()  # (grace 0): off, the counter taken past seq 6
    assert await store.audit.upgraded()  # and the upgrade over: no more looks
    assert (await store.audit.append("settings", by="U0NEW"))[0] == 7
    assert tail((await entries(store))[-1][1]) != ["seq", "prev", "hash"]
    said, code = await verdict(store)
    assert code == 0, said
    assert "1 entries of the old chain checked, seq 1 to 1" in said and "6 entries checked, seq 2 to 7" in said
    assert "5 of them written during a rolling upgrade" in said and "3 by workers of the old version" in said


async def _no_old(store: Store) -> bool:
    return await store.workers.unmarked() == []


async def mixed_log(store: Store, keys: SigningKeys) -> tuple[list[Entry], OldWorker]:
    """Old entries signed by the old writer, then, the bridge on, new and old workers writing by turns, every
    entry signed by the new checkpoints; ids spaced 10 ms apart (room to insert one)."""
    old = OldWorker(store, "old1", keys=keys, every=2, interval=3600)
    await old.beat()
    for _ in range(4):
        await old.append()
        await old.write_due()
    assert await AuditBridge(store, heartbeat=6.0).start()
    for n in range(6):
        await store.audit.append("decision", by="U0NEW", n=str(n))
        await old.append(n=str(n))
        await old.append(n=f"{n}b")
        await old.write_due()
    log = spaced(await entries(store))
    await rewrite(store, log)
    checkpoints = await store.audit.checkpoints()
    for _, fields in checkpoints:  # the old checkpoints name the entries by their new ids
        if "v" not in fields:
            fields["id"] = log[int(fields["seq"]) - 1][0]
    await rewrite(store, [(i, f) for i, f in checkpoints if "v" not in f], key=store.keys.audit_checkpoints)
    w = writer(store, keys, retention=10**10)  # (the spaced ids are from 1970: no trim)
    assert await w.write_due()
    said, code = await verdict(store)  # (the old checkpoints' ids changed: their JWS is not checked here)
    assert code == 0, said
    assert "18 of them written during a rolling upgrade" in said and "12 by workers of the old version" in said
    return log, old


async def test_tampering_in_the_mixed_period_is_caught(store: Store, keys: SigningKeys) -> None:
    log, _ = await mixed_log(store, keys)
    assert log[6][1]["hash"] != BRIDGE and log[5][1]["hash"] != BRIDGE  # seq 7: an old worker's, after another's
    # an old worker's entry edited, its hash recomputed and the next entry's prev too (a careful forger)
    forged = list(log)
    forged[6] = (log[6][0], rehashed(log[6][1], by="U0MALLORY"))
    forged[7] = (log[7][0], rehashed(log[7][1], prev=forged[6][1]["hash"]))
    await rewrite(store, forged)
    said, code = await verdict(store)
    assert code == 1 and said.startswith(f"audit log NOT intact: altered: entry {log[6][0]} (seq 7): it is not what"
                                         " checkpoint"), said
    # one deleted
    await rewrite(store, log[:10] + log[11:])
    said, code = await verdict(store)
    assert (code, said) == (1, f"audit log NOT intact: deleted: entry {log[11][0]} (seq 11): entries seq 11 to 11 are"
                               f" missing before this one, after entry {log[9][0]}")
    # one inserted: an old worker's entry as the old step would have written it after seq 10, put in after it
    extra = {"event": "settings", "at": "1", "by": "old1", "seq": "11", "prev": log[9][1]["hash"], "hash": ""}
    extra["hash"] = entry_hash(extra)
    await rewrite(store, [*log[:10], (f"{int(log[9][0].split('-')[0]) + 5}-0", extra), *log[10:]])
    said, code = await verdict(store)
    assert code == 1 and said.startswith("audit log NOT intact: inserted: entry"), said
    assert "(seq 11)" in said


async def test_an_old_workers_entry_in_the_unsigned_tail_is_checked_as_it_wrote_it(
    store: Store, keys: SigningKeys
) -> None:
    log, old = await mixed_log(store, keys)
    await old.append()
    await old.append()
    seq, _ = await store.audit.append("settings", by="U0NEW")
    assert seq == len(log) + 3
    tail_log = await entries(store)
    edited = list(tail_log)
    edited[-3] = (tail_log[-3][0], {**tail_log[-3][1], "by": "U0MALLORY"})  # not signed yet: its own hash tells
    await rewrite(store, edited)
    said, code = await verdict(store)
    assert (code, said) == (1, f"audit log NOT intact: altered: entry {tail_log[-3][0]} (seq {len(log) + 1}): an old"
                               " worker's entry whose fields do not hash to its `hash`")
    edited[-3] = (tail_log[-3][0], rehashed(tail_log[-3][1], by="U0MALLORY"))
    await rewrite(store, edited)
    said, code = await verdict(store)
    assert (code, said) == (1, f"audit log NOT intact: altered: entry {tail_log[-2][0]} (seq {len(log) + 2}): an old"
                               " worker's entry whose `prev` is not the `hash` of the entry before it")


async def test_an_old_workers_checkpoint_of_the_mixed_period_is_compared(store: Store, keys: SigningKeys) -> None:
    log, _ = await mixed_log(store, keys)
    checkpoints = await store.audit.checkpoints()
    old_form = [(i, f) for i, f in checkpoints if "v" not in f and int(f["seq"]) > 4]
    assert old_form
    entry_id, fields = old_form[0]
    await rewrite(store, [(i, {**f, "hash": "f" * 64} if i == entry_id else f) for i, f in checkpoints],
                  key=store.keys.audit_checkpoints)
    said, code = await verdict(store)
    seq = int(fields["seq"])
    assert (code, said) == (1, f"audit log NOT intact: altered: entry {log[seq - 1][0]} (seq {seq}): checkpoint"
                               f" {entry_id} (of the old chain's form, signed by an old worker during the upgrade)"
                               f" signed another entry for this seq: entry {log[seq - 1][0]}")


async def test_an_old_workers_trim_is_a_trim(store: Store, keys: SigningKeys) -> None:
    """Old workers XADD with `MINID ~` the retention's cutoff: what they trim before the next checkpoint signs it is
    read as a trim when it is older than the retention, and the next checkpoint signs it."""
    old = OldWorker(store, "old1", retention=1.0)
    await old.beat()
    assert await AuditBridge(store, heartbeat=6.0).start()
    t0 = time.time()

    async def write(count: int) -> None:
        for n in range(count):
            await (old.append(n=str(n)) if n % 2 else store.audit.append("decision", by="U0NEW", n=str(n)))

    await write(150)
    t = time.time()
    await write(50)
    w = writer(store, keys, retention=1.0)
    assert await w.write_due(now=t0)  # signed before anything was older than the retention: no trim
    old.clock = lambda: t + 1.0  # one second on: the first 150 entries are older than the retention
    seq, _ = await old.append()
    log = await entries(store)
    first = number_of(log[0][1])
    assert first is not None and 1 < first < seq  # trimmed, by whole stream nodes
    said, code = await verdict(store, keys, retention=1.0, now=t + 1.0)
    assert code == 0, said
    assert f"; entries seq 1 to {first - 1}, older than the retention, were trimmed and no checkpoint signs that yet" \
           in said
    said, code = await verdict(store, keys, retention=100.0, now=t + 1.0)  # were they younger: a deleted head
    assert code == 1 and f"deleted: entry {log[0][0]} (seq 1): entries seq 1 to {first - 1} at the start" in said
    assert await w.write_due(now=t + 1.0)  # the next checkpoint signs where the log starts
    said, code = await verdict(store, keys, retention=1.0, now=t + 1.0)
    assert code == 0 and "no checkpoint signs that yet" not in said, said
