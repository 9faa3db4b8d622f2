"""`python -m bot report` and `python -m bot audit export` over a period Redis holds only in part (#76.15): the
entries trimmed from Redis once archived are read from the archive with `--archive URL`, and without it each says
that it read Redis only. A real Redis, the archive in a folder filled by its writer, the commands run as an operator
runs them (the same parser and code as the process)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bot.audit.archive.stores import FolderStore
from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.digests import seq_of
from bot.core.signing import SigningKeys
from bot.store import Store
from tests.support.archive import archive_all, archiver, write_log
from tests.support.audit_log import entries, signing_keys
from tests.support.cli import bot_command


async def trimmed_after_archiving(store: Store, keys: SigningKeys, folder: FolderStore) -> int:
    """150 decisions archived, then trimmed from Redis as the workers do (kept a minute, an hour on); Redis's
    first seq."""
    await write_log(store, keys, 150)
    await archive_all(archiver(store, keys, folder))
    await store.audit.append("decision", by="U0ALICE", approval="A-late", outcome="approved")
    workers = AuditCheckpoints(store, keys, worker="w1", every=50, interval=0, retention=60, archive=True)
    assert await workers.write_due(now=time.time() + 3600)
    first = seq_of((await entries(store))[0][1])
    assert first is not None and first > 150
    return first


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_export_and_report_read_the_archive_for_what_redis_no_longer_holds_and_say_so(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    keys = signing_keys(tmp_path / "keys.json")
    folder = FolderStore(tmp_path / "archive")
    first = await trimmed_after_archiving(store, keys, folder)
    env = {"REDIS_URL": redis_url}
    alone = await bot_command("audit", "export", "--since", "1d", environ=env)
    assert alone.returncode == 0, alone.stderr
    assert next(json.loads(line)["seq"] for line in alone.stdout.splitlines()) == str(first)
    assert "note: read Redis only: it holds the audit log from" in alone.stderr, alone.stderr
    assert f"(seq {first:,}) on" in alone.stderr and "Give --archive URL" in alone.stderr, alone.stderr
    both = await bot_command("audit", "export", "--since", "1d", "--archive", folder.url, environ=env)
    assert both.returncode == 0, both.stderr
    seqs = [int(json.loads(line)["seq"]) for line in both.stdout.splitlines()]
    assert seqs[:first] == list(range(1, first + 1)), seqs  # the archive's, then Redis's: every seq once
    assert len(seqs) == len(set(seqs))
    assert (f"note: read the audit archive {folder.url} for {first - 1:,} entries of the period Redis no longer"
            f" holds (seq 1 to {first - 1:,}), and Redis for the rest (from seq {first:,})") in both.stderr, both.stderr
    exported = [f for _, f in await entries(store) if f.get("event") == "audit_exported"]
    assert [f.get("archive") for f in exported] == [None, folder.url]
    report = tmp_path / "report.html"
    ran = await bot_command("report", "--since", "1d", "--out", str(report), environ=env)
    assert ran.returncode == 0 and "note: read Redis only" in ran.stderr, ran.stderr
    redis_only = int(ran.stdout.split("(")[1].split(" audit entries")[0])
    ran = await bot_command("report", "--since", "1d", "--out", str(report), "--archive", folder.url, environ=env)
    assert ran.returncode == 0 and f"note: read the audit archive {folder.url}" in ran.stderr, ran.stderr
    assert int(ran.stdout.split("(")[1].split(" audit entries")[0]) == redis_only + first - 1, ran.stdout


async def test_a_period_redis_holds_whole_says_nothing_and_a_bad_archive_is_refused(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    keys = signing_keys(tmp_path / "keys.json")
    await write_log(store, keys, 20)
    ran = await bot_command("audit", "export", "--since", "1d", environ={"REDIS_URL": redis_url})
    assert ran.returncode == 0 and ran.stderr == "", ran.stderr
    bad = await bot_command("audit", "export", "--archive", "ftp://acme/audit", environ={"REDIS_URL": redis_url})
    assert bad.returncode == 2 and "use file:///abs/folder or s3://bucket/prefix" in bad.stderr, bad.stderr
