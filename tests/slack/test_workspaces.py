"""`Workspaces` (#65): the one place that gives the Slack client for a workspace and Bolt's `authorize`, over
SLACK_BOT_TOKEN (home), SLACK_WORKSPACES_FILE and (tests/slackapp/test_oauth.py) OAuth installs; one client per
workspace with its own retries, so one workspace's 429s never hold another's calls. Against the local Slack serving
a second plain workspace and a Grid organisation (org-wide token)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.core.metrics import Metrics
from bot.core.settings import Settings, SettingsError
from bot.core.workspace_files import StaticWorkspace
from bot.devslack.model import GRID, GRID_A, GRID_B, GRID_TOKEN, OTHER_TEAM, OTHER_TOKEN
from bot.devslack.server import SlackStandIn
from bot.slack.client import create_slack_client, create_workspace_client
from bot.slack.workspaces import NotInstalled, Workspace, Workspaces
from tests.conftest import BOT_TOKEN, bot_env


@pytest.fixture
async def several(slack: SlackStandIn) -> AsyncIterator[Workspaces]:
    """The home workspace (SLACK_BOT_TOKEN), the other plain one and the Grid organisation (as a static file)."""
    slack.several_workspaces()
    settings = Settings.from_env(bot_env(slack=slack, redis_url="redis://127.0.0.1:1/0", model_config=None))
    metrics = Metrics()
    home = Workspace(create_slack_client(settings, metrics), bot_token=settings.slack_bot_token)
    static = [StaticWorkspace(team=OTHER_TEAM, enterprise=None, bot_token=SecretStr(OTHER_TOKEN)),
              StaticWorkspace(team=None, enterprise=GRID, bot_token=SecretStr(GRID_TOKEN))]
    made = Workspaces(home, make_client=lambda token: create_workspace_client(settings, metrics, token=token),
                      static=static)
    await made.ask_all()
    yield made


async def test_each_workspace_has_its_client_and_the_org_one_serves_both_of_its_workspaces(
    slack: SlackStandIn, several: Workspaces
) -> None:
    home, other = await several.for_team("T0DEV"), await several.for_team(OTHER_TEAM)
    grid_a, grid_b = await several.for_team(GRID_A, GRID), await several.for_team(GRID_B, GRID)
    assert home is several.home.client and other is not home and grid_a is grid_b
    await home.chat_postMessage(channel="C0APPROVALS", text="home")
    await other.chat_postMessage(channel="C1APPROVALS", text="other")
    await grid_a.chat_postMessage(channel="C2APPROVALS", text="grid a")
    await grid_b.chat_postMessage(channel="C3OPS", text="grid b")
    assert [c.team for c in slack.calls("chat.postMessage")] == ["T0DEV", OTHER_TEAM, GRID_A, GRID_B]
    with pytest.raises(NotInstalled, match="not installed in workspace T0NOPE"):
        await several.for_team("T0NOPE")
    with pytest.raises(NotInstalled):
        await several.for_team("T0GRIDX", "E0ELSE")  # another organisation


async def test_authorize_gives_each_installation_its_token_and_refuses_the_rest(several: Workspaces) -> None:
    home = await several.authorize(enterprise_id=None, team_id="T0DEV")
    assert home is not None and home.bot_token == BOT_TOKEN
    other = await several.authorize(enterprise_id=None, team_id=OTHER_TEAM)
    assert other is not None
    assert (other.bot_token, other.team_id, other.bot_user_id) == (OTHER_TOKEN, OTHER_TEAM, "U1BOT")
    grid = await several.authorize(enterprise_id=GRID, team_id=GRID_B)
    assert grid is not None and (grid.bot_token, grid.enterprise_id) == (GRID_TOKEN, GRID)
    assert await several.authorize(enterprise_id=None, team_id="T0NOPE") is None
    assert await several.foreign_request(enterprise_id=None, team_id="T0NOPE") is not None
    assert await several.foreign_request(enterprise_id=GRID, team_id=GRID_A) is None
    assert [(w["id"], w["source"], w["slack"]) for w in await several.listing()] == [
        ("T0DEV", "SLACK_BOT_TOKEN", "ok"), (OTHER_TEAM, "SLACK_WORKSPACES_FILE", "ok"),
        (GRID, "SLACK_WORKSPACES_FILE", "ok"),
    ]


async def test_one_workspace_rate_limited_never_holds_another(slack: SlackStandIn, several: Workspaces) -> None:
    slack.limit("chat.postMessage", 1, 60, team=OTHER_TEAM)  # Slack's 429 with Retry-After: about a minute
    other, grid = await several.for_team(OTHER_TEAM), await several.for_team(GRID_A, GRID)
    await other.chat_postMessage(channel="C1GENERAL", text="first")
    paused = asyncio.create_task(other.chat_postMessage(channel="C1GENERAL", text="second"))
    await slack.wait_for(lambda: any(not c.ok for c in slack.calls("chat.postMessage")))  # 429: sleeping it out
    for n in range(20):  # the organisation's cards go on, each answered at once, while the other's call waits
        await grid.chat_postMessage(channel="C2APPROVALS", text=f"card {n}")
    assert not paused.done()
    assert len(slack.messages("C2APPROVALS")) == 20
    paused.cancel()
    with pytest.raises(asyncio.CancelledError):
        await paused


async def test_the_workspaces_file_reads_tokens_from_variables(slack: SlackStandIn, tmp_path: Path) -> None:
    listed = tmp_path / "workspaces.json"
    listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": "env:OTHER_BOT_TOKEN"},
                                  {"enterprise": GRID, "bot_token": GRID_TOKEN}]))
    env = bot_env(slack=slack, redis_url="redis://127.0.0.1:1/0", model_config=None,
                  SLACK_WORKSPACES_FILE=str(listed), OTHER_BOT_TOKEN=OTHER_TOKEN)
    read = Settings.from_env(env).static_workspaces
    assert [(w.key, w.bot_token.get_secret_value()) for w in read] == [(OTHER_TEAM, OTHER_TOKEN), (GRID, GRID_TOKEN)]
    bad = {
        "env:UNSET_VAR": "names the variable 'UNSET_VAR', which is not set",
        "": "bot_token is missing",
    }
    for token, said in bad.items():
        listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": token}]))
        with pytest.raises(SettingsError, match=said):
            Settings.from_env(env)
    listed.write_text(json.dumps([{"team": "general", "bot_token": "xoxb-secret-value"}]))
    with pytest.raises(SettingsError, match="entry 1: team must be a team id") as refused:
        Settings.from_env(env)
    assert "xoxb-secret-value" not in str(refused.value)
    listed.write_text("[" * 100_000)
    with pytest.raises(SettingsError, match="cannot be read as JSON"):
        Settings.from_env(env)
