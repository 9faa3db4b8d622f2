"""A restore as an operator does it (#66.6): Redis backed up with BGSAVE (the .rdb copied aside), the log goes on and
is archived, then Redis is killed, the old .rdb put back and Redis started again on the same port.

No seq is ever given twice, even to an ask racing the restore: lua/lib/audit.lua holds numbering once Redis runs
again (its run_id is not the one the audit floor was confirmed in) until the archive's writer has raised the counter
past the archive (lua/audit_floor.lua)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as sync_redis
from agent_approvals import ApprovalsClient

from bot.audit.archive.proofs import prove
from bot.audit.archive.stores import FolderStore
from bot.core.signing import SigningKeys
from bot.devslack.server import SlackStandIn
from bot.store import Store, StoreUnavailable, connect
from tests.conftest import BOB, SALES, RedisServer, start_redis
from tests.support.archive import archive_all, archiver, pinned, trust, write_log
from tests.support.audit_log import keys_file
from tests.support.cli import bot_command
from tests.support.cluster import DEMO, Cluster
from tests.support.hitl import click, nth_card
from tests.support.redis_backup import backup, restore, stop

pytestmark = pytest.mark.slow  # (a redis-server of its own, killed and started again)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[list[RedisServer]]:
    """A redis-server of the test's own (the list holds the one running now: a restore starts another)."""
    (tmp_path / "redis").mkdir()
    servers = [start_redis(workdir=str(tmp_path / "redis"))]
    yield servers
    stop(servers[-1])


def evalsha_calls(port: int) -> int:
    client = sync_redis.Redis(port=port)
    try:
        return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    finally:
        client.close()


async def test_asks_racing_a_restore_never_get_a_seq_the_archive_holds(
    own_redis: list[RedisServer], tmp_path: Path
) -> None:
    server = own_redis[0]
    redis = connect(server.url)
    store = Store(redis)
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    archive = FolderStore(tmp_path / "archive")
    writer = archiver(store, keys, archive, segment=10)
    await write_log(store, keys, 20)
    await archive_all(writer)  # (its last round confirms the floor for this Redis run)
    rdb = backup(server, tmp_path / "backup" / "dump.rdb")
    await write_log(store, keys, 30)
    await archive_all(writer)
    archived = await store.audit.archived_through()
    assert archived is not None and archived >= 50
    given: list[int] = []
    stop_asking = asyncio.Event()

    async def ask(name: str) -> None:  # an approval's entry, asked again until Redis takes it
        number = 0
        while not stop_asking.is_set():
            try:
                seq, _ = await store.audit.append("decision", by="U0ALICE", approval=f"{name}-{number}",
                                                  outcome="approved")
            except StoreUnavailable:
                await asyncio.sleep(0.01)  # (Redis down: asked again)
                continue
            given.append(seq)
            number += 1

    askers = [asyncio.create_task(ask(f"R{n}")) for n in range(4)]
    try:
        deadline = time.monotonic() + 10
        while len(given) < 20:  # the asks are flowing
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        own_redis.append(server := await asyncio.to_thread(restore, server, rdb))  # killed, old .rdb, started
        before = len(given)  # (given by the Redis before the restore)
        counter = await store.audit.counter()
        assert counter is not None and counter < archived  # Redis is behind the archive
        deadline = time.monotonic() + 20
        while evalsha_calls(server.port) < 50:  # the asks reach the restarted Redis, and are held
            assert time.monotonic() < deadline, "the asks did not reach the restarted Redis"
            await asyncio.sleep(0.02)
        assert await store.audit.counter() == counter, "an ask was numbered before the counter was checked"
        assert len(given) == before
        deadline = time.monotonic() + 10
        while not writer.restored:  # the archive's writer's rounds: the counter raised, the floor confirmed (once
            assert time.monotonic() < deadline  # the held asks have said what they were given: HOLD_GRACE)
            await writer.archive_due()
            await asyncio.sleep(0.05)
        assert f"the archive holds up to seq {archived:,}" in writer.restored
        deadline = time.monotonic() + 10
        while len(given) < before + 20:  # the asks go on past the archive
            assert time.monotonic() < deadline, "the asks did not resume once the floor was confirmed"
            await asyncio.sleep(0.01)
    finally:
        stop_asking.set()
        for task in askers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await redis.aclose()
    after = given[before:]
    assert min(after) == max(given[:before]) + 1, after[:5]  # past the archive, and past what the asks were given
    assert min(after) > archived
    assert len(set(given)) == len(given), "a seq was given twice"


