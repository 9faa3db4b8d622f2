"""Signing keys announced in the audit log itself (#63.13): before a key signs its first checkpoint, the writer appends
a `signing_key` entry (its kid and public JWK) that this checkpoint covers, so `audit verify` names a checkpoint signed
by a key the log never announced before it, without pinned keys. The normal paths stay intact: a rotation with
`python -m bot signing rotate` under real workers, a log upgraded from before announcements, an announcement carried
past a trim, `--since` after it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bot.api.receipts import ReceiptIssuer
from bot.audit.checkpoints import CHECKPOINT_TYPE, AuditCheckpoints
from bot.core.records import ApprovalRecord
from bot.core.signing import SigningKeys, new_key_jwk
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import bot_env, start_worker
from tests.support.audit_log import UnannouncedWriter, entries, keys_file, rewrite, verdict
from tests.support.source import ROOT

BROKEN = "audit log NOT intact: shard 1 (scheme 2): "
ANNOUNCED = "Every checkpoint's key was announced in the log before it."


async def command(*args: str, redis_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ...` as an operator runs it, this checkout's code."""
    environment = {**os.environ, "REDIS_URL": redis_url, **env}
    environment.pop("SIGNING_KEYS", None)
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", *args], env=environment, cwd=ROOT,
                                   capture_output=True, text=True, timeout=120, check=False)


def writer(store: Store, keys: SigningKeys, retention: float = 10**9) -> AuditCheckpoints:
    return AuditCheckpoints(store, keys, worker="w1", every=1000, interval=0, retention=retention)


async def fill(store: Store, n: int) -> None:
    for number in range(n):
        await store.audit.append("settings", by="U0ALICE", after=f"{number}m")


def announced(log: list[tuple[str, dict[str, str]]]) -> list[dict[str, str]]:
    return [fields for _, fields in log if fields["event"] == "signing_key"]


def jws_part(jws: str, n: int) -> dict[str, object]:
    """The header (0) or the claims (1) of a compact JWS, read without checking anything."""
    part = jws.split(".")[n]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


async def test_a_rotation_under_real_workers_is_announced_and_stays_intact(
    slack: SlackStandIn, redis_url: str, store: Store, tmp_path: Path
) -> None:
    path = keys_file(tmp_path / "keys.json")
    first = SigningKeys.from_file(path).current_kid
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, SIGNING_KEYS_FILE=str(path),
                  AUDIT_CHECKPOINT_INTERVAL="1s")
    worker = await start_worker(env)

    async def signed_by(kid: str) -> None:
        """Until a checkpoint signed by `kid` covers the whole log."""
        deadline = time.monotonic() + 30
        while True:
            last, head = await store.audit.last_checkpoint(), await store.audit.last()
            if last is not None and head is not None and last[1]["id"] == head[0] and jws_part(
                    last[1]["jws"], 0)["kid"] == kid:
                return
            assert time.monotonic() < deadline, f"no checkpoint by {kid} of the whole log: {last}"
            await asyncio.sleep(0.1)

    try:
        await fill(store, 5)
        await signed_by(first)
        rotated = await command("signing", "rotate", "--file", str(path), redis_url=redis_url)
        assert rotated.returncode == 0, rotated.stderr
        second = SigningKeys.from_file(path).current_kid
        assert second != first
        keys = worker.services.signing
        assert keys is not None
        deadline = time.monotonic() + 15
        while keys.current_kid != second:  # re-read within seconds, no restart
            assert time.monotonic() < deadline, "the worker did not re-read the keys file"
            await asyncio.sleep(0.1)
        await fill(store, 5)
        await signed_by(second)
    finally:
        await worker.stop()
    log = await entries(store)
    assert [(f["kid"], f["why"]) for f in announced(log)] == [(first, "first signature"), (second, "first signature")]
    assert json.loads(announced(log)[1]["jwk"])["x"] == SigningKeys.from_file(path).current.x
    done = await command("audit", "verify", redis_url=redis_url, SIGNING_KEYS_FILE=str(path),
                         REDIS_KEY_PREFIX=store.keys.prefix)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("audit log intact: ") and ANNOUNCED in done.stdout, done.stdout


