"""Dev mode with `--workspaces` (#65): the local Slack serves a second workspace and a Grid organisation too, and the
dev worker is given their tokens (SLACK_WORKSPACES_FILE), so it answers each with its own token and `/healthz` names
them all; the page's state lists them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.dev import DevStack
from bot.dev_slackbot import named_workspaces
from bot.devslack.model import GRID, GRID_A, OTHER_TEAM
from bot.devslack.server import SlackStandIn
from tests.support.slackbot import assert_slackbot_blocks, slackbot_env


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


EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


async def pane_call(stack: DevStack, user: str) -> dict[str, Any]:
    """The dev page's Slackbot pane: `send_email` called by `user`, as Slackbot calls the bot."""
    async with aiohttp.ClientSession() as http, http.post(stack.url + "/_control/slackbot/call", json={
            "user": user, "tool": "send_email", "arguments": EMAIL}) as answer:
        said: dict[str, Any] = await answer.json()
        return said


@pytest.mark.slow  # SLACKBOT_MCP's upstream, the test mailbox, is a process of its own
async def test_dev_makes_each_workspaces_slackbot_key_so_the_pane_works_for_its_people(
    redis_url: str, tmp_path: Path
) -> None:
    stack = DevStack(host="127.0.0.1", port=0, several_workspaces=True, environ={
        "REDIS_URL": redis_url, "PATH": os.environ.get("PATH", ""),
        **slackbot_env(tmp_path / "calls.jsonl", key="dev-agent")})
    try:
        await stack.start()
        assert stack.slackbot_keys == {OTHER_TEAM: "dev-agent-t0other", GRID: "dev-agent-e0grid"}
        for user, channel in (("U1ERIN", "C1GENERAL"), ("W0HANK", "C2APPROVALS"), ("U0ALICE", "C0APPROVALS")):
            said = await pane_call(stack, user)  # T0OTHER's person, T0GRIDB's (of E0GRID), the home workspace's
            assert said["status"] == 200 and "result" in said["answer"], (user, said)
            blocks = said["answer"]["result"]["_meta"]["slack"]["blocks"]
            assert_slackbot_blocks(blocks)
            approval_id = json.loads(blocks[-1]["elements"][0]["value"])["approval_id"]
            await stack.standin.wait_for(lambda c=channel, a=approval_id: any(  # type: ignore[misc]
                a in json.dumps(m.get("blocks") or []) for m in stack.standin.messages(c)), description=channel)
        exports = "\n".join(stack.exports())
        assert "key dev-agent-t0other, cards in C1GENERAL" in exports
        assert "key dev-agent-e0grid, cards in C2APPROVALS" in exports
    finally:
        await stack.stop()


def test_a_workspace_slackbot_mcp_names_keeps_its_key() -> None:
    given = json.dumps({"key": "dev-agent", "upstreams": [], "workspaces": {OTHER_TEAM: "mine"}})
    config, added = named_workspaces(given, [OTHER_TEAM, GRID], prefix="dev-agent")
    assert added == {GRID: "dev-agent-e0grid"}
    assert json.loads(config)["workspaces"] == {OTHER_TEAM: "mine", GRID: "dev-agent-e0grid"}
    assert named_workspaces("{not json", [GRID], prefix="dev-agent") == ("{not json", {})
