"""`python -m bot audit verify` and `audit export` as an operator runs them: real subprocesses, their exit codes;
and a real worker writing signed checkpoints on its own."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import bot_env, start_worker
from tests.support.audit_log import entries, keys_file, rewrite, verdict
from tests.support.source import ROOT


async def cli(*args: str, redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "REDIS_URL": redis_url, **env}
    environment.pop("SIGNING_KEYS", None)
    command = [sys.executable, "-m", "bot", "audit", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


async def test_verify_exit_codes(store: Store, redis_url: str, tmp_path: Path) -> None:
    for n in range(4):
        await store.audit.append("settings", by="U0ALICE", after=f"{n}m")
    intact = await cli("verify", redis_url=redis_url)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith("audit log intact: 4 entries checked, seq 1 to 4")
    log = await entries(store)
    log[1] = (log[1][0], {**log[1][1], "by": "U0MALLORY"})
    await rewrite(store, log)
    broken = await cli("verify", "--since", "7d", redis_url=redis_url)
    assert broken.returncode == 1
    assert broken.stdout.strip() == (f"audit log NOT intact: altered: entry {log[1][0]} (seq 2): its fields do not"
                                     " hash to its `hash`")
    for bad in (["verify", "--since", "soon"], ["verify", "--format", "csv"], ["--jwks", "k.json"], ["verify", "x"]):
        usage = await cli(*bad, redis_url=redis_url)
        assert usage.returncode == 2, bad
    missing = await cli("verify", "--jwks", str(tmp_path / "none.json"), redis_url=redis_url)
    assert missing.returncode == 2 and "--jwks" in missing.stderr


async def test_export_keeps_working_and_carries_the_chain(store: Store, redis_url: str) -> None:
    await store.audit.append("settings", by="U0ALICE", setting="timeout")
    for args in (["--format", "csv"], ["export", "--since", "1d", "--format", "csv"]):
        done = await cli(*args, redis_url=redis_url)
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        assert rows[0]["seq"] == "1" and rows[0]["prev"] == "0" * 64 and len(rows[0]["hash"]) == 64
    lines = (await cli(redis_url=redis_url)).stdout.splitlines()
    assert json.loads(lines[0])["seq"] == "1"


async def test_a_worker_signs_checkpoints_and_verify_checks_them_with_the_public_keys(
    slack: SlackStandIn, redis_url: str, store: Store, tmp_path: Path
) -> None:
    keys = keys_file(tmp_path / "keys.json")
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, SIGNING_KEYS_FILE=str(keys),
                  AUDIT_CHECKPOINT_EVERY="1")
    worker = await start_worker(env)
    try:
        await store.audit.append("settings", by="U0ALICE")
        deadline = time.monotonic() + 20  # the loop looks every few seconds
        while not await store.audit.checkpoints():
            assert time.monotonic() < deadline, "no checkpoint written"
            await asyncio.sleep(0.1)
    finally:
        await worker.stop()
    signing = worker.services.signing
    assert signing is not None
    public = tmp_path / "jwks.json"
    public.write_text(json.dumps(signing.public_jwks(time.time(), keep=0)))
    done = await cli("verify", "--jwks", str(public), redis_url=redis_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 signed checkpoints verified, the last at seq 1" in done.stdout
    said, code = await verdict(store)
    assert code == 0 and "checkpoints it reached were compared but their signatures not checked" in said
    done = await cli("verify", redis_url=redis_url, SIGNING_KEYS_FILE=str(tmp_path / "keys.json"))
    assert done.returncode == 0 and "1 signed checkpoints verified" in done.stdout
