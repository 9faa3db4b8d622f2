"""A restore is never silent (#66.6): Redis restored from a backup taken 30 entries earlier (every key of the store
DUMPed, then RESTOREd after the log went on and was archived) is found by the archive's writer at its next round: an
ERROR naming the seqs lost, `restored` kept for /healthz, and the counter resumed past what the archive holds, so no
seq is given twice and a proof of an old seq still names the entry it was given to."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.audit.archive.proofs import prove
from bot.audit.archive.stores import FolderStore
from bot.audit.digests import seq_of
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.archive import archive_all, archiver, pinned, trust, write_log
from tests.support.audit_log import keys_file
from tests.support.cli import bot_command


async def test_a_restored_redis_is_named_and_no_seq_is_given_twice(
    store: Store, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    archive = FolderStore(tmp_path / "archive")
    await write_log(store, keys, 20)
    await archive_all(archiver(store, keys, archive, segment=10))
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
    ran = await bot_command("audit", "verify", "--archive", archive.url, "--jwks", str(pinned(keys, tmp_path / "k")),
                            environ={"REDIS_URL": redis_url})
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert (f"audit archive and Redis NOT intact: restored: Redis lacks seq {behind + 1:,} to {archived:,}"
            f" ({archived - behind:,} entries) that the archive holds") in ran.stdout, ran.stdout