def receipt_audit(receipt: str) -> tuple[int, str]:
    """A receipt's `audit` claim: the seq and stream id of the decision's entry it was issued with."""
    payload = json.loads(base64.urlsafe_b64decode(receipt.split(".")[1] + "=="))
    return int(payload["audit"]["seq"]), str(payload["audit"]["id"])


async def test_workers_and_verify_name_a_redis_restored_from_a_backup_30_approvals_earlier(
    own_redis: list[RedisServer], slack: SlackStandIn, tmp_path: Path
) -> None:
    """Two `python -m bot` workers archive as approvals are decided; Redis is backed up (BGSAVE), 30 approvals later
    killed and started from that .rdb. The workers name it, no seq is given twice, new approvals are signed and
    archived, `audit verify --archive` names the restore (exit 3), and every receipt, from before and after, still
    names its own entry."""
    server = own_redis[0]
    keys_path = keys_file(tmp_path / "keys.json")
    keys = SigningKeys.from_file(keys_path)
    folder = FolderStore(tmp_path / "archive")
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    group = Cluster(slack, server.url, tmp_path, model)
    redis = connect(server.url)
    store = Store(redis)
    extra = {"SIGNING_KEYS_FILE": str(keys_path), "RECEIPT_ISSUER": "https://approvals.example.com",
             "AUDIT_CHECKPOINT_INTERVAL": "1s", "AUDIT_ARCHIVE": folder.url}
    try:
        workers = [await group.start(**extra), await group.start(**extra)]
        slack.events_url = workers[0].events
        made = await store.api_keys.create("emailer", [SALES], by=BOB)
        assert made is not None
        cards = 0

        async def approvals(count: int) -> list[str]:
            nonlocal cards
            receipts = []
            for n in range(count):
                async with ApprovalsClient(workers[n % 2].url, made.key, title="Tell Bob") as client:
                    asked = await client.request_tool("send_email", {"to": "bob@example.com", "n": n})
                    cards += 1
                    await click(slack, await nth_card(slack, cards, within=30), "approval_approve", user=BOB)
                    decided = await client.wait(asked.id, at_most=30)
                assert decided.approved and decided.receipt, decided
                receipts.append(str(decided.receipt))
            return receipts

        async def archived_all(within: float = 60) -> int:
            deadline = time.monotonic() + within
            while (archived := await store.audit.archived_through() or 0) < (await store.audit.counter() or 0):
                assert time.monotonic() < deadline, f"archived through {archived}"
                await asyncio.sleep(0.2)
            return archived

        before = await approvals(3)
        await archived_all()
        rdb = backup(server, tmp_path / "backup" / "dump.rdb")
        mid = await approvals(30)  # 30 approvals after the backup
        archived = await archived_all()
        own_redis.append(server := await asyncio.to_thread(restore, server, rdb))
        behind = await store.audit.counter()
        assert behind is not None and behind < archived
        after = await approvals(3)  # held until a worker checked the counter against the archive, then past it
        seqs = [receipt_audit(r)[0] for r in before + mid + after]
        assert len(set(seqs)) == len(seqs), seqs
        assert min(receipt_audit(r)[0] for r in after) > archived
        said = (f"Redis was restored from an older backup: the audit log's counter was at seq {behind:,}, the archive"
                f" holds up to seq {archived:,}; Redis lost seqs {behind + 1:,}")
        assert any(said in w.log.read_text() for w in workers), "no worker named the restore"
        newest = await archived_all()  # new entries are signed (past the gap) and archived
        assert newest >= max(seqs)
        for receipt in before + mid + after:  # each receipt still names its own entry
            seq, entry_id = receipt_audit(receipt)
            proof = await prove(folder, seq=seq, trust=trust(keys))
            assert proof["entry_id"] == entry_id and proof["fields"]["event"] == "decision", (seq, proof["fields"])
        ran = await bot_command("audit", "verify", "--archive", folder.url, "--jwks", str(pinned(keys, tmp_path / "k")),
                                environ={"REDIS_URL": server.url})
        assert ran.returncode == 3, ran.stdout + ran.stderr
        assert f"RESTORED: Redis lacks seqs {behind + 1:,} to " in ran.stdout, ran.stdout
    finally:
        group.stop_all()
        await redis.aclose()
