"""A restore is never silent (#66.6): Redis restored from a backup taken 30 entries earlier (every key of the store
DUMPed, then RESTOREd after the log went on and was archived) is found by the archive's writer at its next round: an
ERROR naming the seqs lost, `restored` kept for /healthz, and the counter resumed past what the archive holds, so no
seq is given twice and a proof of an old seq still names the entry it was given to; the checkpoint writer signs past
the seqs lost, naming them (`restored_gap`), the archive goes on, and verify names it a known restore (exit 3)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.audit.archive.proofs import prove
from bot.audit.archive.stores import FolderStore
from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.digests import seq_of
from bot.audit.watch import Alerter, AuditWatch
from bot.core.metrics import Metrics
from bot.core.signing import SigningKeys
from bot.slack.blocks.text import escape
from bot.store import Store
from tests.support.archive import archive_all, archiver, checkpointer, pinned, trust, write_log
from tests.support.audit_log import keys_file
from tests.support.cli import bot_command


async def test_a_restored_redis_is_named_and_no_seq_is_given_twice(
    store: Store, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    archive = FolderStore(tmp_path / "archive")
    await write_log(store, keys, 20)
    await archive_all(archiver(store, keys, archive, segment=10))
    said_by_watcher: list[str] = []
    watch = watcher(store, keys, archive, said_by_watcher)
    assert await watch.look(now=START) == []  # (where it stopped is in the backup too)
    backup = {key: (await store.redis.dump(key), max(0, await store.redis.pttl(key)))
              for key in await store.redis.keys("*")}  # the backup (as an RDB keeps them: with their expiry)
    await write_log(store, keys, 30)  # 30 approvals after it
    await archive_all(archiver(store, keys, archive, segment=10))
    archived = await store.audit.archived_through()
    assert archived is not None and archived > 40
    given = {seq: f["approval"] for _, f in await store.audit.chained(count=1000) if (seq := seq_of(f)) and
             "approval" in f}
    await store.redis.flushdb()  # Redis restarted from the older backup
    for key, (dumped, ttl) in backup.items():
        await store.redis.restore(key, ttl, dumped)
    behind = await store.audit.counter()
    assert behind is not None and behind < archived
    writer = archiver(store, keys, archive, worker="w1", segment=10)  # the worker, restarted with Redis
    with caplog.at_level(logging.ERROR, logger="bot"):
        await writer.archive_due()
    said = (f"Redis was restored from an older backup: the audit log's counter was at seq {behind:,}, the archive holds"
            f" up to seq {archived:,}; Redis lost seqs {behind + 1:,} to {archived:,} ({archived - behind:,} entries;"
            f" the archive keeps them); the counter resumes past seq {archived:,}")
    assert writer.restored == said
    assert said in caplog.text and "ERROR" in [r.levelname for r in caplog.records if said in r.getMessage()]
    seq, _ = await store.audit.append("decision", by="U0ALICE", approval="NEW", outcome="approved")
    assert seq == archived + 1  # never a seq given before the restore
    for old in (behind + 1, archived - 1):  # a receipt's audit.seq from before still names its entry
        proof = await prove(archive, seq=old, trust=trust(keys))
        assert proof["fields"]["approval"] == given[old]
    await checkpointer(store, keys).write_due()  # (the unsigned tail before the gap, seq behind + 1 on: none here)
    while await checkpointer(store, keys).write_due():
        pass
    newest = await store.audit.last_checkpoint()  # the checkpoint signed past the gap, naming it
    assert newest is not None and newest[1]["restored_gap"] == f"{behind + 1}-{archived}", newest
    assert int(newest[1]["from"]) == archived + 1
    assert keys.verify(newest[1]["jws"], typ="audit-checkpoint+jwt")["restored_gap"] == [behind + 1, archived]
    assert await archive_all(writer) >= 1  # new entries are signed and archived again
    assert (await store.audit.archived_through() or 0) > archived
    ran = await bot_command("audit", "verify", "--archive", archive.url, "--jwks", str(pinned(keys, tmp_path / "k")),
                            environ={"REDIS_URL": redis_url})
    assert ran.returncode == 3, ran.stdout + ran.stderr  # a known restore: not "ok", not tampering
    assert "audit archive intact" in ran.stdout and "audit log intact" in ran.stdout, ran.stdout
    assert (f"RESTORED: Redis lacks seqs {behind + 1:,} to {archived:,} ({archived - behind:,} entries): it was"
            " restored from an older backup") in ran.stdout, ran.stdout
    alone = await bot_command("audit", "verify", "--jwks", str(pinned(keys, tmp_path / "k")),
                              environ={"REDIS_URL": redis_url})
    assert alone.returncode == 3 and "RESTORED" in alone.stdout, alone.stdout + alone.stderr
    # the watcher's next look (incremental: it counts the whole log, the seqs the restore lost signed as such) finds
    # nothing to say (#76.5), nor does the next full one
    assert await watch.look(now=START + 5) == []
    assert await watch.look(now=START + 3601) == []
    assert said_by_watcher == []


START = 2_000_000_000.0


def watcher(store: Store, keys: SigningKeys, archive: FolderStore, said: list[str]) -> AuditWatch:
    async def post(text: str) -> None:
        said.append(text)

    metrics = Metrics()
    alerter = Alerter(metrics, post=post, escape=escape, url="", signed=lambda body: {}, worker="w1")
    return AuditWatch(store, keys, alerter, metrics, worker="w1", interval=1, full_every=3600, stalled=10**6,
                      retention=10**9, archive=True, archive_store=archive)


async def test_a_gap_no_restore_explains_is_not_signed_and_verify_names_it_deleted(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    """Entries deleted by hand from Redis (no restore: the counter never went back) are no known restore: the
    checkpoint writer does not sign past them and verify names them deleted (exit 1)."""
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    archive = FolderStore(tmp_path / "archive")
    await write_log(store, keys, 20)
    await archive_all(archiver(store, keys, archive, segment=10))
    for number in range(5):
        await store.audit.append("decision", by="U0ALICE", approval=f"B{number}", outcome="approved")
    tail = await store.audit.chained(lower="(" + (await store.audit.last_checkpoint() or ("", {}))[1]["id"])
    await store.redis.xdel(store.keys.audit, tail[1][0], tail[2][0])  # two unsigned entries deleted by hand
    assert not await checkpointer(store, keys).write_due()
    ran = await bot_command("audit", "verify", "--archive", archive.url, "--jwks", str(pinned(keys, tmp_path / "k")),
                            environ={"REDIS_URL": redis_url})
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "audit log NOT intact" in ran.stdout and "deleted" in ran.stdout, ran.stdout


async def test_without_an_archive_a_floor_left_behind_holds_nothing(store: Store, tmp_path: Path) -> None:
    """A deployment that had an archive and no longer has one: the floor it left would hold numbering after every
    Redis restart with no archive's writer to confirm it; the checkpoint writer drops it."""
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    await store.redis.hset(store.keys.audit_floor, mapping={"seq": "5", "run": "another-run"})  # (a restart since)
    no_archive = AuditCheckpoints(store, keys, worker="w1", every=50, interval=0, retention=10**9)
    await no_archive.write_due()
    assert not await store.redis.exists(store.keys.audit_floor)
    seq, _ = await store.audit.append("decision", by="U0ALICE", approval="A1", outcome="approved")
    assert seq >= 1


async def test_an_archived_entry_deleted_from_the_middle_is_named_deleted_not_restored(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    """An entry the archive holds, removed by hand (XDEL) from the middle of Redis's log, later entries still there, is
    a deletion, named with its seq and id (exit 1); never "restored" (a restore loses the newest entries and the
    archive's writer records it in the floor)."""
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    archive = FolderStore(tmp_path / "archive")
    await write_log(store, keys, 20)
    await archive_all(archiver(store, keys, archive, segment=10))
    log = await store.audit.chained(count=1000)
    middle, = [(entry_id, seq) for entry_id, f in log if (seq := seq_of(f)) == 10]
    assert await store.redis.xdel(store.keys.audit, middle[0]) == 1
    ran = await bot_command("audit", "verify", "--archive", archive.url, "--jwks", str(pinned(keys, tmp_path / "k")),
                            environ={"REDIS_URL": redis_url})
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "restored" not in ran.stdout.lower(), ran.stdout
    assert (f"audit archive and Redis NOT intact: deleted: Redis lacks seq 10 (entry {middle[0]}), which the archive"
            " holds, while it holds the entries after it (seq 11 on)") in ran.stdout, ran.stdout
