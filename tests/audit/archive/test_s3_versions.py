"""An S3 archive written over (#66): on a versioned bucket without Object Lock a put over an archived object succeeds,
and leaves the old version; verify names it. In a module of its own, with its own weed server (a new bucket's first
write on the server the other S3 tests used was answered InternalError for a while)."""

from __future__ import annotations

import pytest

from bot.audit.archive import layout
from bot.audit.archive.stores import open_archive
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.archive import Seaweed, archive_all, archiver, bucket_name, verdict, write_log

pytestmark = pytest.mark.slow  # a weed server per module

RETAIN = 400 * 86400


async def test_an_object_written_over_on_a_versioned_bucket_without_lock_is_named(
    s3_env: Seaweed, store: Store, keys: SigningKeys, request: pytest.FixtureRequest
) -> None:
    """A put over an archived object, even of the same bytes, leaves a second version on a versioned bucket without
    Object Lock: verify names it overwritten (each object is written once)."""
    bucket = s3_env.bucket(bucket_name(request), locked=False)
    client = s3_env.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    archive = open_archive(f"s3://{bucket}/audit", retain=RETAIN)
    await write_log(store, keys, 120)
    await archive_all(archiver(store, keys, archive))
    said, checked = await verdict(archive, keys)
    assert checked is not None, said
    key = "audit/" + layout.manifest_name(1, 100)
    client.put_object(Bucket=bucket, Key=key, Body=await archive.get(layout.manifest_name(1, 100)))  # same bytes
    said, _ = await verdict(archive, keys)
    assert said.startswith(f"audit archive NOT intact: overwritten: 1 object(s) of s3://{bucket}/audit were written"
                           f" over, the store keeps their older versions: {layout.manifest_name(1, 100)} (2"
                           " versions)"), said
