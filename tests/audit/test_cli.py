"""`python -m bot audit verify` and `audit export` as an operator runs them: the command's parser and code in this
process (`tests/support/cli.py`; one test runs it as a real process), its exit codes and what it prints; two real
workers sharing the checkpoint writer's lease; `--jwks` as a deployed bot's URL; a wrong key prefix."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.audit.checkpoints import CHECKPOINT_TYPE, AuditCheckpoints
from bot.core.signing import SigningKeys, new_key_jwk
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import bot_env, start_worker
from tests.support.audit_log import UnannouncedWriter, entries, keys_file, rewrite, verdict
from tests.support.cli import Ran, bot_command
from tests.support.source import ROOT

BROKEN = "audit log NOT intact: shard 1 (scheme 2): "  # a finding in a new log's one shard
INTACT = "audit log intact: shard 1 (scheme 2): "


async def cli(*args: str, redis_url: str, **env: str) -> Ran:
    """`python -m bot audit *args` with REDIS_URL and `env` as its whole environment."""
    return await bot_command("audit", *args, environ={"REDIS_URL": redis_url, **env})


@pytest.mark.slow
async def test_audit_as_a_process(store: Store, redis_url: str, tmp_path: Path) -> None:
    """The command as an operator runs it: a real process, its exit code and its output."""
    keys = keys_file(tmp_path / "keys.json")
    await store.audit.append("settings", by="U0ALICE", after="1m")
    assert await AuditCheckpoints(store, SigningKeys.from_file(keys), worker="w1", every=1000, interval=0,
                                  retention=10**9).write_due()
    environment = {key: value for key, value in os.environ.items() if key not in ("SIGNING_KEYS", "REDIS_KEY_PREFIX")}
    environment.update(REDIS_URL=redis_url, SIGNING_KEYS_FILE=str(keys))
    for args, said in ((["verify"], INTACT), (["export"], '{"')):
        done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "audit", *args], env=environment,
                                       cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(said), done.stdout


async def test_verify_exit_codes(store: Store, redis_url: str, tmp_path: Path) -> None:
    keys = keys_file(tmp_path / "keys.json")
    for n in range(4):
        await store.audit.append("settings", by="U0ALICE", after=f"{n}m")
    writer = UnannouncedWriter(store, SigningKeys.from_file(keys), worker="w1", every=1000, interval=0,
                              retention=10**9)
    assert await writer.write_due()
    intact = await cli("verify", redis_url=redis_url, SIGNING_KEYS_FILE=str(keys))
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.startswith(f"{INTACT}4 entries checked, seq 1 to 4; 1 signed checkpoints verified")
    log = await entries(store)
    log[1] = (log[1][0], {**log[1][1], "by": "U0MALLORY"})
    await rewrite(store, log)
    broken = await cli("verify", "--since", "7d", redis_url=redis_url, SIGNING_KEYS_FILE=str(keys))
    assert broken.returncode == 1
    checkpoint_id = (await store.audit.checkpoints())[0][0]
    assert broken.stdout.strip() == (f"{BROKEN}altered: entry {log[1][0]} (seq 2): it is not what"
                                     f" checkpoint {checkpoint_id} signed for this seq")
    for bad in (["verify", "--since", "soon"], ["verify", "--format", "csv"], ["--jwks", "k.json"], ["verify", "x"]):
        usage = await cli(*bad, redis_url=redis_url)
        assert usage.returncode == 2, bad
    missing = await cli("verify", "--jwks", str(tmp_path / "none.json"), redis_url=redis_url)
    assert missing.returncode == 2 and "--jwks" in missing.stderr
    unreachable = await cli("verify", "--jwks", "http://127.0.0.1:9/api/v1/jwks.json", redis_url=redis_url)
    assert unreachable.returncode == 2 and "--jwks: http://127.0.0.1:9/api/v1/jwks.json is not a readable" in (
        unreachable.stderr)


async def test_no_audit_log_under_the_prefix_is_said_and_fails(store: Store, redis_url: str) -> None:
    await store.audit.append("settings", by="U0ALICE")
    for args in (["verify"], ["export"], []):
        wrong = await cli(*args, redis_url=redis_url, REDIS_KEY_PREFIX="not-the-bots")
        assert wrong.returncode == 1, (args, wrong.stdout, wrong.stderr)
        assert wrong.stdout == ""
        assert wrong.stderr.startswith("error: no audit log found under the key prefix 'not-the-bots'"), wrong.stderr
    right = await cli("verify", redis_url=redis_url, REDIS_KEY_PREFIX=store.keys.prefix)
    assert right.returncode == 0 and right.stdout.startswith(f"{INTACT}1 entries checked")


async def test_export_keeps_working_and_carries_the_seq(store: Store, redis_url: str) -> None:
    await store.audit.append("settings", by="U0ALICE", setting="timeout")
    for args in (["--format", "csv"], ["export", "--since", "1d", "--format", "csv"]):
        done = await cli(*args, redis_url=redis_url, REDIS_KEY_PREFIX=store.keys.prefix)
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(io.StringIO(done.stdout)))
        assert rows[0]["seq"] == "1" and list(rows[0])[-1] == "seq"  # the last column
    lines = (await cli(redis_url=redis_url, REDIS_KEY_PREFIX=store.keys.prefix)).stdout.splitlines()
    assert json.loads(lines[0])["seq"] == "1"


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_two_workers_sign_within_seconds_and_verify_checks_them_with_the_bots_jwks_url(
    slack: SlackStandIn, redis_url: str, store: Store, tmp_path: Path
) -> None:
    keys = keys_file(tmp_path / "keys.json")
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, SIGNING_KEYS_FILE=str(keys),
                  AUDIT_CHECKPOINT_INTERVAL="1s")
    workers = [await start_worker(env), await start_worker(env)]
    try:
        for n in range(30):
            await store.audit.append("settings", by="U0ALICE", after=f"{n}m")
        deadline = time.monotonic() + 30  # the lease holder looks every second
        while (last := await store.audit.last_checkpoint()) is None or last[1]["seq"] != "31":  # (+ its key's entry)
            assert time.monotonic() < deadline, f"no checkpoint of seq 31: {last}"
            await asyncio.sleep(0.1)
        holder = await store.redis.get(store.keys.audit_lease)
        assert holder in {w.services.worker_id for w in workers}
        checkpoints = await store.audit.checkpoints()
        assert checkpoints[0][1]["from"] == "1"  # one chain of checkpoints, none twice
        assert sum(int(f["seq"]) - int(f["from"]) + 1 for _, f in checkpoints) == 31
        announced = [f for _, f in await entries(store) if f["event"] == "signing_key"]  # once, by the lease holder
        assert [f["kid"] for f in announced] == [SigningKeys.from_file(keys).current_kid]
        done = await cli("verify", "--jwks", workers[1].url + "/api/v1/jwks.json", redis_url=redis_url,
                         REDIS_KEY_PREFIX=store.keys.prefix)
    finally:
        for worker in workers:
            await worker.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "31 entries checked, seq 1 to 31" in done.stdout and "the last at seq 31" in done.stdout
    assert "Every checkpoint's key was announced in the log before it." in done.stdout
    said, code = await verdict(store)
    assert code == 0 and "checkpoints it reached were compared but their signatures not checked" in said


async def test_verify_says_only_what_it_checked(store: Store, redis_url: str, tmp_path: Path) -> None:
    """#51.12: nothing checked is never "intact"; a log cut at its end (the whole unsigned tail, deleted with
    XDEL) fails on its counter; the output names the keys it trusted, and says to pin them."""
    keys = keys_file(tmp_path / "keys.json")
    env = {"SIGNING_KEYS_FILE": str(keys), "REDIS_KEY_PREFIX": store.keys.prefix}
    for n in range(4):
        await store.audit.append("settings", by="U0ALICE", after=f"{n}m")
    assert await UnannouncedWriter(store, SigningKeys.from_file(keys), worker="w1", every=1000, interval=0,
                                  retention=10**9).write_due()
    intact = await cli("verify", redis_url=redis_url, **env)
    assert intact.returncode == 0, intact.stderr
    kid = SigningKeys.from_file(keys).keys[0].kid
    assert f"the keys trusted, from SIGNING_KEYS_FILE {keys}: {kid} (created " in intact.stdout
    assert "check with the public keys pinned where the bot cannot write them (--jwks FILE" in intact.stdout

    log = await entries(store)
    log[1] = (log[1][0], {**log[1][1], "by": "U0MALLORY"})  # tampered before the last checkpoint...
    await rewrite(store, log)
    later = datetime.fromtimestamp(time.time() + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    nothing = await cli("verify", "--since", later, redis_url=redis_url, **env)  # ...and nothing after it checked
    assert nothing.returncode == 1, nothing.stdout
    checkpoint_id = (await store.audit.checkpoints())[0][0]
    assert nothing.stdout.startswith(f"audit log NOT verified: no numbered entry was checked after checkpoint"
                                     f" {checkpoint_id} (seq 4)"), nothing.stdout
    assert "intact" not in nothing.stdout

    await rewrite(store, [*log[:1], (log[1][0], {**log[1][1], "by": "U0ALICE"}), *log[2:]])  # put back
    for n in range(3):
        await store.audit.append("settings", by="U0ALICE", after=f"{n}h")
    tail = [entry_id for entry_id, _ in (await entries(store))[4:]]
    assert len(tail) == 3
    assert await store.redis.xdel(store.keys.audit, *tail) == 3
    cut = await cli("verify", redis_url=redis_url, **env)
    assert cut.returncode == 1
    assert cut.stdout.strip().endswith("entries seq 5 to 7 at the end of the log are gone: the log's counter is at"
                                       " seq 7, its last entry is seq 4"), cut.stdout


@pytest.mark.parametrize("created", ["later", "backdated"])
async def test_a_checkpoint_re_signed_by_a_key_added_by_hand_is_named_without_pinned_keys(
    store: Store, redis_url: str, tmp_path: Path, created: str
) -> None:
    """#63.13: an intruder who can write the keys file adds a key by hand (not with `signing rotate`), and re-signs a
    checkpoint with it, keeping its time; the key's `created_at` after the checkpoint, or backdated to before it.
    The key was never announced in the log, so verify names the checkpoint and its key, exit 1, without --jwks (a
    backdated key once left it "intact", without even a warning); with the public keys pinned it is refused too."""
    path = keys_file(tmp_path / "keys.json")
    pinned = tmp_path / "jwks.json"
    pinned.write_text(json.dumps({"keys": [k.public_jwk() for k in SigningKeys.from_file(path).keys]}))
    for n in range(3):
        await store.audit.append("settings", by="U0ALICE", after=f"{n}m")
    keys = SigningKeys.from_file(path)
    assert await AuditCheckpoints(store, keys, worker="w1", every=1000, interval=0, retention=10**9).write_due()
    env = {"REDIS_KEY_PREFIX": store.keys.prefix}
    intact = await cli("verify", redis_url=redis_url, SIGNING_KEYS_FILE=str(path), **env)
    assert intact.returncode == 0 and "Every checkpoint's key was announced in the log" in intact.stdout, intact.stdout
    intruder = new_key_jwk(now=time.time() + 3600 if created == "later" else 1_000_000_000)
    intruder["retired_at"] = 1_000_000_001  # (never the current key: no worker signs with it, or announces it)
    document = json.loads(path.read_text())
    path.write_text(json.dumps({"keys": [*document["keys"], intruder]}))
    [(checkpoint_id, fields)] = await store.audit.checkpoints()
    claims = keys.verify(fields["jws"], typ=CHECKPOINT_TYPE)
    resigned = SigningKeys.from_text(json.dumps({"keys": [{**intruder, "retired_at": None}]})).sign(
        claims, typ=CHECKPOINT_TYPE)
    await rewrite(store, [(checkpoint_id, {**fields, "jws": resigned})], key=store.keys.audit_checkpoints)

    trusting = await cli("verify", redis_url=redis_url, SIGNING_KEYS_FILE=str(path), **env)
    assert trusting.returncode == 1, trusting.stdout
    assert trusting.stdout.strip() == (
        f"{BROKEN}checkpoint {checkpoint_id} (seq 4) is signed by key {intruder['kid']}, which the log never"
        " announced: a key added to the keys file may have re-signed it"), trusting.stdout
    refused = await cli("verify", "--jwks", str(pinned), redis_url=redis_url, **env)
    assert refused.returncode == 1 and f"forged checkpoint {checkpoint_id}" in refused.stdout, refused.stdout
