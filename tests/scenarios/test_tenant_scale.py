"""A worker's cost does not grow with the workspaces it serves (issue 78), as a user runs it: 70 workspaces installed
from a workspaces file, each served once, and the 70th still answered (a tenant holds no connection of its own); a
second worker on the same Redis starts beside the first; one decision subscription per worker whatever the number
of tenants (Redis's CLIENT LIST); which workspace holds an approval is one lookup; and a worker with 1,000
workspaces installed by OAuth (an installations store) gets ready, as a process (`python -m bot`). How soon, against
the same worker with its home workspace alone, is measured in tests/benchmarks/workspaces_ready.py (an absolute 5 s
here failed under the suite's load).

Real parts: redis-server, the workers' HTTP servers and Bolt app over signed HTTP; Slack is the stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aredis

from bot.core.workspaces import WorkspaceRef
from bot.devslack.server import SlackStandIn
from bot.server import TENANCY
from bot.slack.workspaces import RECHECK_EACH
from bot.store import Store, connect
from bot.store.due import KINDS
from bot.tenancy import Tenancy
from tests.conftest import Worker, bot_env, free_port, start_worker
from tests.support.api import Client, tool_ask
from tests.support.cluster import ROOT
from tests.support.hitl import until
from tests.support.oauth import TOKENS_KEY, oauth_env
from tests.support.workspaces import Installed, install_all, serve_many, workspaces_file

MANY = 70  # more than a worker's Redis pool holds (64): one connection per tenant would run out


async def many_worker(slack: SlackStandIn, redis_url: str, path: Path, **more: str) -> Worker:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                        SLACK_WORKSPACES_FILE=str(path), **more))
    slack.events_url = worker.url + "/slack/events"
    return worker


@pytest.fixture
async def seventy(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, list[Installed]]]:
    """A worker installed in 70 workspaces besides home (a workspaces file), none served yet."""
    installed = serve_many(slack, MANY)
    worker = await many_worker(slack, redis_url, workspaces_file(tmp_path / "workspaces.json", installed))
    yield worker, installed
    await worker.stop()


async def subscribers(redis_url: str) -> int:
    """The connections subscribed to a channel or pattern (Redis's CLIENT LIST)."""
    client = aredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return sum(1 for c in await client.client_list() if int(c.get("sub", 0)) + int(c.get("psub", 0)) > 0)
    finally:
        await client.aclose()


async def serve_each(slack: SlackStandIn, installed: list[Installed]) -> list[int]:
    """Each workspace's person opens the app's Home, one after another: the statuses of the events."""
    return [(await slack.open_home(user=i.person)).status for i in installed]


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_a_worker_serving_70_workspaces_answers_the_70th_with_one_subscription(
    slack: SlackStandIn, redis_url: str, seventy: tuple[Worker, list[Installed]]
) -> None:
    worker, installed = seventy
    statuses = await serve_each(slack, installed)
    assert statuses == [200] * MANY, statuses  # never 503 "Redis unreachable"
    tenancy: Tenancy = worker.runner.app[TENANCY]
    assert len(tenancy.built()) == MANY
    assert await subscribers(redis_url) == 1  # one decision waiter for every tenant
    # one loop of each kind of due work (bot/store/due.py KINDS: the weekly digest (#80) among them), not one a tenant;
    # a surface this worker lacks (Teams, e-mail, change tickets: not configured here) has no loop of its due set (#88)
    assert sorted(worker.services.loops) == sorted(set(KINDS) - {"teams", "email", "push", "tickets"})
    assert all(loop.kind for loop in worker.services.loops.values())


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_the_tokens_asked_again_at_idle_are_as_many_whatever_the_workspaces(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """TOKEN_CHECK_INTERVAL asks Slack again about the home token and the next RECHECK_EACH of the others in turn:
    asking every token each time cost an idle worker with 1,000 workspaces 1.7 times the CPU of one with one (the
    workspaces benchmark). Each is still asked again in its turn."""
    installed = serve_many(slack, MANY)
    worker = await many_worker(slack, redis_url, workspaces_file(tmp_path / "workspaces.json", installed),
                               TOKEN_CHECK_INTERVAL="1")
    try:
        at_start = len(slack.calls("auth.test"))

        async def rounds() -> bool:  # a few intervals gone
            return len(slack.calls("auth.test")) - at_start >= 3 * (1 + RECHECK_EACH)

        await until(rounds, what="three rounds of the tokens asked again", within=30)
        asked = slack.calls("auth.test")[at_start:]
        assert len({call.team for call in asked}) >= 2 * RECHECK_EACH  # the others in turn, not the same ones
        per_second: dict[int, int] = {}
        for call in asked:
            per_second[int(call.at)] = per_second.get(int(call.at), 0) + 1
        assert max(per_second.values()) <= 1 + RECHECK_EACH, per_second  # never all 70 at once
    finally:
        await worker.stop()


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_two_workers_with_70_workspaces_on_one_redis_both_start(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, seventy: tuple[Worker, list[Installed]]
) -> None:
    _, installed = seventy
    assert await serve_each(slack, installed) == [200] * MANY  # every tenant known: a worker before built them all
    second = await many_worker(slack, redis_url, tmp_path / "workspaces.json")
    try:
        async with aiohttp.ClientSession() as http, http.get(second.url + "/readyz") as answer:
            assert answer.status == 200, await answer.text()
        assert await subscribers(redis_url) == 2  # one each
        slack.events_url = second.url + "/slack/events"
        assert await serve_each(slack, installed[-3:]) == [200] * 3  # the second serves them too
    finally:
        await second.stop()


async def test_which_workspace_holds_a_new_approval_is_one_lookup(
    slack: SlackStandIn, redis_url: str, seventy: tuple[Worker, list[Installed]]
) -> None:
    worker, installed = seventy
    for each in installed:  # 70 tenants known (served before)
        await worker.services.store.tenants.remember(WorkspaceRef(each.team))
    last = installed[-1]
    made = await worker.services.store.api_keys.create("last", (last.channel,), by="test",
                                                        workspace=WorkspaceRef(last.team))
    assert made is not None
    status, asked = await Client(worker, made.key).ask(tool_ask(requester=last.person))
    assert status == 201, asked
    tenancy: Tenancy = worker.runner.app[TENANCY]
    approval_id = str(asked["id"])
    async with watching(redis_url, approval_id) as seen:
        parts = await tenancy.holding(approval_id)
    assert parts is not None and parts.store.keys.tenant == last.team
    # the index, then the record in the tenant it names (a walk reads it in every one of the 71 tenants)
    assert 1 <= len(seen) <= 4, seen


@contextlib.asynccontextmanager
async def watching(redis_url: str, approval_id: str) -> AsyncIterator[list[str]]:
    """The commands Redis runs meanwhile that name `approval_id` (MONITOR, until an ECHO that says the end)."""
    seen: list[str] = []
    client = aredis.Redis.from_url(redis_url, decode_responses=True)
    end = f"watched-{approval_id}"
    started = asyncio.Event()

    async def watch() -> None:
        async with client.monitor() as monitor:
            started.set()
            while True:
                command = (await monitor.next_command())["command"]
                if end in command:
                    return
                if approval_id in command:
                    seen.append(command)

    task = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.05)  # (MONITOR's OK is read before it is entered: it listens)
        yield seen
        await client.echo(end)
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        await client.aclose()


READY_WITHIN = 60.0  # seconds from the worker's first line: only a worker that never gets ready fails (how soon is
# the benchmark's: tests/benchmarks/workspaces_ready.py, against a floor measured in the same run)


@pytest.mark.slow
async def test_a_worker_with_1000_workspaces_installed_gets_ready(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """1,000 workspaces installed by OAuth, each served before (a worker built none of their parts at start: before,
    it built all of them, and ran out of Redis connections, never ready). Counted from the worker's first line (its
    modules imported: a loaded machine takes seconds to import them whatever the number of workspaces)."""
    installed = serve_many(slack, 1000)
    await install_all(redis_url, installed, tokens_key=TOKENS_KEY)
    store = Store(connect(redis_url))
    try:
        for i in installed:
            await store.tenants.remember(WorkspaceRef(i.team))
    finally:
        await store.close()
    port = free_port()
    env = {**os.environ, **oauth_env(slack, redis_url), "PORT": str(port), "LOG_LEVEL": "INFO"}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - starting a worker is instant; we then poll it
            [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        began = await first_line(log, process)
        ready = await ready_within(f"http://127.0.0.1:{port}/readyz", process,
                                   within=began + READY_WITHIN - time.time())
        assert ready, f"not ready within {READY_WITHIN:.0f} s of its first line: {head(log)}"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def first_line(log: Path, process: subprocess.Popen[bytes], *, within: float = 60.0) -> float:
    """When the worker wrote its first log line (its clock: epoch seconds), once it has."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and process.poll() is None:
        lines = head(log)
        if lines and lines[0][:4].isdigit():
            stamp, _, ms = lines[0][:23].partition(",")
            return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000
        await asyncio.sleep(0.02)
    raise AssertionError(f"the worker wrote nothing: {head(log)}")


def head(log: Path) -> list[str]:
    return log.read_text().splitlines()[:40]


async def ready_within(url: str, process: subprocess.Popen[bytes], *, within: float) -> bool:
    """Whether `url` answers 200 within `within` seconds of now (polled; the process still running)."""
    deadline = time.monotonic() + max(0.0, within)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                async with http.get(url) as answer:
                    if answer.status == 200:
                        return True
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.02)
    return False
