"""An agent killed mid long-poll in dev mode (#46): normal, so one line and no traceback. A real program
long-polls through the page's port (the stand-in forwards /api/v1 to the worker) and is killed with SIGKILL while
it waits; the worker's long-poll is let go at once, and the log has the one line and no traceback."""

from __future__ import annotations

import asyncio
import logging
import sys

import aiohttp
import pytest

from bot.dev import DevStack
from tests.support.hitl import until

pytestmark = pytest.mark.slow  # `python -m bot dev` and an agent as processes

WAITER = r"""
import sys, httpx
url, key = sys.argv[1], sys.argv[2]
headers = {"Authorization": f"Bearer {key}"}
asked = httpx.post(url + "/api/v1/approvals", headers=headers, json={"kind": "message", "title": "Killed",
                   "text": "an agent that dies while it waits"})
print(asked.json()["id"], flush=True)
httpx.get(url + f"/api/v1/approvals/{asked.json()['id']}?wait=60", headers=headers, timeout=90)
"""


async def long_polls(stack: DevStack) -> int:
    async with aiohttp.ClientSession() as http, http.get(stack.bot_url + "/healthz") as health:
        return int((await health.json())["api_long_polls"])


async def test_an_agent_killed_mid_long_poll_is_one_line_and_no_traceback(
    stack: DevStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WAITER, stack.url, stack.api_key, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert agent.stdout is not None
        approval = (await asyncio.wait_for(agent.stdout.readline(), 60)).decode().strip()
        assert approval.startswith("a-"), approval
        await until(lambda: long_polls(stack), within=20, what="the agent's long-poll held by the worker")
    finally:
        if agent.returncode is None:
            agent.kill()
        await agent.wait()
    hung_up = f"API request GET /api/v1/approvals/{approval}: the client hung up (key dev-agent)"
    await until(lambda: hung_up in caplog.text, within=20, what="the worker's line about the hang-up")
    assert await long_polls(stack) == 0  # let go at once, not at the end of its 60 s
    assert [r.getMessage() for r in caplog.records if "hung up" in r.getMessage() and r.levelno >= logging.INFO] == [
        hung_up
    ]
    troubles = [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
    assert troubles == [], [(r.name, r.getMessage()) for r in troubles]
    assert "Traceback" not in caplog.text
