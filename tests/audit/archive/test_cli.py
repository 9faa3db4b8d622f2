"""The archive as the operator and the auditor use it: workers with AUDIT_ARCHIVE fill it as approvals are written;
`python -m bot audit verify --archive URL` checks it with Redis and without (an auditor's laptop), `audit prove SEQ`
writes an inclusion proof that `audit check-proof FILE --jwks` checks offline; and a writer killed (kill -9) in the
middle of a segment leaves nothing the next one cannot finish."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.audit.archive import layout
from bot.audit.archive.stores import FolderStore
from bot.core.signing import SigningKeys
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import bot_env, start_worker
from tests.support.archive import archive_all, archiver, pinned, verdict, write_log
from tests.support.audit_log import keys_file
from tests.support.cli import bot_command
from tests.support.source import ROOT


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_workers_fill_the_archive_and_verify_prove_and_check_proof_say_so(
    slack: SlackStandIn, redis_url: str, store: Store, tmp_path: Path
) -> None:
    keys = keys_file(tmp_path / "keys.json")
    url = (tmp_path / "archive").as_uri()
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, SIGNING_KEYS_FILE=str(keys),
                  AUDIT_CHECKPOINT_INTERVAL="1s", AUDIT_ARCHIVE=url)
    workers = [await start_worker(env), await start_worker(env)]
    try:
        for n in range(40):
            await store.audit.append("decision", by="U0ALICE", approval=f"A{n}", outcome="approved")
        deadline = time.monotonic() + 60  # a checkpoint within a second, the archive's writer looks every 2 s
        while (await store.audit.archived_through() or 0) < 41:  # (+ the key's announcement)
            assert time.monotonic() < deadline, f"archived through {await store.audit.archived_through()}"
            await asyncio.sleep(0.1)
        holder = await store.redis.get(store.keys.audit_archive_lease)
        assert holder in {w.services.worker_id for w in workers}
    finally:
        for worker in workers:
            await worker.stop()
    jwks = pinned(SigningKeys.from_file(keys), tmp_path / "pinned.json")
    with_redis = await bot_command("audit", "verify", "--archive", url, "--jwks", str(jwks),
                                   environ={"REDIS_URL": redis_url})
    assert with_redis.returncode == 0, with_redis.stdout + with_redis.stderr
    assert with_redis.stdout.startswith(f"audit archive intact: {url}: ")
    assert "The archive and Redis join without a gap" in with_redis.stdout
    alone = await bot_command("audit", "verify", "--archive", url, "--jwks", str(jwks), environ={})
    assert alone.returncode == 0 and "Redis" not in alone.stdout, alone.stdout + alone.stderr
    proven = await bot_command("audit", "prove", "7", "--archive", url, environ={})
    assert proven.returncode == 0, proven.stderr
    proof = tmp_path / "proof.json"
    proof.write_text(proven.stdout)
    assert json.loads(proven.stdout)["fields"]["approval"] == "A6"
    checked = await bot_command("audit", "check-proof", str(proof), "--jwks", str(jwks), environ={})
    assert checked.returncode == 0 and checked.stdout.startswith("inclusion proof OK: entry"), checked.stdout
    usage = await bot_command("audit", "check-proof", str(proof), environ={})
    assert usage.returncode == 2 and "check-proof needs --jwks" in usage.stderr
    bad = await bot_command("audit", "prove", "x7", "--archive", url, environ={})
    assert bad.returncode == 2 and "SEQ is an entry's seq" in bad.stderr
    (tmp_path / "archive" / "keys").rename(tmp_path / "keys-gone")  # (the key history: verify does not need it)
    (tmp_path / "archive" / layout.checkpoint_name(41)).chmod(0o644)
    (tmp_path / "archive" / layout.checkpoint_name(41)).write_text("forged")
    broken = await bot_command("audit", "verify", "--archive", url, "--jwks", str(jwks), environ={})
    assert broken.returncode == 1
    assert broken.stdout == ("audit archive NOT intact: checkpoint forged: checkpoints/000000000041.jws is not a signed"
                             " checkpoint (a compact JWS with a kid)\n"), broken.stdout


async def test_verify_without_an_archive_says_old_records_are_gone_for_good(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    keys = keys_file(tmp_path / "keys.json")
    await write_log(store, SigningKeys.from_file(keys), 5)
    done = await bot_command("audit", "verify", environ={"REDIS_URL": redis_url, "SIGNING_KEYS_FILE": str(keys)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\nNo archive (AUDIT_ARCHIVE): entries older than AUDIT_RETENTION (90 days) are"
                                " trimmed from Redis and gone for good.\n"), done.stdout


@pytest.mark.slow
async def test_verify_archive_as_a_process_with_no_redis(store: Store, tmp_path: Path) -> None:
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    folder = FolderStore(tmp_path / "archive")
    await write_log(store, keys, 30)
    await archive_all(archiver(store, keys, folder))
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "SIGNING_KEYS"))}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "audit", "verify", "--archive", folder.url, "--jwks",
                         str(pinned(keys, tmp_path / "pinned.json"))],
        env=environment, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"audit archive intact: {folder.url}: 31 entries"), done.stdout


KILLED_WRITER = """
import asyncio, os, signal, sys
from pathlib import Path
from bot.audit.archive.stores import FolderStore
from bot.audit.archive.writer import AuditArchiver
from bot.core.signing import SigningKeys
from bot.store import Store, connect

redis_url, keys_path, folder, after = sys.argv[1:5]

class Dies(FolderStore):
    puts = 0
    async def put(self, name, data):
        Dies.puts += 1
        if Dies.puts > int(after):
            os.kill(os.getpid(), signal.SIGKILL)
        await super().put(name, data)

async def main():
    store = Store(connect(redis_url))
    writer = AuditArchiver(store, SigningKeys.from_file(Path(keys_path)), Dies(Path(folder)), worker="killed",
                           segment=100)
    while await writer.archive_due():
        pass

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("after", [1, 2, 4, 5])  # in a segment: after its entries, its tile, the JWS, the note
async def test_a_writer_killed_mid_segment_is_finished_by_the_next(
    store: Store, redis_url: str, tmp_path: Path, after: int
) -> None:
    keys_path = keys_file(tmp_path / "keys.json")
    keys = SigningKeys.from_file(keys_path)
    folder = FolderStore(tmp_path / "archive")
    await write_log(store, keys, 250)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", KILLED_WRITER, redis_url, str(keys_path), str(folder.root),
                         str(after + 7)],  # (its first segment whole: log.json and 6 objects, then `after` more)
        cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'agents'}"}, capture_output=True, timeout=120,
        check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    names = await folder.names("segments/")
    assert layout.manifest_name(1, 100) in names and layout.manifest_name(101, 200) not in names
    assert layout.entries_name(101, 200) in names  # killed inside the second segment
    await store.redis.delete(store.keys.audit_archive_lease)  # (its lease would run out in 30 s)
    # the next writer (segments of up to 300 now) finishes the segment begun, seq 101 to 200, then goes on
    assert await archive_all(archiver(store, keys, folder, segment=300)) == 151
    said, checked = await verdict(folder, keys)
    assert checked is not None and checked.last == 251 and checked.segments == 3, said
    assert [n for n in await folder.names("segments/") if n.endswith("entries.jsonl.gz")] == [
        layout.entries_name(1, 100), layout.entries_name(101, 200), layout.entries_name(201, 251)]
