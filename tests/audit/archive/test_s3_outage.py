"""The S3 archive unreachable for a while (its weed server stopped with SIGSTOP, then continued): approvals go on,
nothing unarchived is trimmed, and it catches up. A module of its own: its own weed server, which it stops."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from bot.audit.archive.stores import open_archive
from bot.audit.digests import seq_of
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.archive import Seaweed, archiver, bucket_name, checkpointer, verdict, write_log

pytestmark = pytest.mark.slow  # a weed server per module

RETAIN = 400 * 86400


async def test_an_s3_archive_stopped_for_a_while_stops_nothing_then_catches_up(
    s3_env: Seaweed, store: Store, keys: SigningKeys, request: pytest.FixtureRequest
) -> None:
    archive = open_archive(f"s3://{s3_env.bucket(bucket_name(request), locked=True)}/audit", retain=RETAIN)
    await write_log(store, keys, 20)
    writer = archiver(store, keys, archive)
    await writer.start()  # its own task, as a worker runs it
    try:
        deadline = time.monotonic() + 60
        while (await store.audit.archived_through() or 0) < 21:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        s3_env.process.send_signal(signal.SIGSTOP)  # the S3 server hangs
        try:
            for _ in range(3):  # approvals go on, signed, the trim called: nothing unarchived goes
                await write_log(store, keys, 10)
                await checkpointer(store, keys, retention=0).write_due()
            behind, _ = await store.audit.archive_lag(now=time.time())
            assert behind >= 30 and await store.audit.archived_through() == 21
            kept = {seq_of(f) for _, f in await store.audit.chained(count=1000)}
            assert set(range(22, 52)) <= kept
        finally:
            s3_env.process.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 120
        while (await store.audit.archive_lag(now=time.time()))[0]:
            assert time.monotonic() < deadline, await store.audit.archive_lag(now=time.time())
            await asyncio.sleep(0.1)
    finally:
        await writer.stop()
    said, _ = await verdict(archive, keys)
    assert said.startswith("audit archive intact"), said
