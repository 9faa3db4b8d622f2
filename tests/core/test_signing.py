"""Signing keys (bot/core/signing.py) and `python -m bot signing` (bot/cli/signing.py): what they sign verifies
with joserfc (an independent JOSE library); keys that cannot be used are refused with a message that never
carries key material; a rotation keeps old keys public until what they signed has expired."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.receipts import TYPE
from joserfc.jwk import KeySet

from bot.__main__ import main
from bot.core.key_files import ensure_keys_file, rotated
from bot.core.operators import operator_name
from bot.core.settings import StoreSettings
from bot.core.signing import SigningError, SigningKeys, load_signing_keys, new_key_jwk
from tests.support.receipts import joserfc_claims

ROOT = Path(__file__).resolve().parents[2]


def document(*entries: dict[str, Any]) -> str:
    return json.dumps({"keys": list(entries)})


def keys_from(text: str) -> SigningKeys:
    keys = load_signing_keys(StoreSettings.from_env({"SIGNING_KEYS": text}))
    assert keys is not None
    return keys


def test_what_it_signs_verifies_with_joserfc_and_with_itself() -> None:
    keys = keys_from(document(new_key_jwk()))
    claims = {"sub": "a-1", "exp": 2_000_000_000, "iat": 1_900_000_000, "name": "Zoë"}
    signed = keys.sign(claims, typ=TYPE)
    header, read = joserfc_claims(signed, keys.public_jwks(0, 0))
    assert header == {"alg": "EdDSA", "kid": keys.current_kid, "typ": TYPE} and read == claims
    assert keys.verify(signed, typ=TYPE) == claims
    with pytest.raises(SigningError, match="typ"):
        keys.verify(signed, typ="other+jwt")
    other = keys_from(document(new_key_jwk()))
    with pytest.raises(SigningError, match="kid"):
        other.verify(signed, typ=TYPE)
    head, payload, signature = signed.split(".")
    with pytest.raises(SigningError, match="signature"):
        keys.verify(f"{head}.{payload}.{signature[:-4]}AAAA", typ=TYPE)
    for garbage in ("", "a.b", "a.b.c", "...", "x" * 20_000):
        with pytest.raises(SigningError):
            keys.verify(garbage, typ=TYPE)


def test_the_current_key_signs_and_retired_keys_still_verify_until_they_are_dropped() -> None:
    old = {**new_key_jwk(1000), "retired_at": 2000}
    current = new_key_jwk(2000)
    keys = keys_from(document(old, current))
    assert keys.current_kid == current["kid"]
    old_only = keys_from(document({k: v for k, v in old.items() if k != "retired_at"}))
    by_old = old_only.sign({"sub": "a-1"}, typ=TYPE)
    assert keys.verify(by_old, typ=TYPE) == {"sub": "a-1"}  # retired: still verifies
    assert [k["kid"] for k in keys.public_jwks(now=2500, keep=600)["keys"]] == [current["kid"], old["kid"]]
    assert [k["kid"] for k in keys.public_jwks(now=2600, keep=600)["keys"]] == [current["kid"]]
    assert all("d" not in k for k in keys.public_jwks(now=2500, keep=600)["keys"])
    public_old = {k: v for k, v in old.items() if k != "d"}  # its private part dropped: it verifies, never signs
    assert keys_from(document(public_old, current)).verify(by_old, typ=TYPE) == {"sub": "a-1"}


def test_keys_that_cannot_be_used_are_refused_without_their_material(tmp_path: Path) -> None:
    good = new_key_jwk()
    secret = good["d"]
    wrong_d = new_key_jwk()["d"]
    cases = {
        "not JSON": "{" + secret,
        "no keys": json.dumps({"key": [good]}),
        "not Ed25519": document({**good, "crv": "P-256"}),
        "a short x": document({**good, "x": good["x"][:10]}),
        "a d not of x": document({**good, "d": wrong_d}),
        "no current key": document({**good, "retired_at": 5}),
        "no created_at": document({k: v for k, v in good.items() if k != "created_at"}),
        "twice the kid": document(good, {**new_key_jwk(), "kid": good["kid"]}),
    }
    for what, text in cases.items():
        with pytest.raises(SigningError) as raised:
            keys_from(text)
        assert secret not in str(raised.value) and wrong_d not in str(raised.value), what
        assert "SIGNING_KEYS" in str(raised.value), what
    assert load_signing_keys(StoreSettings.from_env({})) is None
    path = tmp_path / "keys.json"
    path.write_text(document(good))
    path.chmod(0o644)
    with pytest.raises(SigningError, match=r"readable by group or others.*chmod 600"):
        load_signing_keys(StoreSettings.from_env({"SIGNING_KEYS_FILE": str(path)}))
    path.chmod(0o600)
    assert load_signing_keys(StoreSettings.from_env({"SIGNING_KEYS_FILE": str(path)})) is not None
    with pytest.raises(SigningError, match="both"):
        load_signing_keys(StoreSettings.from_env({"SIGNING_KEYS_FILE": str(path), "SIGNING_KEYS": document(good)}))
    with pytest.raises(SigningError, match="does not exist"):
        load_signing_keys(StoreSettings.from_env({"SIGNING_KEYS_FILE": str(tmp_path / "none.json")}))


def test_a_changed_file_is_read_again_and_a_broken_one_keeps_the_keys_in_use(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.json"
    assert ensure_keys_file(path) and not ensure_keys_file(path)  # made once
    keys = SigningKeys.from_file(path)
    first = keys.current_kid
    entries, _ = rotated(json.loads(path.read_text())["keys"], now=4_000_000_000, keep=600)
    path.write_text(json.dumps({"keys": entries}))
    os.utime(path, (4_000_000_000, 4_000_000_000))
    keys.refresh(force=True)
    assert keys.current_kid == entries[-1]["kid"] != first
    path.write_text("{broken")
    os.utime(path, (4_000_000_100, 4_000_000_100))
    keys.refresh(force=True)
    assert keys.current_kid == entries[-1]["kid"]  # the keys already read stay in use
    assert "not re-read" in caplog.text and entries[-1]["d"] not in caplog.text


def test_rotate_retires_keeps_and_drops_and_writes_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    path = tmp_path / "deep" / "keys.json"
    env = {"RECEIPT_TTL": "10m", "REDIS_URL": redis_url}
    assert main(["signing", "rotate", "--file", str(path)], environ=env) == 0  # made when missing
    assert path.stat().st_mode & 0o777 == 0o600
    first = json.loads(path.read_text())["keys"]
    assert len(first) == 1 and "d" in first[0]
    assert main(["signing", "rotate", "--file", str(path)], environ=env) == 0
    second = json.loads(path.read_text())["keys"]
    assert second[0]["kid"] == first[0]["kid"] and "retired_at" in second[0] and "d" in second[0]  # within the TTL
    later, said = rotated(second, now=second[0]["retired_at"] + 601, keep=600)
    assert "d" not in later[0] and "retired_at" in later[0] and any("dropped the private part" in s for s in said)
    assert "d" in later[1] and later[1]["retired_at"] and "d" in later[2] and "retired_at" not in later[2]
    capsys.readouterr()
    assert main(["signing", "show", "--file", str(path)], environ=env) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["current_kid"] == second[1]["kid"] and len(shown["keys"]) == 2
    assert second[1]["d"] not in json.dumps(shown) and second[0]["d"] not in json.dumps(shown)
    KeySet.import_key_set({"keys": [{k: v for k, v in key.items() if k in ("kty", "crv", "x", "kid")}
                                    for key in shown["keys"]]})  # a valid public JWKS
    path.chmod(0o640)
    assert main(["signing", "rotate", "--file", str(path)], environ=env) == 2  # refused, unchanged
    assert json.loads(path.read_text())["keys"] == second


@pytest.mark.slow
def test_rotate_with_keys_in_the_environment_prints_the_new_json(redis_url: str) -> None:
    old = new_key_jwk()
    env = {**os.environ, "SIGNING_KEYS": document(old), "REDIS_URL": redis_url}
    env.pop("SIGNING_KEYS_FILE", None)
    done = subprocess.run([sys.executable, "-m", "bot", "signing", "rotate"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)["keys"]
    assert entries[0]["kid"] == old["kid"] and entries[0]["retired_at"] and len(entries) == 2
    assert "set SIGNING_KEYS to the JSON above" in done.stderr and old["d"] not in done.stderr
    keys_from(done.stdout)  # loads as it is
    nothing = {k: v for k, v in env.items() if k != "SIGNING_KEYS"}
    refused = subprocess.run([sys.executable, "-m", "bot", "signing", "rotate"], cwd=ROOT, env=nothing,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--file" in refused.stderr


async def test_a_rotation_is_audited_with_who_ran_it_and_refused_unaudited(tmp_path: Path, redis_url: str) -> None:
    """`signing rotate` writes its audit entry (the new kid, the one retired, where, `--as`) before the keys change;
    with Redis unreachable it changes nothing (exit 1)."""
    from bot.store import Store, connect
    from tests.support.cli import bot_command

    path = tmp_path / "keys.json"
    ran = await bot_command("signing", "rotate", "--file", str(path), "--as", "alice", environ={"REDIS_URL": redis_url})
    assert ran.returncode == 0, ran.stderr
    first = json.loads(path.read_text())["keys"]
    ran = await bot_command("signing", "rotate", "--file", str(path), environ={"REDIS_URL": redis_url})
    assert ran.returncode == 0, ran.stderr
    second = json.loads(path.read_text())["keys"]
    redis = connect(redis_url)
    try:
        entries = [f for f in await Store(redis).audit.entries() if f.get("event") == "signing_rotated"]
    finally:
        await redis.aclose()
    assert [(e["by"], e.get("claimed"), e["kid"], e["retired"], e["where"]) for e in entries] == [
        (operator_name(None), "alice", first[0]["kid"], "", f"SIGNING_KEYS_FILE {path}"),  # `--as`: a claim (#76)
        (operator_name(None), None, second[1]["kid"], first[0]["kid"], f"SIGNING_KEYS_FILE {path}")]
    assert all(k.get("d", "") not in json.dumps(entries) for k in second)  # (no private part in the log)
    down = await bot_command("signing", "rotate", "--file", str(path), environ={"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert down.returncode == 1 and "audited first" in down.stderr and "nothing changed" in down.stderr
    assert json.loads(path.read_text())["keys"] == second  # unchanged


def test_the_private_keys_are_among_the_secrets_logs_are_redacted_of(tmp_path: Path) -> None:
    from bot.core.security import secrets_of
    from bot.core.settings import Settings

    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s" * 8, "APPROVALS_CHANNEL": "C0APPROVALS"}
    in_env, in_file = new_key_jwk(), new_key_jwk()
    from_env = Settings.from_env({**base, "SIGNING_KEYS": document(in_env)})
    assert in_env["d"] in secrets_of(from_env) and document(in_env) in secrets_of(from_env)
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(document(in_file))
    keys_file.chmod(0o600)
    from_file = Settings.from_env({**base, "SIGNING_KEYS_FILE": str(keys_file)})
    assert in_file["d"] in secrets_of(from_file)
    missing = Settings.from_env({**base, "SIGNING_KEYS_FILE": str(tmp_path / "gone.json")})
    assert secrets_of(missing) == secrets_of(Settings.from_env(base))  # a file that cannot be read: nothing more
