"""What `python -m bot audit` and `python -m bot report` say (#35): names next to ids (asked of Slack with the bot
token; ids alone offline), CSV times in ISO 8601 UTC (the JSON lines keep `at` in epoch seconds and add `at_utc`),
a closed pipe left quietly, and one set of `--since` forms. Real redis-server, the commands in this process
(`tests/support/cli.py`; a real process behind a shell's pipe for the closed pipe), the Slack stand-in for
users.info."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOT_TOKEN, SALES
from tests.support.cli import Ran, bot_command

ROOT = Path(__file__).resolve().parents[2]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def run(*args: str, env: dict[str, str]) -> Ran:
    """`python -m bot *args` with `env` as its whole environment (in this process)."""
    return await bot_command(*args, environ=env)


async def shell(command: str, *, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, ["sh", "-c", command], env={**os.environ, **env}, cwd=ROOT,
                                   capture_output=True, text=True, timeout=120, check=False)


def offline(redis_url: str) -> dict[str, str]:
    """REDIS_URL only: no bot token, so nobody is asked for names."""
    return {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "", "SLACK_API_URL": ""}


async def a_decision(store: Store) -> float:
    at = time.time() - 60
    await store.audit.append("requested", approval="a-names1", origin_channel=SALES, kind="tool_call", tool="send")
    await store.audit.append("decision", approval="a-names1", outcome="approved", by="U0BOB", latency_ms=1500,
                             origin_channel=SALES, at=at)
    await store.audit.append("escalated", approval="a-names1", to="U0ALICE,U0NOBODY", origin_channel=SALES)
    return at


async def test_csv_has_iso_times_and_names_from_slack(store: Store, redis_url: str, slack: SlackStandIn) -> None:
    at = await a_decision(store)
    env = {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}
    done = await run("audit", "--format", "csv", env=env)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    decision = next(r for r in rows if r["event"] == "decision")
    assert decision["at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    assert all(ISO.match(r["at"]) for r in rows), rows
    assert decision["by"] == "U0BOB" and decision["by_name"] == "bob"
    escalated = next(r for r in rows if r["event"] == "escalated")
    assert escalated["to"] == "U0ALICE,U0NOBODY" and escalated["to_names"] == "alice,U0NOBODY"  # unknown: its id

    lines = [json.loads(line) for line in (await run("audit", env=env)).stdout.splitlines()]
    decided = next(e for e in lines if e["event"] == "decision")
    assert float(decided["at"]) == at and decided["at_utc"] == decision["at"] and decided["by_name"] == "bob"


async def test_offline_the_ids_alone(store: Store, redis_url: str) -> None:
    await a_decision(store)
    done = await run("audit", "--format", "csv", env=offline(redis_url))
    assert done.returncode == 0 and not done.stderr, done.stderr
    decision = next(r for r in csv.DictReader(io.StringIO(done.stdout)) if r["event"] == "decision")
    assert decision["by"] == "U0BOB" and decision["by_name"] == ""


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_the_report_names_people(store: Store, redis_url: str, slack: SlackStandIn, tmp_path: Path) -> None:
    await a_decision(store)
    out = tmp_path / "report.html"
    env = {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}
    done = await run("report", "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert "bob (U0BOB)" in out.read_text()
    done = await run("report", "--out", str(out), env=offline(redis_url))
    assert done.returncode == 0 and "bob (U0BOB)" not in out.read_text() and "U0BOB" in out.read_text()


@pytest.mark.slow
async def test_a_closed_pipe_is_left_quietly(store: Store, redis_url: str) -> None:
    await store.audit.append("decision", approval="a-x", outcome="approved", by="U0BOB", origin_channel=SALES)
    for _ in range(3):  # enough lines to outgrow the pipe's buffer once `head` has gone
        await asyncio.gather(*(store.audit.append("note", reason="x" * 200, origin_channel=SALES)
                               for _ in range(1000)))
    done = await shell(f"{sys.executable} -m bot audit | head -1", env=offline(redis_url))
    assert done.stdout.startswith("{") and not done.stderr, done.stderr
    done = await shell(f"{sys.executable} -m bot audit --format csv | head -1 >/dev/null", env=offline(redis_url))
    assert not done.stderr, done.stderr  # (nothing about Redis, no traceback)


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_since_says_the_same_forms_it_accepts(store: Store, redis_url: str, tmp_path: Path) -> None:
    await a_decision(store)  # an audit log to read (without one, the report says so and fails)
    said = []
    for command in (["audit"], ["report", "--out", str(tmp_path / "r.html")]):
        done = await run(*command, "--since", "5y", env=offline(redis_url))
        assert done.returncode == 2
        said.append(done.stderr.strip())
        assert (await run(*command, "--since", "400d", env=offline(redis_url))).returncode == 0  # as the words say
    assert said[0] == said[1] and "3650 days" in said[0], said
