"""The audit archive in a real S3 server that enforces Object Lock (SeaweedFS's `weed server -s3`, offline on
loopback): every object is put create-only (If-None-Match) with a COMPLIANCE retention, an overwrite or a delete of
a locked object is refused by the store itself, and verify names what a plain put (a new version over the locked
one) changed."""

from __future__ import annotations

import csv
import datetime
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bot.audit.archive import layout
from bot.audit.archive.merkle import tile_path
from bot.audit.archive.stores import Conflict, S3Store, open_archive
from bot.audit.watch import Alerter, AuditWatch
from bot.core.metrics import Metrics
from bot.core.signing import SigningKeys
from bot.slack.blocks.text import escape
from bot.store import Store
from tests.support.archive import (
    Seaweed,
    archive_all,
    archiver,
    bucket_name,
    pinned,
    verdict,
    write_log,
)
from tests.support.cli import bot_command

pytestmark = pytest.mark.slow  # a weed server per module

RETAIN = 400 * 86400




async def test_a_locked_bucket_keeps_every_object_under_compliance_retention(
    s3_env: Seaweed, store: Store, keys: SigningKeys, request: pytest.FixtureRequest
) -> None:
    bucket = s3_env.bucket(bucket_name(request), locked=True)
    archive = open_archive(f"s3://{bucket}/audit", retain=RETAIN)
    assert isinstance(archive, S3Store)
    await write_log(store, keys, 300)
    assert await archive_all(archiver(store, keys, archive)) == 301
    assert archive.locked
    said, checked = await verdict(archive, keys)
    assert checked is not None and checked.last == 301, said
    client = s3_env.client()
    retention = client.get_object_retention(Bucket=bucket, Key="audit/" + layout.entries_name(1, 100))["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["RetainUntilDate"] > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=399)
    # create-only: the store refuses a second put of the name, whatever the bytes
    key = "audit/" + layout.entries_name(101, 200)
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key=key, Body=b"rewritten", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(Conflict, match="already in the archive with other bytes"):
        await archive.put(layout.entries_name(101, 200), b"rewritten")
    # the locked version cannot be deleted before its retention ends
    version = client.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert _body(client, bucket, key, version) == (await archive.get(layout.entries_name(101, 200)))


def _body(client: Any, bucket: str, key: str, version: str) -> bytes:
    return bytes(client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read())


async def test_a_plain_put_over_a_locked_tile_is_named_and_the_locked_version_still_verifies_and_proves(
    s3_env: Seaweed, store: Store, keys: SigningKeys, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """With the bot's own s3:PutObject a put over a locked object makes a new version (#76.8): verify and evidence
    read the oldest (locked) version and name the newer one `overwritten`; evidence is still written, the finding
    its first exception; the watcher holds it as a standing finding, said once, never cleared while it stands."""
    bucket = s3_env.bucket(bucket_name(request), locked=True)
    archive = open_archive(f"s3://{bucket}/audit", retain=RETAIN)
    await write_log(store, keys, 300)
    await archive_all(archiver(store, keys, archive))
    client = s3_env.client()
    tile = bytearray(await archive.get(tile_path(0, 0)) or b"")
    tile[32 * 200] ^= 1
    client.put_object(Bucket=bucket, Key="audit/" + tile_path(0, 0), Body=bytes(tile))  # a new version over it
    said, checked = await verdict(archive, keys)
    assert said.startswith(f"audit archive NOT intact: overwritten: 1 object(s) of s3://{bucket}/audit were written"
                           f" over, the store keeps their older versions: {tile_path(0, 0)} (2 versions)"), said
    assert checked is not None and checked.last == 301 and checked.tiles >= 1, said  # (301: the key's announcement)
    assert f"oldest version (the one its writer put, and locked) was read: s3://{bucket}/audit: 301 entries" in said
    jwks = str(pinned(keys, tmp_path / "pinned.json"))
    ran = await bot_command("audit", "verify", "--archive", f"s3://{bucket}/audit", "--jwks", jwks, environ={})
    assert ran.returncode == 1 and ran.stdout.startswith("audit archive NOT intact: overwritten: 1 object(s)"), ran
    out = tmp_path / "evidence"
    ran = await bot_command("audit", "evidence", "--since", "2000-01-01", "--until", "2100-01-01", "--archive",
                            f"s3://{bucket}/audit", "--out", str(out), "--jwks", jwks, environ={})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "the archive was written over (overwritten: its first exception)" in ran.stdout, ran.stdout
    first = next(csv.DictReader((out / "exceptions.csv").open(newline="")))
    assert first["exception"].startswith("archive overwritten: 1 object(s)"), first
    assert f"{tile_path(0, 0)} (2 versions)" in first["exception"] and first["approval"] == ""
    assert (out / "VERIFY.txt").read_text().startswith("audit archive NOT intact: overwritten:")
    assert list((out / "proofs").glob("seq-*.json"))  # proven from the locked versions
    said_in: list[str] = []

    async def post(text: str) -> None:
        said_in.append(text)

    metrics = Metrics()
    alerter = Alerter(metrics, post=post, escape=escape, url="", signed=lambda body: {}, worker="w1")
    watch = AuditWatch(store, keys, alerter, metrics, worker="w1", interval=1, full_every=3600, stalled=10**6,
                       retention=10**9, archive=True, archive_store=archive)
    start = 2_000_000_000.0
    for at in (start, start + 5, start + 10, start + 3601):  # a full look, incremental ones, the next full one
        await write_log(store, keys, 10)
        await archive_all(archiver(store, keys, archive))
        found = await watch.look(now=at) or []
        assert [f.kind for f in found] == (["overwritten"] if at in (start, start + 3601) else []), found
        assert metrics.registry.get_sample_value("hitl_audit_integrity_standing", {"kind": "overwritten"}) == 1
    assert [text.split("\n")[0] for text in said_in] == ["*Audit log integrity: overwritten*"], said_in


async def test_an_unlocked_bucket_archives_and_verifies_too(
    s3_env: Seaweed, store: Store, keys: SigningKeys, request: pytest.FixtureRequest
) -> None:
    bucket = s3_env.bucket(bucket_name(request), locked=False)
    archive = open_archive(f"s3://{bucket}", retain=RETAIN)
    await write_log(store, keys, 120)
    assert await archive_all(archiver(store, keys, archive)) == 121
    assert not archive.locked
    said, checked = await verdict(archive, keys)
    assert checked is not None and checked.segments == 2, said
    # a store that ignores If-None-Match: the writer looks first (HEAD), and still never replaces an object
    assert isinstance(archive, S3Store)
    archive._conditional = False
    kept = await archive.get(layout.manifest_name(1, 100))
    with pytest.raises(Conflict, match="already in the archive with other bytes"):
        await archive.put(layout.manifest_name(1, 100), b"{}")
    assert await archive.get(layout.manifest_name(1, 100)) == kept
    client = s3_env.client()
    client.delete_object(Bucket=bucket, Key=layout.entries_name(1, 100))
    said, _ = await verdict(archive, keys)
    assert said == f"segment missing: {layout.entries_name(1, 100)} is gone (seq 1 to 100)", said
    assert os.environ["AWS_ENDPOINT_URL"] == s3_env.endpoint
