"""Dev mode with `--workspaces` (#65): the local Slack serves a second workspace and a Grid organisation too, and the
dev worker is given their tokens (SLACK_WORKSPACES_FILE), so it answers each with its own token and `/healthz` names
them all; the page's state lists them."""

from __future__ import annotations

import os

import aiohttp

from bot.dev import DevStack
from bot.devslack.model import GRID, GRID_A, OTHER_TEAM
from bot.devslack.server import SlackStandIn


async def test_dev_serves_several_workspaces_and_its_worker_knows_each(redis_url: str) -> None:
    stack = DevStack(host="127.0.0.1", port=0, several_workspaces=True,
                     environ={"REDIS_URL": redis_url, "PATH": os.environ.get("PATH", "")})
    try:
        await stack.start()
        async with aiohttp.ClientSession() as http:
            async with http.get(stack.bot_url + "/healthz") as answer:
                health = await answer.json()
            async with http.get(stack.url + "/_control/state") as answer:
                state = await answer.json()
        assert health["status"] == "ok"
        assert [(w["id"], w["slack"]) for w in health["workspaces"]] == [
            ("T0DEV", "ok"), (OTHER_TEAM, "ok"), (GRID, "ok")
        ]
        assert [(w["id"], w["installed"]) for w in state["workspaces"]] == [
            ("T0DEV", "team"), (OTHER_TEAM, "team"), (GRID_A, "organisation"), ("T0GRIDB", "organisation")
        ]
        assert any(line.startswith("# workspaces (--workspaces): T0DEV") for line in stack.exports())
        assert not any(token in "\n".join(stack.exports()) for token in stack.more_tokens.values())
    finally:
        await stack.stop()


def test_without_the_flag_dev_serves_one_workspace_as_before() -> None:
    stack = DevStack(host="127.0.0.1", port=0, environ={"PATH": ""})
    assert [t.id for t in stack.standin.teams()] == ["T0DEV"] and stack.more_tokens == {}
    assert not any("workspaces" in line for line in stack.workspace_lines())
    assert isinstance(stack.standin, SlackStandIn)
