"""A freeze asked while a freeze drill holds its scope stands after the drill (#87.8), and one drill runs at a time
(#87.10): a real `python -m bot freeze drill` process holds `all`; a real freeze from the CLI (a process of its own)
and a signed `/agent freeze all` to a real worker are each told the drill holds it (until when) and that a freeze
stands after it; once the drill ends, `all` is still frozen and a new API ask is refused as frozen. A second drill
process while the first runs is refused, naming it. A real Redis, real processes."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.operators import operator_of
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import ALICE, BOB, Worker, bot_env, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import command, until

pytestmark = pytest.mark.slow  # drills and freezes as processes of their own

ROOT = Path(__file__).resolve().parents[2]
BY = operator_of().by  # who a command run here is audited as (`cli:<OS user>@<host>`; `--as` is a claim beside it)
HOLD = "40s"  # the drill's hold: long enough for a freeze process to start and freeze meanwhile on a loaded CI machine
# (15 s was not: a `python -m bot freeze` started 15 s late there, and the drill had ended)


@pytest.fixture
async def admins(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    """A worker (no model) whose ADMIN_USERS are Alice and Bob."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                        ADMIN_USERS=f"{ALICE},{BOB}"))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


async def bot_process(redis_url: str, *args: str) -> asyncio.subprocess.Process:
    """`python -m bot *args` as an operator runs it: a process of its own."""
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'agents'}"}
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def ran(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def drill_holding(store: Store, redis_url: str, scope: list[str]) -> asyncio.subprocess.Process:
    """A drill process of `scope`, once its hold is on."""
    process = await bot_process(redis_url, "freeze", "drill", "--scope", *scope, "--hold", HOLD, "--as", "drill-ops")

    async def held() -> bool:
        found = (await store.freezes.all()).get("all" if scope == ["all"] else ":".join(scope))
        return found is not None and found.reason.startswith("freeze drill ")

    await until(held, within=60, what="the drill's hold")
    return process


async def log(store: Store, *events: str) -> list[dict[str, str]]:
    return [entry async for entry in store.audit.export(since=0) if entry.get("event") in events]


async def test_a_freeze_from_the_cli_or_slack_during_a_drill_stands_after_it(
    slack: SlackStandIn, admins: Worker, redis_url: str
) -> None:
    store = admins.services.store
    client = Client(admins, (await new_key(admins, "nightly")).key)
    drill = await drill_holding(store, redis_url, ["all"])

    code, out, err = await ran(await bot_process(redis_url, "freeze", "all", "--reason", "incident 9", "--as", "ops"))
    assert code == 0, err
    assert "a freeze drill holds all until" in out and "UTC; your freeze is recorded" in out, out
    assert "will stand after the drill" in out, out
    said = await command(slack, "freeze all agent loops", user=ALICE)  # a real freeze is recorded already
    assert "is frozen already: A freeze drill holds everything (all) until" in said, said
    assert f"a freeze by {BY} stands after it. Nothing changed." in said, said

    code, out, err = await ran(drill)  # the drill's end lifts only its own hold
    assert code == 0, (out, err)
    assert f"not measured: all stays frozen, by {BY}" in out, out
    held = (await store.freezes.all())["all"]
    assert (held.by, held.reason) == (BY, "incident 9"), held
    _, answer = await client.ask(tool_ask(title="after the drill"))
    assert answer["status"] == "rejected" and answer["code"] == "frozen", answer
    assert answer["refusal"] == f"Not run: frozen: incident 9 (scope all, by {BY})", answer

    frozen = await log(store, "frozen")  # the audit log says what happened, no `unfrozen` of `all`
    assert [(e["claimed"], bool(e.get("during_drill"))) for e in frozen] == [("drill-ops", False), ("ops", True)]
    [ended] = await log(store, "drill_ended")
    assert ended["frozen_by"] == BY and ended["still"] == "frozen" and ended["drill"] == frozen[0]["drill"]
    assert await log(store, "unfrozen") == []
    [drilled] = await log(store, "freeze_drill")
    assert drilled["refused_during"] == "true" and drilled["unfreeze_seconds"] == "" and drilled["frozen_by"] == BY


async def test_a_freeze_from_slack_during_a_drill_is_told_so_and_stands(
    slack: SlackStandIn, admins: Worker, redis_url: str
) -> None:
    store = admins.services.store
    client = Client(admins, (await new_key(admins, "nightly")).key)
    drill = await drill_holding(store, redis_url, ["all"])
    said = await command(slack, "freeze all agent loops", user=ALICE)
    assert "A freeze drill holds everything (all) until" in said, said
    assert "your freeze is recorded and will stand after the drill" in said, said
    code, out, err = await ran(drill)
    assert code == 0 and f"stays frozen, by {ALICE}" in out, (out, err)
    _, answer = await client.ask(tool_ask(title="after the drill"))
    assert answer["status"] == "rejected" and answer["code"] == "frozen", answer
    assert f"agent loops (scope all, by {ALICE})" in answer["refusal"], answer


async def test_a_second_drill_while_one_runs_is_refused_naming_it(admins: Worker, redis_url: str) -> None:
    store = admins.services.store
    first = await drill_holding(store, redis_url, ["key", "nightly"])
    [running] = [held.reason.removeprefix("freeze drill ") for held in (await store.freezes.all()).values()]
    code, out, err = await ran(await bot_process(redis_url, "freeze", "drill", "--scope", "all"))
    assert code == 1, (out, err)
    assert f"freeze drill {running} of key:nightly (by {BY}, since" in err, err
    assert "is running: one drill at a time. Nothing changed" in err, err
    assert "key:nightly" in await store.freezes.all()  # the running drill's hold untouched
    code, out, err = await ran(first)  # and the first ends as it should: its unfreeze measured
    assert code == 0 and "unfreeze: " in out and "never" not in out, (out, err)
    assert not await store.freezes.all()
    [drilled] = await log(store, "freeze_drill")
    assert drilled["drill"] == running and drilled["unfreeze_seconds"] and drilled["ended"] == "unfrozen"
