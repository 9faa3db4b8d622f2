"""The archive's lag is visible (/healthz, the `hitl_audit_archive_lag_entries` and `_seconds` metrics, `/agent status`
for the channel's admins) and a failing archive stops nothing: the log goes on, nothing unarchived is trimmed, and it
catches up once the archive is back."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import ALICE, BOB, SALES, bot_env, name_admins, reply_text, start_worker
from tests.support.audit_log import keys_file


async def _lag(url: str) -> tuple[dict[str, object], dict[str, float]]:
    async with httpx.AsyncClient() as client:
        health = (await client.get(url + "/healthz")).json()
        text = (await client.get(url + "/metrics")).text
    gauges = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(hitl_audit_archive_lag_\w+) (\S+)$", text, re.M)}
    return health["audit_archive"], gauges


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_lag_is_shown_and_a_failing_archive_stops_nothing_then_catches_up(
    slack: SlackStandIn, redis_url: str, store: Store, tmp_path: Path
) -> None:
    keys = keys_file(tmp_path / "keys.json")
    root = tmp_path / "archive"
    root.write_text("not a folder: every write of the archive fails")
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, SIGNING_KEYS_FILE=str(keys),
                  AUDIT_CHECKPOINT_INTERVAL="1s", AUDIT_ARCHIVE=root.as_uri(), AUDIT_REDIS_KEEP="1s")
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    try:
        await name_admins(worker, ALICE)
        for n in range(30):
            await store.audit.append("decision", by=BOB, approval=f"A{n}", outcome="approved")
        deadline = time.monotonic() + 30
        while (health := await _lag(worker.url))[0]["lag_entries"] < 30:  # type: ignore[operator]
            assert time.monotonic() < deadline, health
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # (so that the oldest unarchived entry is older than AUDIT_REDIS_KEEP)
        said, gauges = await _lag(worker.url)
        assert said["archived_through"] is None and float(said["lag_seconds"]) >= 1.5, said  # type: ignore[arg-type]
        assert gauges["hitl_audit_archive_lag_entries"] == said["lag_entries"]
        assert gauges["hitl_audit_archive_lag_seconds"] >= 1.5, gauges
        status = reply_text(await slack.send_command(user=ALICE, channel=SALES, text="status"))
        assert re.search(r"Audit archive: \d+ audit entries not archived yet, the oldest \d+ ?s", status), status
        not_admin = reply_text(await slack.send_command(user=BOB, channel=SALES, text="status"))
        assert "Audit archive" not in not_admin
        for n in range(30, 40):  # approvals go on
            await store.audit.append("decision", by=BOB, approval=f"A{n}", outcome="approved")
        await asyncio.sleep(2.5)  # a checkpoint writer's turn or two: it trims nothing that is not archived
        kept = [f for _, f in await store.audit.chained(count=10_000) if f.get("event") == "decision"]
        assert len(kept) == 40
        root.unlink()  # the archive is back
        deadline = time.monotonic() + 60
        while (said := (await _lag(worker.url))[0])["lag_entries"] != 0:
            assert time.monotonic() < deadline, said
            await asyncio.sleep(0.2)
        assert said["archived_through"] == await store.audit.counter()
        _, gauges = await _lag(worker.url)
        assert gauges == {"hitl_audit_archive_lag_entries": 0.0, "hitl_audit_archive_lag_seconds": 0.0}
        status = reply_text(await slack.send_command(user=ALICE, channel=SALES, text="status"))
        assert "Audit archive: up to date." in status
    finally:
        await worker.stop()
