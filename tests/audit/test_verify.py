"""`audit verify` against a real Redis tampered with plain Redis commands: it names exactly the first entry
altered, deleted or inserted, a cut tail, a forged checkpoint; trimming keeps it green."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.signing import SigningKeys
from bot.report.checkpoints import CHECKPOINT_TYPE, AuditCheckpoints
from bot.store import Store
from tests.support.audit_log import entries, rehashed, rewrite, signing_keys, spaced, verdict


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


async def fill(store: Store, n: int) -> list[tuple[str, dict[str, str]]]:
    for number in range(1, n + 1):
        await store.audit.append("settings", by="U0ALICE", setting="timeout", after=f"{number}m")
    return await entries(store)


def checkpoints(store: Store, keys: SigningKeys, every: int = 1) -> AuditCheckpoints:
    return AuditCheckpoints(store, keys, every=every, interval=10**6)


async def test_an_intact_signed_log_verifies(store: Store, keys: SigningKeys) -> None:
    await fill(store, 5)
    assert await checkpoints(store, keys).write_due()
    assert not await checkpoints(store, keys).write_due()  # not due again: no new entry
    await fill(store, 2)
    said, code = await verdict(store, keys)
    assert code == 0, said
    assert "7 entries checked, seq 1 to 7" in said and "1 signed checkpoints verified, the last at seq 5" in said
    assert "2 entries after it are covered only by the chain" in said


async def test_an_altered_field_is_named(store: Store, keys: SigningKeys) -> None:
    log = await fill(store, 6)
    entry_id, fields = log[3]
    log[3] = (entry_id, {**fields, "after": "999m"})  # (XADD cannot put an entry back in the middle: rewritten)
    await rewrite(store, log)
    said, code = await verdict(store, keys)
    assert code == 1
    assert said == f"audit log NOT intact: altered: entry {entry_id} (seq 4): its fields do not hash to its `hash`"


async def test_an_altered_entry_whose_hash_was_recomputed_is_named(store: Store) -> None:
    log = await fill(store, 6)
    log[2] = (log[2][0], rehashed(log[2][1], by="U0MALLORY"))
    await rewrite(store, log)
    said, code = await verdict(store)
    assert code == 1
    assert said.startswith(f"audit log NOT intact: altered: entry {log[2][0]} (seq 3): its `hash` is not the `prev`")


async def test_a_deleted_entry_is_named(store: Store) -> None:
    log = await fill(store, 6)
    await store.redis.xdel(store.keys.audit, log[2][0], log[3][0])
    said, code = await verdict(store)
    assert code == 1
    assert said.startswith(f"audit log NOT intact: deleted: entry {log[4][0]} (seq 3): entries seq 3 to 4 are missing"
                           f" between entry {log[1][0]} and this one")


async def test_an_inserted_entry_is_named(store: Store) -> None:
    log = spaced(await fill(store, 5))
    await rewrite(store, log)
    assert (await verdict(store))[1] == 0  # the stream ids are not hashed: the same entries under others verify
    plain = "1000025-0"  # between seq 3 and 4, without chain fields
    await rewrite(store, [*log[:3], (plain, {"event": "settings", "by": "U0MALLORY"}), *log[3:]])
    said, code = await verdict(store)
    assert (code, said) == (1, f"audit log NOT intact: inserted: entry {plain} (seq 4): it has no chain fields"
                               " (seq, prev, hash), after chained entries")
    # a careful forger: seq 4, linked to seq 3, hashed; the real seq 4 then links past it
    forged = ("1000025-0", rehashed({"event": "settings", "by": "U0MALLORY", "seq": "4", "prev": log[2][1]["hash"],
                                     "hash": ""}))
    await rewrite(store, [*log[:3], forged, *log[3:]])
    said, code = await verdict(store)
    assert code == 1 and said.startswith(f"audit log NOT intact: inserted: entry {forged[0]} (seq 4):")


async def test_a_cut_tail_is_named_by_the_checkpoint(store: Store, keys: SigningKeys) -> None:
    log = await fill(store, 6)
    assert await checkpoints(store, keys).write_due()
    await store.redis.xdel(store.keys.audit, log[4][0], log[5][0])
    said, code = await verdict(store, keys)
    assert code == 1
    assert said.startswith(f"audit log NOT intact: deleted: entry {log[5][0]} (seq 5): checkpoint ")
    assert f"the log ends at seq 4 after entry {log[3][0]}: entries seq 5 to 6 are gone" in said


async def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(store: Store, keys: SigningKeys) -> None:
    log = await fill(store, 6)
    assert await checkpoints(store, keys).write_due()
    prev = log[1][1]["hash"]
    for n in range(2, 6):  # seq 3 changed, and every later hash recomputed: the chain alone fits again
        fields = rehashed(log[n][1], prev=prev, **({"by": "U0MALLORY"} if n == 2 else {}))
        log[n], prev = (log[n][0], fields), fields["hash"]
    await rewrite(store, log)
    said, code = await verdict(store, keys)
    assert code == 1
    assert said.startswith(f"audit log NOT intact: altered: entry {log[5][0]} (seq 6): checkpoint ")
    assert "an entry from seq 1 to 6 was altered and the chain rewritten" in said
    # what the checkpoints add: without them the rewritten chain fits
    await store.redis.delete(store.keys.audit_checkpoints)
    assert (await verdict(store, keys))[1] == 0


async def test_a_forged_checkpoint_is_named(store: Store, keys: SigningKeys, tmp_path: Path) -> None:
    log = await fill(store, 3)
    assert await checkpoints(store, keys).write_due()
    other = signing_keys(tmp_path / "other.json")  # a key this deployment never had
    head_id, head = log[-1]
    claims = {"seq": 3, "hash": head["hash"], "id": head_id, "at": 1.0}
    forged = {"seq": "3", "hash": head["hash"], "id": head_id, "at": "1.0",
              "jws": other.sign(claims, typ=CHECKPOINT_TYPE)}
    forged_id = str(await store.redis.xadd(store.keys.audit_checkpoints, forged))  # type: ignore[arg-type]
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"audit log NOT intact: forged checkpoint {forged_id} (seq 3): its kid is not one of"
                               " this deployment's keys")
    await store.redis.xdel(store.keys.audit_checkpoints, forged_id)
    good = (await store.audit.checkpoints())[0]
    edited = {**good[1], "seq": "2"}  # the fields beside the JWS changed
    await rewrite(store, [(good[0], edited)], key=store.keys.audit_checkpoints)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"audit log NOT intact: forged checkpoint {good[0]} (seq 2): the seq, hash or id"
                               " stored beside its JWS are not what it signed")


async def test_trimming_keeps_verify_green(store: Store, keys: SigningKeys) -> None:
    writer = checkpoints(store, keys, every=3)
    for _ in range(4):
        await fill(store, 3)
        assert await writer.write_due()
    log = await entries(store)
    assert len(log) == 12 and len(await store.audit.checkpoints()) == 4  # at seq 3, 6, 9, 12
    await store.redis.xtrim(store.keys.audit, minid=log[7][0], approximate=False)  # as AUDIT_RETENTION: seq 8 is kept
    await fill(store, 3)
    assert await writer.write_due()  # and the checkpoints no longer needed go with them
    kept = [int(fields["seq"]) for _, fields in await store.audit.checkpoints()]
    assert kept == [6, 9, 12, 15]  # every one at or after seq 8, and the one before it
    said, code = await verdict(store, keys)
    assert code == 0, said
    assert "8 entries checked, seq 8 to 15" in said and "3 signed checkpoints verified, the last at seq 15" in said
    assert "0 entries after it" in said
    # trimmed to seq 10: the checkpoint at seq 9 (its entry gone) anchors the oldest entry's `prev`
    await store.redis.xtrim(store.keys.audit, minid=log[9][0], approximate=False)
    said, code = await verdict(store, keys)
    assert code == 0 and "6 entries checked, seq 10 to 15" in said and "3 signed checkpoints verified" in said
    oldest_id, oldest = (await entries(store))[0]
    await rewrite(store, [(oldest_id, rehashed(oldest, by="U0MALLORY", prev="f" * 64)), *(await entries(store))[1:]])
    said, code = await verdict(store, keys)
    assert code == 1 and said.startswith(f"audit log NOT intact: altered: entry {oldest_id} (seq 10): its `prev`")


async def test_since_starts_at_the_last_checkpoint_before_it(store: Store, keys: SigningKeys) -> None:
    writer = checkpoints(store, keys)
    await fill(store, 3)
    assert await writer.write_due(now=1000.0)
    await fill(store, 3)
    assert await writer.write_due(now=2000.0)
    log = await fill(store, 2)
    said, code = await verdict(store, keys, since=1500.0)
    assert code == 0, said
    assert "6 entries checked, seq 3 to 8, from checkpoint" in said
    await store.redis.xdel(store.keys.audit, log[1][0])  # before the start: not walked
    assert (await verdict(store, keys, since=1500.0))[1] == 0
    assert (await verdict(store, keys))[1] == 1
