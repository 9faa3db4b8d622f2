"""`python -m bot devslack`: the local Slack alone, for staging (bot/devslack/alone.py), tested as an operator uses
it: started as its own process, its printed SLACK_API_URL, SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET given to a
worker of its own process (`python -m bot`) on the tests' Redis; the worker is ready (its `auth.test` answered with
that token), a command typed on the local Slack reaches it signed with that secret, and an API ask posts its card
there."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devslack.alone import origin_of
from bot.store import Store
from tests.conftest import ALICE, APPROVALS, SALES, free_port
from tests.support.hitl import until
from tests.support.source import ROOT

pytestmark = pytest.mark.slow  # the local Slack and the worker are processes of their own

PRINTED_WITHIN = 30.0


async def printed(process: asyncio.subprocess.Process, *, until_line: str) -> dict[str, str]:
    """The `export NAME=value` lines the process prints, read until one starts with `until_line`."""
    assert process.stdout is not None
    said: dict[str, str] = {}
    async with asyncio.timeout(PRINTED_WITHIN):
        while True:
            line = (await process.stdout.readline()).decode()
            assert line, f"the process ended (exit {await process.wait()}) before printing {until_line}"
            if line.startswith("Local Slack (alone): "):
                said["url"] = line.split()[3]
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                said[name] = value
            if line.startswith(until_line):
                return said


async def ended(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
    async with asyncio.timeout(30):
        await process.wait()


@pytest.fixture
async def processes() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    started: list[asyncio.subprocess.Process] = []
    yield started
    for process in started:
        await ended(process)


def environment(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": f"{ROOT}:{ROOT / 'agents'}", **extra}


async def answer(url: str, *, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.request(method, url, json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_a_worker_pointed_at_the_local_slack_alone(
    processes: list[asyncio.subprocess.Process], store: Store, redis_url: str, tmp_path: Path
) -> None:
    worker_port = free_port()
    events_url = f"http://127.0.0.1:{worker_port}/slack/events"
    alone = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "devslack", "--port", "0", "--events-url", events_url,
        env=environment(), stdout=asyncio.subprocess.PIPE)
    processes.append(alone)
    said = await printed(alone, until_line="export SLACK_SIGNING_SECRET=")
    assert said["SLACK_API_URL"] == said["url"] + "/api/" and said["SLACK_BOT_TOKEN"].startswith("xoxb-")
    assert len(said["SLACK_SIGNING_SECRET"]) >= 32

    log = (tmp_path / "worker.log").open("wb")
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=environment(
            SLACK_API_URL=said["SLACK_API_URL"], SLACK_BOT_TOKEN=said["SLACK_BOT_TOKEN"],
            SLACK_SIGNING_SECRET=said["SLACK_SIGNING_SECRET"], REDIS_URL=redis_url, APPROVALS_CHANNEL=APPROVALS,
            PORT=str(worker_port), LOG_LEVEL="WARNING"), stdout=log, stderr=log)
    processes.append(worker)
    worker_url = origin_of(events_url)

    async def ready() -> bool:
        assert worker.returncode is None, (tmp_path / "worker.log").read_text()[-3000:]
        try:
            status, ready = await answer(worker_url + "/readyz")
            return status == 200 and ready["workspace"] == "ok"  # auth.test answered with the printed token
        except aiohttp.ClientError:
            return False

    await until(ready, within=60, what="the worker pointed at the local Slack is ready")
    status, result = await answer(said["url"] + "/_control/command", method="POST",
                                  body={"user": ALICE, "channel": SALES, "text": "help"})
    assert status == 200 and result["status"] == 200, result  # the worker checked the printed signing secret
    made = await store.api_keys.create("staging", (SALES,), by="test")
    assert made is not None
    async with aiohttp.ClientSession() as http, http.post(
        said["url"] + "/api/v1/approvals", headers={"Authorization": f"Bearer {made.key}"},
        json={"kind": "tool", "title": "Tell Bob about the prices", "requester": ALICE,
              "tool": {"name": "send_email", "arguments": {"to": "bob@example.com"}}},
    ) as response:  # through the local Slack's /api/v1, forwarded to the worker
        assert response.status == 201, await response.text()

    async def card() -> bool:
        _, state = await answer(said["url"] + "/_control/state")
        return any("Tell Bob" in str(m) for m in state["messages"].get(APPROVALS, []))

    await until(card, within=20, what="the card posted on the local Slack")
    await ended(alone)
    assert alone.returncode == 0
