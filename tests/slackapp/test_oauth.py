"""Slack's OAuth install through Bolt's `AsyncOAuthSettings` (#65): `/slack/install` and `/slack/oauth_redirect` of a
real worker, against the local Slack's authorize page and `oauth.v2.access`; installations kept in Redis with their
tokens sealed (a test greps Redis for the token), rotated before they expire; uninstalls forgotten, audited and told
to the `on_uninstalled` hooks; a forged redirect refused and audited. One test walks the flow in a real Chromium."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml

from bot.core.sealing import Sealer
from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import GRID, GRID_A, GRID_B, OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.server import WORKSPACES
from bot.slack.workspaces import NotInstalled, Workspaces
from bot.slackapp.oauth import BOT_SCOPES
from tests.conftest import SALES, Worker, start_worker
from tests.support.api import Client, tool_ask
from tests.support.hitl import until
from tests.support.oauth import TOKENS_KEY, install, oauth_env


@pytest.fixture
async def oauth_worker(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    """A worker serving the OAuth install; the local Slack serves more workspaces, where the app is not installed."""
    slack.several_workspaces(installed=False)
    worker = await start_worker(oauth_env(slack, redis_url))
    slack.events_url = worker.url + "/slack/events"
    slack.configure_oauth(redirect_url=worker.url + "/slack/oauth_redirect")  # the app's Redirect URL, at Slack
    yield worker
    await worker.stop()


def workspaces_of(worker: Worker) -> Workspaces:
    return worker.runner.app[WORKSPACES]


async def everything_in(redis_url: str) -> str:
    """Every key and value of Redis, as text (to grep for a secret)."""
    client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        dump = []
        async for key in client.scan_iter():
            kind = await client.type(key)
            if kind == "string":
                dump.append(f"{key} {await client.get(key)}")
            elif kind == "hash":
                dump.append(f"{key} {await client.hgetall(key)}")
            elif kind == "set":
                dump.append(f"{key} {await client.smembers(key)}")
            elif kind == "zset":
                dump.append(f"{key} {await client.zrange(key, 0, -1, withscores=True)}")
            elif kind == "list":
                dump.append(f"{key} {await client.lrange(key, 0, -1)}")
            elif kind == "stream":
                dump.append(f"{key} {await client.xrange(key)}")
        return "\n".join(dump)
    finally:
        await client.aclose()


async def test_an_install_is_kept_with_its_token_sealed_and_serves_its_workspace(
    slack: SlackStandIn, oauth_worker: Worker, redis_url: str
) -> None:
    status, page = await install(oauth_worker, slack, f"team:{OTHER_TEAM}")
    assert status == 200 and "Thank you!" in page
    token = slack.installed(OTHER_TEAM)
    assert token is not None
    workspaces = workspaces_of(oauth_worker)
    client = await workspaces.for_team(OTHER_TEAM)
    assert client.token == token
    await client.chat_postMessage(channel="C1APPROVALS", text="from the other workspace")
    stored = await everything_in(redis_url)
    assert f"installation:{OTHER_TEAM}" in stored
    assert token not in stored  # sealed: never in Redis in the clear
    record = await oauth_worker.services.store.installations.find(OTHER_TEAM)
    assert record is not None and Sealer.from_text(TOKENS_KEY).open(record["bot_token"], bound=OTHER_TEAM) == token
    installed = [e for e in await oauth_worker.services.store.audit.entries() if e["event"] == "installed"]
    assert [(e["team"], e["reason"]) for e in installed] == [(OTHER_TEAM, "workspace")]
    authorized = await workspaces.authorize(enterprise_id=None, team_id=OTHER_TEAM)
    assert authorized is not None and authorized.bot_user_id == "U1BOT"


async def test_an_org_wide_install_serves_every_workspace_of_the_organisation(
    slack: SlackStandIn, oauth_worker: Worker
) -> None:
    status, _ = await install(oauth_worker, slack, f"org:{GRID}")
    assert status == 200
    workspaces = workspaces_of(oauth_worker)
    assert await oauth_worker.services.store.installations.ids() == [GRID]
    a, b = await workspaces.for_team(GRID_A, GRID), await workspaces.for_team(GRID_B, GRID)
    assert a is b
    await a.chat_postMessage(channel="C2APPROVALS", text="a")
    await b.chat_postMessage(channel="C3OPS", text="b")
    assert [c.team for c in slack.calls("chat.postMessage") if c.ok] == [GRID_A, GRID_B]
    with pytest.raises(NotInstalled):
        await workspaces.for_team(OTHER_TEAM)


async def test_a_token_about_to_expire_is_rotated_and_kept_sealed(slack: SlackStandIn, oauth_worker: Worker) -> None:
    slack.configure_oauth(token_rotation=True, token_lifetime=3600)  # ends within Bolt's 120 minutes: renewed
    await install(oauth_worker, slack, f"team:{OTHER_TEAM}")
    first = slack.installed(OTHER_TEAM)
    assert first is not None and first.startswith("xoxe.xoxb-")
    client = await workspaces_of(oauth_worker).for_team(OTHER_TEAM)
    refreshed = [c for c in slack.calls("oauth.v2.access") if c.args.get("grant_type") == "refresh_token"]
    assert len(refreshed) == 1 and refreshed[0].ok
    assert client.token is not None and client.token != first
    assert (await client.auth_test())["team_id"] == OTHER_TEAM
    record = await oauth_worker.services.store.installations.find(OTHER_TEAM)
    assert record is not None
    sealer = Sealer.from_text(TOKENS_KEY)
    assert sealer.open(record["bot_token"], bound=OTHER_TEAM) == client.token
    assert record["bot_refresh_token"].startswith("v1.")  # the refresh token too, sealed


async def test_another_key_reads_no_installation(slack: SlackStandIn, oauth_worker: Worker, redis_url: str) -> None:
    await install(oauth_worker, slack, f"team:{OTHER_TEAM}")
    other_key = base64.b64encode(os.urandom(32)).decode()
    second = await start_worker(oauth_env(slack, redis_url) | {"SLACK_TOKENS_KEY": other_key})
    try:
        with pytest.raises(NotInstalled):  # the record does not open: not installed, and logged
            await workspaces_of(second).for_team(OTHER_TEAM)
    finally:
        await second.stop()


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_an_uninstall_is_forgotten_audited_and_told(slack: SlackStandIn, oauth_worker: Worker) -> None:
    await install(oauth_worker, slack, f"team:{OTHER_TEAM}")
    workspaces = workspaces_of(oauth_worker)
    told: list[WorkspaceRef] = []

    async def hook(ref: WorkspaceRef) -> None:
        told.append(ref)

    workspaces.on_uninstalled.append(hook)
    slack.uninstall(OTHER_TEAM)  # a person removes the app: Slack sends tokens_revoked, then app_uninstalled
    await slack.wait_for(lambda: told)
    assert told == [WorkspaceRef(team=OTHER_TEAM)]
    assert await oauth_worker.services.store.installations.ids() == []
    with pytest.raises(NotInstalled):
        await workspaces.for_team(OTHER_TEAM)
    audit = oauth_worker.services.store

    async def uninstalled() -> list[dict[str, str]]:
        return [e for e in await audit.audit.entries() if e["event"] == "uninstalled"]

    for _ in range(200):  # the audit entry follows the hook within the same event's handling
        if await uninstalled():
            break
        await asyncio.sleep(0.01)
    assert [(e["by"], e["team"], e["reason"]) for e in await uninstalled()] == [
        ("slack", OTHER_TEAM, "tokens_revoked")
    ]


async def test_an_uninstall_withdraws_that_workspaces_pending_approvals_and_no_others(
    slack: SlackStandIn, oauth_worker: Worker
) -> None:
    await install(oauth_worker, slack, f"team:{OTHER_TEAM}")
    store = oauth_worker.services.store
    # a key of the other workspace asks in a channel of it: its approval is kept under that tenant's keys
    theirs_key = await store.api_keys.create("other", ("C1APPROVALS",), by="test", workspace=WorkspaceRef(OTHER_TEAM))
    ours_key = await store.api_keys.create("home", (SALES,), by="test")
    assert theirs_key is not None and ours_key is not None
    theirs = (await Client(oauth_worker, theirs_key.key).ask(tool_ask(requester="U1DAN")))[1]["id"]
    ours = (await Client(oauth_worker, ours_key.key).ask(tool_ask()))[1]["id"]
    other_store = store.for_tenant(OTHER_TEAM, home="T0DEV")
    assert await store.approvals.get(theirs) is None and await other_store.approvals.get(theirs) is not None
    slack.uninstall(OTHER_TEAM)  # Slack sends tokens_revoked, then app_uninstalled: the worker withdraws at the first

    async def withdrawn() -> bool:
        approval = await other_store.approvals.get(theirs)
        return approval is not None and approval.status == "cancelled"

    await until(withdrawn, what="the uninstalled workspace's approval withdrawn")
    gone = await other_store.approvals.get(theirs)
    assert gone is not None and gone.decided_by == "slack"
    still = await store.approvals.get(ours)
    assert still is not None and still.pending


async def test_a_forged_redirect_is_refused_audited_and_changes_nothing(oauth_worker: Worker) -> None:
    async with aiohttp.ClientSession() as http:
        url = oauth_worker.url + "/slack/oauth_redirect?code=1.abc&state=forged-state-0123456789"
        async with http.get(url, headers={"Cookie": "slack-app-oauth-state=forged-state-0123456789"}) as answer:
            assert answer.status == 401
    assert await oauth_worker.services.store.installations.ids() == []
    refused = [e for e in await oauth_worker.services.store.audit.entries() if e["event"] == "refused"]
    assert [e["reason"] for e in refused] == ["install: invalid_state"]


def test_the_manifest_declares_the_agent_its_events_and_scopes() -> None:
    """Slack refuses a bare `agent_view: true` ("Must provide an object"): the agent is an object whose required
    `agent_description` has at most 300 characters; sessions need Stop's event and the Messages tab's, and their
    scopes (agents.sessions.setStatus and the chat.*Stream methods: `assistant:write`; posting: `chat:write`)."""
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
    agent = manifest["features"]["agent_view"]
    assert isinstance(agent, dict), "features.agent_view must be an object"
    description = agent.get("agent_description")
    assert isinstance(description, str) and description.strip() and len(description) <= 300
    for prompt in agent.get("suggested_prompts") or []:
        assert set(prompt) == {"title", "message"}
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"agent_session_stopped", "message.im"} <= set(events)
    assert {"assistant:write", "chat:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])


MCP_AUTH_TYPES = {"no_auth", "slack_identity_auth", "manual_auth", "dynamic_client_registration"}


def test_the_manifests_mcp_servers_are_as_slacks_manifest_schema_says() -> None:
    """slack-cli's manifest schema: a top-level `mcp_servers` map whose entries have `url` (https) and `auth_type`
    (one of four), and may have `auth_provider_key`; an app that declares MCP servers holds the bot scope
    `mcp:connect`. Ours: Slackbot's `/slack/mcp` with Slack identity auth (docs/operators/slackbot.md)."""
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yml").read_text())
    servers = manifest["mcp_servers"]
    for name, entry in servers.items():
        assert {"url", "auth_type"} <= set(entry) <= {"url", "auth_type", "auth_provider_key"}, (name, entry)
        assert entry["url"].startswith("https://") and entry["auth_type"] in MCP_AUTH_TYPES, (name, entry)
    assert servers == {"approvals": {"url": "https://YOUR-HOST/slack/mcp", "auth_type": "slack_identity_auth"}}
    assert "mcp:connect" in manifest["oauth_config"]["scopes"]["bot"]


def test_the_scopes_asked_are_the_manifests() -> None:
    manifest = (Path(__file__).resolve().parents[2] / "manifest.yml").read_text()
    listed = manifest.split("    bot:\n", 1)[1].split("settings:", 1)[0]
    assert tuple(re.findall(r"^\s+- ([a-z:.]+)", listed, re.MULTILINE)) == BOT_SCOPES
