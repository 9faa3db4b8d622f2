"""A rolling upgrade (docs/operators/upgrades.md), tested as a deploy does it: a worker of the previous version (the
pinned commit `PREVIOUS_COMMIT` of tests/support/previous.py, extracted with `git archive` and run as `python -m bot`
in a process of its own) and a worker of this commit serve ONE Redis side by side. Approvals asked through one are
clicked on the other (Slack's requests reach either) and answered on either, both ways; each says its version, the
old one none; the new one upgrades the Redis's stored format (`{p}:format`, none from the old one) in place, and the
old one serves on."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

import bot
from bot.devslack.server import SlackStandIn
from bot.store.stored_format import ONE_TAG
from tests.conftest import BOB, Worker, bot_env, free_port, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import click, nth_card, until
from tests.support.previous import previous_tree

pytestmark = pytest.mark.slow  # the previous version's worker is a process of its own

START_WITHIN = 60.0


@pytest.fixture
async def old_worker(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """`python -m bot` of the previous commit, its own process, on the tests' Redis and Slack."""
    tree = previous_tree(tmp_path / "previous")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": f"{tree}:{tree / 'agents'}",
           **bot_env(slack=slack, redis_url=redis_url, model_config=None), "PORT": str(port), "LOG_LEVEL": "WARNING"}
    log = (tmp_path / "previous.log").open("wb")
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", cwd=tree, env=env, stdout=log,
                                                   stderr=log)
    url = f"http://127.0.0.1:{port}"

    async def alive() -> bool:
        assert process.returncode is None, (tmp_path / "previous.log").read_text()[-3000:]
        try:
            async with aiohttp.ClientSession() as http, http.get(url + "/livez") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await until(alive, within=START_WITHIN, what="the previous version's worker answers /livez")
        yield Worker(url=url, runner=None, services=None)  # type: ignore[arg-type]  # only its HTTP is used
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def stored_format(redis_url: str) -> str | None:
    """The Redis-wide stored format (`{p}:format`), None when no worker wrote one."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        return await redis.hget("hitl:format", "format")  # type: ignore[no-any-return,misc]
    finally:
        await redis.aclose()


async def health(worker: Worker) -> tuple[dict[str, Any], dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        return await response.json(), dict(response.headers)


async def test_a_worker_of_the_previous_commit_and_one_of_this_commit_serve_one_redis(
    old_worker: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    assert await stored_format(redis_url) is None  # the previous commit's worker knows no stored format
    new = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    try:
        assert await stored_format(redis_url) == str(ONE_TAG)  # upgraded in place beside the old worker
        said, headers = await health(new)
        assert said["version"] == bot.__version__ and headers["X-Bot-Version"] == bot.__version__
        said, headers = await health(old_worker)
        assert "version" not in said and "X-Bot-Version" not in headers  # really the previous code
        key = (await new_key(new)).key
        old, upgraded = Client(old_worker, key), Client(new, key)

        # asked on the old worker, clicked on the new one, answered on both
        slack.events_url = new.url + "/slack/events"
        status, first = await old.ask(tool_ask())
        assert status == 201, first
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        assert (await old.wait(first["id"]))["status"] == "approved"
        assert (await upgraded.wait(first["id"], wait=0))["status"] == "approved"

        # asked on the new worker, clicked on the old one, answered on both
        slack.events_url = old_worker.url + "/slack/events"
        status, second = await upgraded.ask(tool_ask())
        assert status == 201, second
        await click(slack, await nth_card(slack, 2), "approval_approve", user=BOB)
        assert (await upgraded.wait(second["id"]))["status"] == "approved"
        assert (await old.wait(second["id"], wait=0))["status"] == "approved"

        # one waits on the old worker while the new one decides it (a long poll across versions)
        status, third = await old.ask(tool_ask())
        assert status == 201, third
        card = await nth_card(slack, 3)
        slack.events_url = new.url + "/slack/events"
        await click(slack, card, "approval_approve", user=BOB)
        answered = await old.wait(third["id"])
        assert answered["status"] == "approved" and answered["decided_by"] == BOB, answered
    finally:
        await new.stop()
