"""`audit verify` against a real Redis tampered with plain Redis commands, as someone with Redis access (and no
signing key) would: it names exactly the first entry altered, deleted or inserted, entries that traded places, a
rewritten range, a cut tail, a forged or deleted checkpoint, a deleted head (told from a trim); trimming keeps it
green."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.audit.checkpoints import CHECKPOINT_TYPE
from bot.audit.digests import leaf, pack
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.audit_log import UnannouncedWriter, entries, rewrite, signing_keys, spaced, verdict

BROKEN = "audit log NOT intact: shard 1 (scheme 2): "  # a finding in a new log's one shard
INTACT = "audit log intact: shard 1 (scheme 2): "

Entry = tuple[str, dict[str, str]]


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


async def fill(store: Store, n: int) -> list[Entry]:
    for number in range(1, n + 1):
        await store.audit.append("settings", by="U0ALICE", setting="timeout", after=f"{number}m")
    return await entries(store)


def writer(store: Store, keys: SigningKeys, every: int = 1000, retention: float = 10**9) -> UnannouncedWriter:
    """Signs when called (interval 0); `every` caps what one checkpoint covers."""
    return UnannouncedWriter(store, keys, worker="w1", every=every, interval=0, retention=retention)


async def checkpointed(store: Store, keys: SigningKeys, n: int, every: int = 1000) -> list[Entry]:
    log = await fill(store, n)
    while await writer(store, keys, every).write_due():
        pass
    return log


async def test_an_intact_signed_log_verifies_and_says_its_unsigned_tail(store: Store, keys: SigningKeys) -> None:
    await checkpointed(store, keys, 5)
    assert not await writer(store, keys).write_due()  # not due again: no new entry
    await fill(store, 2)
    said, code = await verdict(store, keys)
    assert code == 0, said
    assert "7 entries checked, seq 1 to 7" in said and "1 signed checkpoints verified, the last at seq 5" in said
    assert "the unsigned tail: 2 entries after it are covered by no signature yet, the oldest written" in said


async def test_an_altered_field_is_named(store: Store, keys: SigningKeys) -> None:
    log = await checkpointed(store, keys, 6)
    entry_id, fields = log[3]
    log[3] = (entry_id, {**fields, "after": "999m"})  # (XADD cannot put an entry back in the middle: rewritten)
    await rewrite(store, log)
    said, code = await verdict(store, keys)
    assert code == 1
    checkpoint_id = (await store.audit.checkpoints())[0][0]
    assert said == (f"{BROKEN}altered: entry {entry_id} (seq 4): it is not what checkpoint"
                    f" {checkpoint_id} signed for this seq")


async def test_a_rewritten_range_is_caught_by_the_signed_head(store: Store, keys: SigningKeys) -> None:
    """The forger changes seq 3 and rewrites the digests kept beside the checkpoint to fit: the signature does not."""
    log = await checkpointed(store, keys, 6)
    log[2] = (log[2][0], {**log[2][1], "by": "U0MALLORY"})
    await rewrite(store, log)
    checkpoint_id, stored = (await store.audit.checkpoints())[0]
    await rewrite(store, [(checkpoint_id, {**stored, "leaves": pack([leaf(i, f) for i, f in log])})],
                  key=store.keys.audit_checkpoints)
    said, code = await verdict(store, keys)
    assert code == 1
    assert said == (f"{BROKEN}altered: entry {log[5][0]} (seq 6): checkpoint {checkpoint_id} signed"
                    " other entries for seq 1 to 6: an entry in this range was altered and the digests kept beside the"
                    " checkpoint rewritten")


async def test_a_deleted_entry_is_named(store: Store, keys: SigningKeys) -> None:
    for signed in (False, True):
        await store.redis.delete(store.keys.audit, store.keys.audit_seq, store.keys.audit_checkpoints)
        log = await (checkpointed(store, keys, 6) if signed else fill(store, 6))
        await store.redis.xdel(store.keys.audit, log[2][0], log[3][0])
        said, code = await verdict(store, keys if signed else None)
        assert code == 1
        assert said == (f"{BROKEN}deleted: entry {log[4][0]} (seq 3): entries seq 3 to 4 are missing"
                        f" before this one, after entry {log[1][0]}")


async def test_an_inserted_entry_is_named(store: Store, keys: SigningKeys) -> None:
    log = spaced(await fill(store, 5))
    await rewrite(store, log)
    assert (await writer(store, keys).write_due())
    assert (await verdict(store, keys))[1] == 0
    plain = "1000025-0"  # between seq 3 and 4, without a seq
    await rewrite(store, [*log[:3], (plain, {"event": "settings", "by": "U0MALLORY"}), *log[3:]])
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}inserted: entry {plain} (seq 4): it has no `seq`, among"
                               " numbered entries")
    # a careful forger: the entry takes seq 4, before the real seq 4
    forged = ("1000025-0", {"event": "settings", "by": "U0MALLORY", "seq": "4"})
    await rewrite(store, [*log[:3], forged, *log[3:]])
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}inserted: entry {forged[0]} (seq 4): entry {log[3][0]} has the"
                               " same seq and is the one the checkpoint signed")
    # in the unsigned tail, a repeated seq is named too
    await rewrite(store, [*log, ("1000045-0", {"event": "settings", "by": "U0MALLORY", "seq": "5"})])
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}inserted: entry 1000045-0 (seq 5): its seq repeats or goes back"
                               " (after seq 5)")


async def test_entries_that_traded_places_are_named(store: Store, keys: SigningKeys) -> None:
    log = spaced(await fill(store, 5))
    await rewrite(store, log)
    assert await writer(store, keys).write_due()
    (id3, third), (id4, fourth) = log[2], log[3]
    await rewrite(store, [*log[:2], (id3, fourth), (id4, third), *log[4:]])  # whole entries, seq and all
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}altered: entry {id4} (seq 3): it is out of order: it comes after"
                               f" entry {id3} (seq 4); the two traded places")
    # their contents traded, each keeping its place's seq: the digests tell
    await rewrite(store, [*log[:2], (id3, {**fourth, "seq": "3"}), (id4, {**third, "seq": "4"}), *log[4:]])
    said, code = await verdict(store, keys)
    assert code == 1 and said.startswith(f"{BROKEN}altered: entry {id3} (seq 3): it is not what")


async def test_a_cut_tail_is_named_by_the_checkpoint(store: Store, keys: SigningKeys) -> None:
    log = await checkpointed(store, keys, 6)
    await store.redis.xdel(store.keys.audit, log[4][0], log[5][0])
    said, code = await verdict(store, keys)
    assert code == 1
    assert said.startswith(f"{BROKEN}deleted: entry {log[5][0]} (seq 5): checkpoint ")
    assert f"the log ends at seq 4 after entry {log[3][0]}: entries seq 5 to 6 are gone" in said


async def test_a_forged_checkpoint_is_named(store: Store, keys: SigningKeys, tmp_path: Path) -> None:
    await checkpointed(store, keys, 3)
    good_id, good = (await store.audit.checkpoints())[0]
    other = signing_keys(tmp_path / "other.json")  # a key this deployment never had
    claims = {"v": 2, "from": 1, "seq": 3, "id": good["id"], "head": good["head"], "prev": good["prev"], "start": 1,
              "trim": "", "at": 1.0}
    forged = {**good, "jws": other.sign(claims, typ=CHECKPOINT_TYPE)}
    await rewrite(store, [(good_id, forged)], key=store.keys.audit_checkpoints)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}forged checkpoint {good_id} (seq 3): its kid is not one of"
                               " this deployment's keys")
    await rewrite(store, [(good_id, {**good, "start": "2"})], key=store.keys.audit_checkpoints)  # beside the JWS
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}forged checkpoint {good_id} (seq 3): the fields stored beside"
                               " its JWS are not what it signed")


async def test_a_deleted_checkpoint_is_named(store: Store, keys: SigningKeys) -> None:
    await checkpointed(store, keys, 9, every=3)
    kept = await store.audit.checkpoints()
    assert [f["seq"] for _, f in kept] == ["3", "6", "9"]
    await store.redis.xdel(store.keys.audit_checkpoints, kept[1][0])
    said, code = await verdict(store, keys)
    assert (code, said[:60]) == (1, f"{BROKEN}deleted: entry {kept[2][1]['id']} (seq 4):"[:60])
    assert f"checkpoint {kept[2][0]} (seq 7 to 9) does not follow checkpoint {kept[0][0]} (to seq 3)" in said


async def test_a_deleted_head_is_not_a_trim(store: Store, keys: SigningKeys) -> None:
    """#44's attack: the oldest entries (minutes old, the retention 90 days) deleted with the checkpoints below them."""
    log = await checkpointed(store, keys, 12, every=3)
    await store.redis.xdel(store.keys.audit, *[entry_id for entry_id, _ in log[:4]])
    first_checkpoint = (await store.audit.checkpoints())[0][0]
    await store.redis.xdel(store.keys.audit_checkpoints, first_checkpoint)
    newest = (await store.audit.checkpoints())[-1][0]
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}deleted: entry {log[4][0]} (seq 1): entries seq 1 to 4 at the"
                               f" start of the log are gone: checkpoint {newest} signed that the log starts at seq 1;"
                               " that is no trim")
    # the writer does not launder it: its next checkpoint still says the log starts at seq 1
    await fill(store, 1)
    assert await writer(store, keys).write_due()
    assert (await store.audit.checkpoints())[-1][1]["start"] == "1"
    # every checkpoint deleted too: with keys, a log that does not start at seq 1 is reported
    await store.redis.delete(store.keys.audit_checkpoints)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}deleted: entry {log[4][0]} (seq 1): the log starts at seq 5,"
                               " and no signed checkpoint says entries were trimmed")


