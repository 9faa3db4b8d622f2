"""Every audit entry names a person (#66.7): the operator's commands (`keys`, `freeze`, `signing rotate`, `audit
export`) are audited as run by the OS user@host always (one helper, `bot.core.operators`), never "cli" alone, with
`os_user` and `host` apart and `--as NAME` only as `claimed` (#76: `--as mallory` is a claim, never who ran it); a
policy folder's reload names the folder, the bundle's hash and each file's digest; `audit export --format csv` has
what was asked."""

from __future__ import annotations

import csv
import getpass
import hashlib
import io
import socket
from pathlib import Path

from bot.core.operators import operator_name, operator_of
from bot.policy.engine import PolicyEngine
from bot.store import Store
from tests.support.cli import bot_command
from tests.support.leaks import leaks, redis_dump

ME = f"cli:{getpass.getuser()}@{socket.gethostname()}"
HERE = {"os_user": getpass.getuser(), "host": socket.gethostname()}


async def _by(store: Store, event: str) -> list[str]:
    return [f.get("by", "") for _, f in await store.audit.chained(count=1000) if f.get("event") == event]


async def _who(store: Store, event: str) -> list[tuple[str, str, str, str]]:
    """(by, os_user, host, claimed) of each `event` entry."""
    return [(f.get("by", ""), f.get("os_user", ""), f.get("host", ""), f.get("claimed", ""))
            for _, f in await store.audit.chained(count=1000) if f.get("event") == event]


def mine(claimed: str = "") -> tuple[str, str, str, str]:
    return ME, HERE["os_user"], HERE["host"], claimed


def test_the_one_helper_names_the_operator_and_keeps_a_name_given_as_a_claim() -> None:
    assert operator_name("mallory") == operator_name("") == operator_name(None) == ME  # `--as` never stands for who
    assert operator_of("ops-anna").fields() == {**HERE, "claimed": "ops-anna"}
    assert operator_of(None).fields() == HERE  # no claim: none recorded
    assert operator_of(" \x1b[31mmallory\x07 ").claimed == "[31mmallory"
    assert len(operator_of("x" * 500).claimed) == 80


async def test_keys_and_freeze_are_audited_with_who_ran_them(store: Store, redis_url: str) -> None:
    env = {"REDIS_URL": redis_url}
    made = await bot_command("keys", "create", "deploy", "--channel", "C0SALES", "--as", "ops-anna", environ=env)
    assert made.returncode == 0, made.stderr
    assert (await bot_command("keys", "create", "other", "--channel", "C0SALES", environ=env)).returncode == 0
    assert (await bot_command("keys", "revoke", "deploy", environ=env)).returncode == 0
    assert await _who(store, "api_key_created") == [mine("ops-anna"), mine()]
    assert await _who(store, "api_key_revoked") == [mine()]
    assert (await bot_command("freeze", "all", "--as", "mallory", environ=env)).returncode == 0
    assert (await bot_command("unfreeze", "all", environ=env)).returncode == 0
    assert await _who(store, "frozen") == [mine("mallory")] and await _who(store, "unfrozen") == [mine()]


async def test_a_freeze_reason_typed_with_a_card_number_is_kept_hidden(store: Store, redis_url: str) -> None:
    ran = await bot_command("freeze", "all", "--reason", "refund to card 4111 1111 1111 1111 failed",
                            environ={"REDIS_URL": redis_url})
    assert ran.returncode == 0, ran.stderr
    entry = next(f for _, f in await store.audit.chained(count=100) if f.get("event") == "frozen")
    assert "4111" not in entry["reason"] and "card ending 1111" in entry["reason"], entry
    assert leaks(await redis_dump(redis_url), ["4111111111111111"]) == []


async def test_a_signing_rotation_is_audited_with_the_os_user_and_host_and_the_claim(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "signing.json"
    ran = await bot_command("signing", "rotate", "--file", str(keys), "--as", "mallory",
                            environ={"REDIS_URL": redis_url})
    assert ran.returncode == 0, ran.stderr
    assert await _who(store, "signing_rotated") == [mine("mallory")]


async def test_audit_export_csv_has_what_was_asked_and_the_export_is_audited(store: Store, redis_url: str) -> None:
    await store.audit.append("requested", approval="A1", by="U0REQ", tool="refund", digest="d" * 64,
                             arguments='{"amount":5}', key="deploy", title="Refund order 7", workflow="temporal:wf-1")
    ran = await bot_command("audit", "export", "--format", "csv", "--as", "auditor-ann",
                            environ={"REDIS_URL": redis_url})
    assert ran.returncode == 0, ran.stderr
    row = next(r for r in csv.DictReader(io.StringIO(ran.stdout)) if r["event"] == "requested")
    assert (row["tool"], row["digest"], row["arguments"], row["key"], row["title"], row["workflow"]) == (
        "refund", "d" * 64, '{"amount":5}', "deploy", "Refund order 7", "temporal:wf-1")
    exported = [f for _, f in await store.audit.chained(count=100) if f.get("event") == "audit_exported"]
    assert [(f["by"], f["claimed"], f["os_user"], f["host"], f["format"]) for f in exported] == [
        (ME, "auditor-ann", HERE["os_user"], HERE["host"], "csv")]


async def test_a_policy_folder_reload_names_the_folder_the_bundle_and_each_file(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    text = '@id("no-prod-deletes")\nforbid(principal, action, resource) when { context.kind == "code" };\n'
    (folder / "mine.cedar").write_text(text)
    engine = PolicyEngine.load(str(folder), store=store, worker="w1", settle_seconds=0)
    await engine._loaded(engine.bundle)
    entry = next(f for _, f in await store.audit.chained(count=100) if f.get("event") == "policy_loaded")
    assert entry["by"] == f"system:policy folder {folder}" and entry["bundle"] == engine.bundle.hash
    digests = dict(part.split(":") for part in entry["digests"].split(","))
    assert digests["mine.cedar"] == hashlib.sha256(text.encode()).hexdigest()
    assert set(digests) == set(engine.bundle.files)
