"""The stand-in serving several workspaces (#65): two plain workspaces and a Grid organisation with two, each
with its people, channels, user groups and tokens; the org token valid across its organisation; rate limits per
workspace; payloads that say the workspace; Slack's OAuth v2 (code, rotation) and uninstalling."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.devslack.model import GRID, GRID_A, GRID_B, GRID_TOKEN, OTHER_TEAM, OTHER_TOKEN
from bot.devslack.server import SlackStandIn
from tests.support.receiver import TOKEN, Receiver


def client_of(standin: SlackStandIn, token: str) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=standin.api_url)


async def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


async def test_each_token_is_its_workspace_and_the_org_token_its_organisation(standin: SlackStandIn) -> None:
    standin.several_workspaces()
    home = await client_of(standin, TOKEN).auth_test()
    assert (home["team_id"], home["is_enterprise_install"]) == ("T0DEV", False)
    assert "enterprise_id" not in home.data  # type: ignore[operator]
    other = await client_of(standin, OTHER_TOKEN).auth_test()
    assert (other["team_id"], other["user_id"], other["is_enterprise_install"]) == (OTHER_TEAM, "U1BOT", False)
    org = await client_of(standin, GRID_TOKEN).auth_test()
    assert (org["team_id"], org["enterprise_id"], org["is_enterprise_install"]) == (GRID, GRID, True)


async def test_a_token_sees_only_its_own_workspaces(standin: SlackStandIn) -> None:
    standin.several_workspaces()
    other, org, home = client_of(standin, OTHER_TOKEN), client_of(standin, GRID_TOKEN), client_of(standin, TOKEN)
    assert await error_of(other.chat_postMessage(channel="C0APPROVALS", text="x")) == "channel_not_found"
    assert await error_of(home.chat_postMessage(channel="C1APPROVALS", text="x")) == "channel_not_found"
    assert await error_of(other.users_info(user="U0ALICE")) == "user_not_found"
    assert await error_of(home.users_info(user="W0GINA")) == "user_not_found"
    await other.chat_postMessage(channel="C1APPROVALS", text="in other")
    for channel in ("C2APPROVALS", "C3OPS"):  # the org token posts in both workspaces of its organisation
        await org.chat_postMessage(channel=channel, text="in grid")
    hank = await org.users_info(user="W0HANK")
    assert (hank["user"]["team_id"], hank["user"]["is_stranger"]) == (GRID_B, False)
    assert [c.team for c in standin.calls("chat.postMessage") if c.ok] == [OTHER_TEAM, GRID_A, GRID_B]
    assert [m["text"] for m in standin.messages("C1APPROVALS")] == ["in other"]


async def test_an_org_token_names_the_workspace_where_slack_needs_it(standin: SlackStandIn) -> None:
    standin.several_workspaces()
    org = client_of(standin, GRID_TOKEN)
    assert await error_of(org.usergroups_users_list(usergroup="S2APPROVERS")) == "missing_argument"
    assert await error_of(org.usergroups_users_list(usergroup="S2APPROVERS", team_id=OTHER_TEAM)) == "team_not_found"
    listed = await org.usergroups_users_list(usergroup="S2APPROVERS", team_id=GRID_A)
    assert listed["users"] == ["W0GINA", "W0HANK"]
    other = client_of(standin, OTHER_TOKEN)
    assert await error_of(other.usergroups_users_list(usergroup="S2APPROVERS")) == "no_such_subteam"
    assert (await other.usergroups_users_list(usergroup="S1APPROVERS"))["users"] == ["U1DAN"]
    # a group is read in its own workspace: named with the org's other one, Slack does not find it
    assert await error_of(org.usergroups_users_list(usergroup="S3REVIEWERS", team_id=GRID_A)) == "no_such_subteam"
    assert (await org.usergroups_users_list(usergroup="S3REVIEWERS", team_id=GRID_B))["users"] == ["W0GINA"]
    assert [t["id"] for t in (await org.auth_teams_list())["teams"]] == [GRID_A, GRID_B]
    assert await error_of(org.usergroups_list()) == "missing_argument"
    assert [g["id"] for g in (await org.usergroups_list(team_id=GRID_B))["usergroups"]] == ["S3REVIEWERS"]
    assert [g["id"] for g in (await other.usergroups_list())["usergroups"]] == ["S1APPROVERS"]


async def test_rate_limits_are_per_workspace(standin: SlackStandIn) -> None:
    standin.several_workspaces()
    standin.limit("chat.postMessage", 1, 60, team=OTHER_TEAM)
    other = AsyncWebClient(token=OTHER_TOKEN, base_url=standin.api_url, retry_handlers=[])
    home = client_of(standin, TOKEN)
    await other.chat_postMessage(channel="C1GENERAL", text="one")
    assert await error_of(other.chat_postMessage(channel="C1GENERAL", text="two")) == "ratelimited"
    for n in range(5):  # the default workspace's calls are not counted against the other's
        await home.chat_postMessage(channel="C0GENERAL", text=f"home {n}")
    refused = [c for c in standin.calls("chat.postMessage") if not c.ok]
    assert [c.team for c in refused] == [OTHER_TEAM]


async def test_payloads_say_the_workspace_acted_in(standin: SlackStandIn, bot: Receiver) -> None:
    standin.several_workspaces()
    await standin.send_command(user="U1DAN", channel="C1GENERAL", text="hello")
    await standin.send_command(user="W0HANK", channel="C2APPROVALS", text="hello")  # B's person in A's channel
    await standin.send_command(user="U0ALICE", channel="C0GENERAL", text="hello")
    dan, hank, alice = bot.received
    assert (dan["team_id"], "enterprise_id" in dan) == (OTHER_TEAM, False)
    assert (hank["team_id"], hank["enterprise_id"], hank["is_enterprise_install"]) == (GRID_A, GRID, "true")
    assert (alice["team_id"], alice["is_enterprise_install"], "enterprise_id" in alice) == ("T0DEV", "false", False)
    await standin.open_home(user="W0GINA")
    event = bot.events[-1]
    assert (event["team_id"], event["context_team_id"], event["enterprise_id"]) == (GRID, GRID_A, GRID)
    assert event["authorizations"][0] == {
        "enterprise_id": GRID, "team_id": None, "user_id": "U2BOT", "is_bot": True, "is_enterprise_install": True,
    }


async def test_nothing_is_sent_from_a_workspace_the_app_is_not_installed_in(standin: SlackStandIn) -> None:
    standin.several_workspaces(installed=False)
    with pytest.raises(ValueError, match="not installed in workspace T0OTHER"):
        await standin.send_command(user="U1DAN", channel="C1GENERAL", text="hello")
    assert [(w.id, standin.installed(w.id)) for w in standin.teams()] == [
        ("T0DEV", TOKEN), (OTHER_TEAM, None), (GRID_A, None), (GRID_B, None)
    ]


async def test_oauth_codes_give_tokens_once_and_rotating_tokens_refresh(standin: SlackStandIn) -> None:
    standin.several_workspaces(installed=False)
    anon = AsyncWebClient(base_url=standin.api_url)
    secret = standin.client_secret
    code = standin.oauth_code(GRID_A, org=True)
    wrong = anon.oauth_v2_access(client_id=standin.client_id, client_secret="nope", code=code)
    assert await error_of(wrong) == "bad_client_secret"
    granted = await anon.oauth_v2_access(client_id=standin.client_id, client_secret=secret, code=code)
    assert (granted["is_enterprise_install"], granted["enterprise"]["id"], granted["team"]) == (True, GRID, None)
    assert "refresh_token" not in granted.data  # type: ignore[operator]
    again = anon.oauth_v2_access(client_id=standin.client_id, client_secret=secret, code=code)
    assert await error_of(again) == "invalid_code"
    assert standin.installed(GRID_B) == granted["access_token"]
    assert not any(secret in json.dumps(c.args) for c in standin.calls())  # never recorded

    standin.configure_oauth(token_rotation=True, token_lifetime=3600)
    code = standin.oauth_code(OTHER_TEAM)
    rotating = await anon.oauth_v2_access(client_id=standin.client_id, client_secret=secret, code=code)
    assert rotating["access_token"].startswith("xoxe.xoxb-") and rotating["expires_in"] == 3600
    renewed = await anon.oauth_v2_access(
        client_id=standin.client_id, client_secret=secret, grant_type="refresh_token",
        refresh_token=rotating["refresh_token"],
    )
    assert renewed["access_token"] != rotating["access_token"]
    assert (await client_of(standin, renewed["access_token"]).auth_test())["team_id"] == OTHER_TEAM
    reused = anon.oauth_v2_access(client_id=standin.client_id, client_secret=secret, grant_type="refresh_token",
                                  refresh_token=rotating["refresh_token"])
    assert await error_of(reused) == "invalid_refresh_token"


async def test_uninstalling_revokes_the_tokens_and_tells_the_bot(standin: SlackStandIn, bot: Receiver) -> None:
    standin.several_workspaces()
    other = client_of(standin, OTHER_TOKEN)
    await other.apps_uninstall(client_id=standin.client_id, client_secret=standin.client_secret)
    assert await error_of(other.auth_test()) == "token_revoked"
    await standin.wait_for(lambda: len(bot.events) == 2)
    assert [(e["event"]["type"], e["team_id"]) for e in bot.events] == [
        ("tokens_revoked", OTHER_TEAM), ("app_uninstalled", OTHER_TEAM)
    ]
    standin.uninstall(GRID)  # from the stand-in (its page), the organisation's org-wide install
    await standin.wait_for(lambda: len(bot.events) == 4)
    assert (bot.events[-1]["team_id"], bot.events[-1]["is_enterprise_install"]) == (GRID, True)
    assert await error_of(client_of(standin, GRID_TOKEN).auth_test()) == "token_revoked"
    assert (await client_of(standin, TOKEN).auth_test())["ok"]  # the default workspace's token still works


async def test_an_org_install_not_added_to_a_workspace_is_refused_there(standin: SlackStandIn) -> None:
    standin.several_workspaces()
    standin.withhold(GRID_B)  # approved for the organisation, not added to Grid B
    org = client_of(standin, GRID_TOKEN)
    assert await error_of(org.chat_postMessage(channel="C3OPS", text="x")) == "team_access_not_granted"
    assert await error_of(org.users_info(user="W0HANK")) == "team_access_not_granted"
    assert await error_of(org.usergroups_users_list(usergroup="S2APPROVERS", team_id=GRID_B)) == (
        "team_access_not_granted"
    )
    await org.chat_postMessage(channel="C2APPROVALS", text="grid a still")
    with pytest.raises(ValueError, match="not installed in workspace T0GRIDB"):
        await standin.send_command(user="W0HANK", channel="C3OPS", text="hello")
    standin.withhold(GRID_B, withheld=False)
    await org.chat_postMessage(channel="C3OPS", text="added again")


async def test_auth_teams_list_names_the_workspaces_added_and_refuses_what_slack_refuses(
    standin: SlackStandIn
) -> None:
    """`auth.teams.list` (#87): an org token's workspaces it is added to; a `limit` out of 1-1000 and a `cursor` no
    page gave are refused, as Slack refuses them."""
    standin.several_workspaces()
    standin.withhold(GRID_B)
    org = client_of(standin, GRID_TOKEN)
    assert [t["id"] for t in (await org.auth_teams_list(limit=1000))["teams"]] == [GRID_A]
    assert [t["id"] for t in (await client_of(standin, OTHER_TOKEN).auth_teams_list())["teams"]] == [OTHER_TEAM]
    assert await error_of(org.auth_teams_list(limit=1001)) == "invalid_limit"
    assert await error_of(org.auth_teams_list(limit=0)) == "invalid_limit"
    assert await error_of(org.auth_teams_list(cursor="dGVhbTpUMDAw")) == "invalid_cursor"
