"""The audit log's CSV (`python -m bot audit --format csv`) has a column for each field a decision entry carries:
the digests of the artefacts a reviewer edited (`edited_artifacts`, #79) and how the person decided (#80:
`delivered_at`, `opened_at`, `decided_at` to the millisecond in ISO 8601 UTC, `read_seconds`, `fast`). The decision
is made by the store's decide step against a real redis-server; the command runs in this process."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import replace

from agent_approvals.artifacts import artifact_sha256, message

from bot.core.artifact_edits import replaced
from bot.store import Store
from tests.support.cli import bot_command
from tests.support.records import approval

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OVERSIGHT = ("delivered_at", "opened_at", "decided_at")


async def test_a_reviewers_edit_and_how_they_decided_are_columns_of_the_csv(store: Store, redis_url: str) -> None:
    asked = message(["bob@example.com"], "Prices go up 5% on May 1.")
    item = {**asked, "sha256": artifact_sha256(asked)}
    made = replace(approval("a-edit-0001"), artifacts=json.dumps([item]))
    assert await store.approvals.create(made) == "ok"
    assert await store.approvals.attach_card(made.id, channel="C0APPROVALS", ts="1.0001", read_seconds=30.0) == (
        "pending")
    assert await store.oversight.opened(made.id, "U0BOB") == "ok"
    edited = replaced([item], 0, "Prices go up 4% on May 1.")
    assert (await store.approvals.decide(made.id, outcome="approved", by="U0BOB", check_auth=True,
                                         artifacts=json.dumps(edited))).status == "ok"

    env = {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "", "SLACK_API_URL": ""}
    done = await bot_command("audit", "--format", "csv", environ=env)
    assert done.returncode == 0, done.stderr
    reader = csv.DictReader(io.StringIO(done.stdout))
    assert {"edited_artifacts", *OVERSIGHT, "read_seconds", "fast"} <= set(reader.fieldnames or ())
    row = next(r for r in reader if r["event"] == "decision")
    assert row["edited_artifacts"] == edited[0]["sha256"] != item["sha256"]
    assert row["read_seconds"] == "30.0" and row["fast"] == "true"
    assert all(ISO_MILLIS.match(row[name]) for name in OVERSIGHT), row
    assert row["delivered_at"] <= row["opened_at"] <= row["decided_at"]

    lines = [json.loads(line) for line in (await bot_command("audit", environ=env)).stdout.splitlines()]
    kept = next(e for e in lines if e["event"] == "decision")  # the JSON lines keep them as stored
    assert kept["edited_artifacts"] == row["edited_artifacts"] and float(kept["decided_at"]) > 0
    decided = round(float(kept["decided_at"]) * 1000)
    assert row["decided_at"] == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(decided // 1000)) + (
        f".{decided % 1000:03d}Z")
