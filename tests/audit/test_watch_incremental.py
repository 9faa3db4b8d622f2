"""The watcher (bot/audit/watch.py) looks incrementally (#67): each look reads and verifies only the checkpoints
and the archive's sealed segments written since the last one (where it stopped is kept in Redis, under its lease),
and the whole log and archive again at each full look. A real Redis, the archive in a folder written by its own
writer, tampered with by hand; the alerts said through the watcher's `Alerter` into a list."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from bot.audit.archive import layout
from bot.audit.archive.stores import FolderStore
from bot.audit.watch import Alerter, AuditWatch
from bot.core.metrics import Metrics
from bot.core.signing import SigningKeys
from bot.slack.blocks.text import escape
from bot.store import Store
from tests.support.archive import archive_all, archiver, write_log
from tests.support.audit_log import rewrite, signing_keys

FULL_EVERY = 3600.0


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "keys.json")


@pytest.fixture
def folder(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path / "archive")


def newest_segments(folder: FolderStore) -> list[tuple[int, int]]:
    """The sealed segments in the folder: (first, last) seq each."""
    return [(int(f.group(1)), int(f.group(2))) for path in folder.root.rglob("manifest.json")
            if (f := layout.SEGMENT.fullmatch(str(path.relative_to(folder.root))))]


def watcher(store: Store, keys: SigningKeys, said: list[str], archive: FolderStore | None = None) -> AuditWatch:
    async def post(text: str) -> None:
        said.append(text)

    metrics = Metrics()
    alerter = Alerter(metrics, post=post, escape=escape, url="", signed=lambda body: {}, worker="w1")
    return AuditWatch(store, keys, alerter, metrics, worker="w1", interval=1, full_every=FULL_EVERY, stalled=10**6,
                      retention=10**9, archive=archive is not None, archive_store=archive)


async def test_a_tampered_archive_segment_written_after_the_first_look_is_alerted(
    store: Store, keys: SigningKeys, folder: FolderStore
) -> None:
    said: list[str] = []
    watch = watcher(store, keys, said, folder)
    await write_log(store, keys, 200)
    assert await archive_all(archiver(store, keys, folder)) > 0
    start = 2_000_000_000.0
    assert await watch.look(now=start) == []  # the first look: everything, intact
    mark = (await store.audit.watched())["archive"]
    await write_log(store, keys, 200)
    assert await archive_all(archiver(store, keys, folder)) > 0
    first, last = max(newest_segments(folder))
    assert first > int(mark.split(",")[2])  # (written after the first look)
    name = layout.entries_name(first, last)
    lines = gzip.decompress((folder.root / name).read_bytes()).split(b"\n")
    lines[10] = lines[10].replace(b'"approved"', b'"rejected"')
    os.chmod(folder.root / name, 0o644)
    (folder.root / name).write_bytes(gzip.compress(b"\n".join(lines)))
    found = await watch.look(now=start + 5)  # an incremental look: the new segments only
    assert [f.kind for f in found or []] == ["altered"], found
    assert found is not None and found[0].where == folder.url
    assert (f"entry seq {first + 10} in {layout.segment_dir(first, last)} is not the one the signed tree holds"
            in found[0].what), found[0].what
    assert len(said) == 1 and said[0].startswith("*Audit log integrity: altered*"), said
    assert (await store.audit.watched())["archive"] == mark  # not moved past the tampered segment


async def test_an_incremental_look_goes_on_from_where_the_last_stopped_and_a_full_look_rereads_all(
    store: Store, keys: SigningKeys
) -> None:
    said: list[str] = []
    watch = watcher(store, keys, said)
    for _ in range(4):
        await write_log(store, keys, 50)  # a checkpoint each
    start = 2_000_000_000.0
    assert await watch.look(now=start) == []
    first = await store.audit.watched()
    # an old checkpoint, verified by that look, forged by hand: an incremental look does not read it again
    stored = await store.audit.checkpoints()
    assert len(stored) >= 4
    forged = [(stored[0][0], {**stored[0][1], "head": "00" * 32}), *stored[1:]]
    await rewrite(store, forged, key=store.keys.audit_checkpoints)
    await write_log(store, keys, 200)
    assert await watch.look(now=start + 5) == []
    second = await store.audit.watched()
    assert int(second["seq"]) > int(first["seq"]) > int(stored[0][1]["seq"])
    assert said == []
    found = await watch.look(now=start + FULL_EVERY + 1)  # the full look: every checkpoint again
    assert [f.kind for f in found or []] == ["forged"], found