async def test_trimming_is_signed_and_keeps_verify_green(store: Store, keys: SigningKeys) -> None:
    log = spaced(await fill(store, 9))  # written at 1000.00 s, 1000.01 s ... (epoch seconds)
    await rewrite(store, log)
    retention = 0.465  # at 1000.5 s: entries older than 1000.035 s go (seq 1 to 4)
    assert await UnannouncedWriter(store, keys, worker="w1", every=6, interval=0, retention=retention).write_due(
        now=1000.5)
    assert [f["seq"] for _, f in await entries(store)] == [str(n) for n in range(5, 10)]
    stored = (await store.audit.checkpoints())[-1][1]
    assert (stored["from"], stored["seq"], stored["start"]) == ("1", "6", "5")
    said, code = await verdict(store, keys, retention=retention)
    assert code == 0, said
    assert "5 entries checked, seq 5 to 9" in said and "1 signed checkpoints verified, the last at seq 6" in said
    assert "the unsigned tail: 3 entries after it" in said
    # a second checkpoint trims more; the first one's digests still anchor the oldest entry kept
    assert await UnannouncedWriter(store, keys, worker="w1", every=6, interval=0, retention=retention).write_due(
        now=1000.52)
    said, code = await verdict(store, keys, retention=retention)
    assert code == 0 and "3 entries checked, seq 7 to 9" in said and "2 signed checkpoints verified" in said
    assert [f["seq"] for _, f in await store.audit.checkpoints()] == ["6", "9"]
    # what the trim was allowed is signed with it (#76.9): a verifier whose own setting says an hour does not
    # override it, nor does removing the `keep` kept beside the JWS (the signed one is read)
    said, code = await verdict(store, keys, retention=3600)
    assert code == 0, said
    stripped = [(i, {k: v for k, v in f.items() if k != "keep"}) for i, f in await store.audit.checkpoints()]
    await rewrite(store, stripped, key=store.keys.audit_checkpoints)
    said, code = await verdict(store, keys, retention=3600)
    assert code == 0, said
    # without keys to read the signature, the trim is checked against the verifier's setting
    said, code = await verdict(store, None, retention=3600)
    assert code == 1 and "younger than the retention (3,600 s)" in said


async def test_since_starts_at_the_last_checkpoint_before_it(store: Store, keys: SigningKeys) -> None:
    await fill(store, 3)
    assert await writer(store, keys).write_due(now=1000.0)
    await fill(store, 3)
    assert await writer(store, keys).write_due(now=2000.0)
    log = await fill(store, 2)
    said, code = await verdict(store, keys, since=1500.0)
    assert code == 0, said
    assert "5 entries checked, seq 4 to 8, from checkpoint" in said
    await store.redis.xdel(store.keys.audit, log[1][0])  # before the start: not walked
    assert (await verdict(store, keys, since=1500.0))[1] == 0
    assert (await verdict(store, keys))[1] == 1
