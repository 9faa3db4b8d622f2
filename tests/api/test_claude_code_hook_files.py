"""The files the bot's Claude Code HTTP hook reads (CLAUDE_CODE_FILES) can never hang a worker (#87): a FIFO (or a
device) under them is refused at once, never opened to wait on, and each hook call naming it is answered promptly,
its card saying why no change is shown; the worker goes on serving everyone else, and its /readyz says so truly. As
the hostile tester did it: a `python -m bot` process, the hook called over HTTP."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOB, SALES, block_texts
from tests.support.api import Client, tool_ask
from tests.support.cluster import Cluster
from tests.support.hitl import nth_card

PATH = "/api/v1/hooks/claude-code?wait=0.5"
CALLS = 10  # the pool of a 2-core machine's default executor is 6 threads: more than it holds


def edit_of(path: Path, session: str) -> dict[str, Any]:
    return {"session_id": session, "cwd": str(path.parent), "hook_event_name": "PreToolUse", "tool_name": "Edit",
            "tool_input": {"file_path": str(path), "old_string": "May", "new_string": "June"}}


@pytest.mark.slow
async def test_a_fifo_under_claude_code_files_is_refused_at_once_and_the_worker_serves_on(
    cluster: Cluster, slack: SlackStandIn, store: Store, tmp_path: Path
) -> None:
    project = tmp_path / "shop-api"
    project.mkdir()
    os.mkfifo(project / "notes.txt")  # no writer, ever: a read of it waits for ever
    worker = await cluster.start(CLAUDE_CODE_FILES=str(project))
    coder, emailer = [await store.api_keys.create(name, [SALES], by=BOB) for name in ("coder", "emailer")]
    assert coder is not None and emailer is not None

    async def hook(n: int) -> tuple[int, dict[str, Any], dict[str, str]]:
        return await asyncio.wait_for(Client(worker, coder.key).call(
            "POST", PATH, body=edit_of(project / "notes.txt", f"s-fifo-{n}")), 20)

    for status, body, _ in await asyncio.gather(*(hook(n) for n in range(CALLS))):
        assert status == 200 and body["hookSpecificOutput"]["permissionDecision"] == "deny", body
    card = await nth_card(slack, CALLS)
    assert ("Claude Code: Edit in shop-api: notes.txt cannot be read (not a regular file: a FIFO)"
            in block_texts(card))
    status, asked = await asyncio.wait_for(Client(worker, emailer.key).ask(tool_ask()), 20)  # another key's ask
    assert status == 201, asked
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/readyz",
                                                          timeout=aiohttp.ClientTimeout(total=10)) as ready:
        assert ready.status == 200, await ready.text()
    for status, body, _ in await asyncio.gather(*(hook(n) for n in range(CALLS))):  # and again: nothing left held
        assert status == 200 and body["hookSpecificOutput"]["permissionDecision"] == "deny", body