async def test_a_backdated_checkpoint_of_a_key_announced_later_is_named(store: Store, tmp_path: Path) -> None:
    """An intruder's key made current (so announced, at its first signature) re-signs a checkpoint from before its
    announcement: backdated, named."""
    path = keys_file(tmp_path / "keys.json")
    keys = SigningKeys.from_file(path)
    await fill(store, 3)
    assert await writer(store, keys).write_due()  # the key's entry is seq 4, the checkpoint covers 1 to 4
    intruder = new_key_jwk(now=time.time() + 10)  # the newest: the current key from now on
    path.write_text(json.dumps({"keys": [*json.loads(path.read_text())["keys"], intruder]}))
    keys.refresh(force=True)
    assert keys.current_kid == intruder["kid"]
    await fill(store, 2)
    assert await writer(store, keys).write_due()  # announced (seq 7), then signed
    first_id, first = (await store.audit.checkpoints())[0]
    backdated = keys.sign(jws_part(first["jws"], 1), typ=CHECKPOINT_TYPE)
    await rewrite(store, [(first_id, {**first, "jws": backdated}), *(await store.audit.checkpoints())[1:]],
                  key=store.keys.audit_checkpoints)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}checkpoint {first_id} (seq 4) is signed by key {intruder['kid']}, which"
                               " the log announced only from seq 7, after it (backdated): a key added to the keys file"
                               " may have re-signed it")


async def test_a_log_from_before_announcements_is_upgraded_and_then_guarded(store: Store, tmp_path: Path) -> None:
    path = keys_file(tmp_path / "keys.json")
    keys = SigningKeys.from_file(path)
    await fill(store, 3)
    assert await UnannouncedWriter(store, keys, worker="w1", every=1000, interval=0, retention=10**9).write_due()
    said, code = await verdict(store, keys)
    assert code == 0 and "No signing key is announced in this log (written before announcements)" in said, said
    await fill(store, 2)
    assert await writer(store, keys).write_due()  # this version's writer: every key of the file, from seq 0
    assert [(f["kid"], f.get("since")) for f in announced(await entries(store))] == [(keys.current_kid, "0")]
    said, code = await verdict(store, keys)
    assert code == 0 and ANNOUNCED in said, said
    # a key added by hand since (never the current one) re-signs the first checkpoint: named
    intruder = new_key_jwk(now=1_000_000_000)
    path.write_text(json.dumps({"keys": [*json.loads(path.read_text())["keys"], {**intruder, "retired_at": 1e9}]}))
    keys.refresh(force=True)
    first_id, first = (await store.audit.checkpoints())[0]
    resigned = SigningKeys.from_text(json.dumps({"keys": [intruder]})).sign(jws_part(first["jws"], 1),
                                                                           typ=CHECKPOINT_TYPE)
    await rewrite(store, [(first_id, {**first, "jws": resigned}), *(await store.audit.checkpoints())[1:]],
                  key=store.keys.audit_checkpoints)
    said, code = await verdict(store, keys)
    assert (code, said) == (1, f"{BROKEN}checkpoint {first_id} (seq 3) is signed by key {intruder['kid']}, which"
                               " the log never announced: a key added to the keys file may have re-signed it")


