"""The archive holds each workspace's audit chain (issue 89 item 2): home's at the archive's top as before, each other
workspace's under `chains/<tenant>/` with the same layout, written by the one archive writer; `audit verify --archive`
checks every chain in the archive alone, and with Redis each chain where it joins Redis and the global checkpoint
over them all; `audit prove` and `audit evidence` take a chain (`--chain`). A real S3 server (SeaweedFS, offline on
loopback) and a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.audit.archive.stores import Under, chains_in, open_archive
from bot.audit.chains import chain_stores
from bot.core.signing import SigningKeys
from bot.core.workspaces import WorkspaceRef
from bot.store import Store
from tests.support.archive import Seaweed, archiver, bucket_name, checkpointer, pinned, verdict
from tests.support.cli import bot_command

pytestmark = pytest.mark.slow  # a weed server per module


async def test_the_archive_holds_each_chain_and_verify_proves_them_all(
    s3_env: Seaweed, store: Store, keys: SigningKeys, redis_url: str, request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    await store.tenants.learn_home(WorkspaceRef("T0HOME"))
    for team in ("T0AAA", "T0BBB"):
        await store.tenants.remember(WorkspaceRef(team))
    stores = dict(await chain_stores(store))
    for n, tenant in enumerate(stores.values()):
        for number in range(20 + 10 * n):
            await tenant.audit.append("decision", by="U0ALICE", approval=f"A{number}", outcome="approved")
    while await checkpointer(store, keys, every=50).write_due():
        pass
    bucket = s3_env.bucket(bucket_name(request), locked=False)
    archive = open_archive(f"s3://{bucket}/audit", retain=0)
    writer = archiver(store, keys, archive)
    while await writer.archive_due():
        pass
    assert await writer.archive_chains() == 31 + 41  # (each chain's entries and its key's announcement)
    assert await chains_in(archive) == ["T0AAA", "T0BBB"]
    for name, last in (("T0AAA", 31), ("T0BBB", 41)):
        said, checked = await verdict(Under(archive, name), keys)
        assert checked is not None and checked.last == last, said
        assert checked.origin.endswith(f":ws:{name}"), checked.origin  # its own log's origin
        assert await stores[name].audit.archived_through() == last  # (so its chain may be trimmed past it)
    said, checked = await verdict(archive, keys)
    assert checked is not None and checked.last == 21, said  # home's, at the top, as before
    jwks = str(pinned(keys, tmp_path / "pinned.json"))
    url = f"s3://{bucket}/audit"
    alone = await bot_command("audit", "verify", "--archive", url, "--jwks", jwks, environ={})
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "chain T0AAA: " in alone.stdout and "chain T0BBB: " in alone.stdout
    both = await bot_command("audit", "verify", "--archive", url, "--jwks", jwks, environ={"REDIS_URL": redis_url})
    assert both.returncode == 0, both.stdout + both.stderr
    assert "signs the heads of 3 chain(s) (T0AAA, T0BBB, home)" in both.stdout, both.stdout
    assert both.stdout.count("audit log intact") == 3, both.stdout
    proof = await bot_command("audit", "prove", "7", "--archive", url, "--chain", "T0AAA", "--jwks", jwks, environ={})
    assert proof.returncode == 0, proof.stderr
    (tmp_path / "proof.json").write_text(proof.stdout)
    checked = await bot_command("audit", "check-proof", str(tmp_path / "proof.json"), "--jwks", jwks, environ={})
    assert checked.returncode == 0 and ":ws:T0AAA" in checked.stdout, checked.stdout + checked.stderr
    out = tmp_path / "evidence"
    evidence = await bot_command("audit", "evidence", "--since", "2000-01-01", "--until", "2100-01-01", "--archive",
                                 url, "--chain", "T0BBB", "--out", str(out), "--jwks", jwks,
                                 environ={"REDIS_URL": redis_url})
    assert evidence.returncode == 0, evidence.stdout + evidence.stderr
    assert "41 entries" in (out / "VERIFY.txt").read_text(), (out / "VERIFY.txt").read_text()
    wrong = await bot_command("audit", "prove", "7", "--archive", url, "--chain", "../x", "--jwks", jwks, environ={})
    assert wrong.returncode == 2 and "--chain: '../x' is not a workspace's team" in wrong.stderr, wrong
    # a segment of one chain deleted from the bucket: named with its chain
    client = s3_env.client()
    gone = next(o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="audit/chains/T0BBB/segments/")
                ["Contents"] if o["Key"].endswith("entries.jsonl.gz"))
    client.delete_object(Bucket=bucket, Key=gone)
    broken = await bot_command("audit", "verify", "--archive", url, "--jwks", jwks, environ={})
    assert broken.returncode == 1 and "audit archive NOT intact: chain T0BBB: " in broken.stdout, broken