async def test_an_announcement_is_carried_past_a_trim_and_since_finds_it(store: Store, tmp_path: Path) -> None:
    keys = SigningKeys.from_file(keys_file(tmp_path / "keys.json"))
    await fill(store, 4)
    assert await writer(store, keys, retention=30).write_due()  # the key's entry: seq 5
    await fill(store, 2)
    later = time.time() + 60
    assert await writer(store, keys, retention=30).write_due(now=later)  # trims below seq 7: the key's entry too
    kept = await entries(store)
    assert [f["seq"] for _, f in kept] == ["7", "8"]
    [carried] = announced(kept)
    assert (carried["kid"], carried["since"], carried["why"]) == (keys.current_kid, "5", "carried past a trim")
    said, code = await verdict(store, keys, retention=30, now=later)
    assert code == 0 and ANNOUNCED in said, said
    await fill(store, 1)
    assert await writer(store, keys).write_due(now=later + 1)  # covers 8 (the key's entry now) and 9; no trim
    await fill(store, 1)
    said, code = await verdict(store, keys, since=later + 1, retention=30, now=later + 2)  # from that one on: the
    # key's entry is before it, found where the log points to it (`Keys.audit_kids`)
    assert code == 0 and "1 entries checked, seq 10 to 10" in said and ANNOUNCED in said, said


async def approved(store: Store, n: int) -> ApprovalRecord:
    """An approval asked through the API and approved: one a receipt is signed for."""
    now = time.time()
    approval = ApprovalRecord(
        id=f"a{n:031d}", run_id=f"r{n}", owner="api", requester="U0BOB", origin_channel="C0SALES",
        card_channel="C0SALES", task="Refund", proposal='refund({"amount":9})', author="nightly", created_at=now,
        deadline=now + 600, timeout_seconds=600, kind="tool_call", tool_name="refund", arguments='{"amount":9}',
        asked_by="nightly", key_id="k1",
    )
    assert await store.approvals.create(approval) == "ok"
    assert (await store.approvals.decide(approval.id, outcome="approved", by="U0CAROL")).status == "ok"
    found = await store.approvals.get(approval.id)
    assert found is not None
    return found


async def test_a_key_signs_no_receipt_before_the_log_announces_it(store: Store, tmp_path: Path) -> None:
    """A receipt is a signature too: the key is announced before the first one, with no checkpoint written yet; a
    key rotated in the keys file is announced before its first receipt, and the first key's stands."""
    path = keys_file(tmp_path / "keys.json")
    keys = SigningKeys.from_file(path)
    issuer = ReceiptIssuer(store, keys, issuer="https://approvals.example.com", ttl=600, worker="w1")
    receipt = await issuer.receipt_of(await approved(store, 1))
    assert receipt is not None and await store.audit.last_checkpoint() is None
    first = keys.current_kid
    assert jws_part(receipt, 0)["kid"] == first
    assert [f["kid"] for f in announced(await entries(store))] == [first]
    rotated = new_key_jwk()
    path.write_text(json.dumps({"keys": [{**json.loads(path.read_text())["keys"][0], "retired_at": time.time()},
                                         rotated]}))
    keys.refresh(force=True)
    receipt = await issuer.receipt_of(await approved(store, 2))
    assert receipt is not None and jws_part(receipt, 0)["kid"] == rotated["kid"] != first
    assert [f["kid"] for f in announced(await entries(store))] == [first, rotated["kid"]]


async def test_a_receipt_first_on_a_log_from_before_announcements_announces_every_key_from_seq_0(
    store: Store, tmp_path: Path
) -> None:
    """The upgrade is the same whichever signs first after it, a receipt or a checkpoint: every key of the file
    stands from seq 0, and verify finds each checkpoint's key announced."""
    path = keys_file(tmp_path / "keys.json")
    keys = SigningKeys.from_file(path)
    await fill(store, 3)
    assert await UnannouncedWriter(store, keys, worker="w1", every=1000, interval=0, retention=10**9).write_due()
    issuer = ReceiptIssuer(store, keys, issuer="https://approvals.example.com", ttl=600, worker="w2")
    assert await issuer.receipt_of(await approved(store, 1)) is not None
    assert [(f["kid"], f.get("since")) for f in announced(await entries(store))] == [(keys.current_kid, "0")]
    assert await writer(store, keys).write_due()
    said, code = await verdict(store, keys)
    assert code == 0 and ANNOUNCED in said, said
