"""Slackbot's MCP endpoint for every workspace the app is installed in (issues 69 and 65): a call is routed by its
`params._meta.slack.{team_id, enterprise_id}` to that workspace's parts: its person checked against that workspace,
its approval in that tenant's store with its card in the channel of the key SLACKBOT_MCP names for that workspace,
the result kept and the DM sent there. A workspace with no key named, one the app is not installed in, a call naming
another workspace's person, or a key of another workspace: refused and audited.

Real parts: redis-server, the worker's HTTP server and Bolt app over signed HTTP, a real MCP server process as the
upstream; Slack is the local stand-in serving several workspaces (T0DEV, T0OTHER, the Grid organisation E0GRID)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import GRID, GRID_A, GRID_B, OTHER_TEAM, TEAM_ID
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import ALICE, SALES, Worker, bot_env, start_worker
from tests.support.hitl import audit_events, until
from tests.support.slackbot import assert_slackbot_blocks, calls, dm_texts, post, slackbot_env, tool_call

pytestmark = pytest.mark.slow  # the upstream MCP server is a process of its own

DAN, ERIN, GINA, HANK = "U1DAN", "U1ERIN", "W0GINA", "W0HANK"  # of T0OTHER (two), of T0GRIDA, of T0GRIDB
OTHER_CHANNEL, GRID_A_CHANNEL = "C1APPROVALS", "C2APPROVALS"
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
APPROVE = "approval_approve"


async def slackbot_worker(slack: SlackStandIn, redis_url: str, tmp_path: Path, workspaces: dict[str, str]) -> Worker:
    """A worker installed in T0DEV, T0OTHER and org-wide in E0GRID, serving `/slack/mcp` with `workspaces`' keys."""
    tokens = slack.several_workspaces()
    listed = tmp_path / "workspaces.json"
    listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": "env:OTHER_TOKEN"},
                                  {"enterprise": GRID, "bot_token": "env:GRID_TOKEN"}]))
    worker = await start_worker(bot_env(
        slack=slack, redis_url=redis_url, model_config=None, SLACK_WORKSPACES_FILE=str(listed),
        OTHER_TOKEN=tokens[OTHER_TEAM], GRID_TOKEN=tokens[GRID],
        **slackbot_env(tmp_path / "calls.jsonl", workspaces=workspaces)))
    slack.events_url = worker.url + "/slack/events"
    return worker


async def make_key(worker: Worker, name: str, channel: str, workspace: WorkspaceRef | None) -> None:
    assert await worker.services.store.api_keys.create(name, (channel,), by="operator", workspace=workspace)


def store_of(worker: Worker, tenant: str) -> Store:
    return worker.services.store.for_tenant(tenant, home=TEAM_ID)


def approval_of(said: dict[str, Any]) -> str:
    blocks = said["result"]["_meta"]["slack"]["blocks"]
    assert_slackbot_blocks(blocks)
    return str(json.loads(blocks[-1]["elements"][0]["value"])["approval_id"])


async def card_in(slack: SlackStandIn, channel: str, approval_id: str) -> dict[str, Any]:
    """The pending card of `approval_id` in `channel`, once it is there."""

    def found() -> dict[str, Any] | None:
        return next((m for m in slack.messages(channel) if approval_id in json.dumps(m.get("blocks") or [])
                     and any(b.get("type") == "actions" for b in m.get("blocks") or [])), None)

    card: dict[str, Any] = await slack.wait_for(found, description=f"the card of {approval_id} in {channel}")
    return card


async def test_each_workspace_asks_decides_and_is_told_in_its_own_workspace(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    worker = await slackbot_worker(slack, redis_url, tmp_path, {OTHER_TEAM: "slackbot-other", GRID: "slackbot-grid"})
    try:
        await make_key(worker, "slackbot", SALES, None)
        await make_key(worker, "slackbot-other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
        await make_key(worker, "slackbot-grid", GRID_A_CHANNEL, WorkspaceRef(GRID_A, GRID))
        other, grid = store_of(worker, OTHER_TEAM), store_of(worker, GRID)

        status, said = await post(worker.url, tool_call("send_email", EMAIL, user=ERIN, team=OTHER_TEAM))
        assert status == 200, said
        other_id = approval_of(said)
        assert await worker.services.store.approvals.get(other_id) is None  # not in the home tenant's data
        asked = await other.approvals.get(other_id)
        assert asked is not None and asked.requester == ERIN and asked.team == OTHER_TEAM
        card = await card_in(slack, OTHER_CHANNEL, other_id)
        posted = [c.team for c in slack.calls("chat.postMessage") if c.ok and c.args.get("channel") == OTHER_CHANNEL]
        assert posted and set(posted) == {OTHER_TEAM}, "the card is posted with T0OTHER's token"
        assert calls(tmp_path, "send_email") == []
        assert (await slack.click(user=DAN, channel=OTHER_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
        await until(lambda: "sent to bob@example.com" in dm_texts(slack, ERIN), what="Erin's DM in T0OTHER")
        dms = [c.team for c in slack.calls("chat.postMessage") if c.ok and c.args.get("channel") ==
               slack.dm_channel(ERIN)]
        assert dms and set(dms) == {OTHER_TEAM}, "the DM is sent with T0OTHER's token"
        assert len(calls(tmp_path, "send_email")) == 1
        decided = await other.approvals.get(other_id)
        assert decided is not None and (decided.status, decided.decided_by) == ("approved", DAN)
        assert await other.slackbot.result(other_id) is not None  # the result is kept in T0OTHER's data only
        assert await worker.services.store.slackbot.result(other_id) is None
        status, fetched = await post(worker.url, tool_call("approval_result", {"approval_id": other_id}, user=ERIN,
                                                           team=OTHER_TEAM, ident=2))
        assert status == 200 and "sent to bob@example.com" in json.dumps(fetched["result"])
        status, elsewhere = await post(worker.url, tool_call("approval_result", {"approval_id": other_id},
                                                             user=ALICE, ident=3))
        assert "error" in elsewhere and "sent to" not in json.dumps(elsewhere)  # the home workspace has no such one

        # a Grid organisation's member of T0GRIDB asks: the organisation's key, its card in T0GRIDA's channel
        status, said = await post(worker.url, tool_call("send_email", EMAIL, user=HANK, team=GRID_B,
                                                        enterprise=GRID, ident=4))
        assert status == 200, said
        grid_id = approval_of(said)
        card = await card_in(slack, GRID_A_CHANNEL, grid_id)
        assert await grid.approvals.get(grid_id) is not None
        assert (await slack.click(user=GINA, channel=GRID_A_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
        await until(lambda: "sent to bob@example.com" in dm_texts(slack, HANK), what="Hank's DM")
        assert len(calls(tmp_path, "send_email")) == 2
        assert await grid.slackbot.result(grid_id) is not None

        # the dev page's Slackbot pane calls as Slackbot does: a Grid person's call names their organisation too
        async with aiohttp.ClientSession() as session, session.post(
                slack.base_url + "/_control/slackbot/call", json={"user": HANK, "tool": "send_email",
                                                                  "arguments": EMAIL}) as response:
            pane = await response.json()
        assert pane["status"] == 200, pane
        assert await grid.approvals.get(approval_of(pane["answer"])) is not None
    finally:
        await worker.stop()


async def test_calls_a_workspace_cannot_make_are_refused_and_audited(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    worker = await slackbot_worker(slack, redis_url, tmp_path, {OTHER_TEAM: "slackbot"})  # the home key, misnamed
    try:
        await make_key(worker, "slackbot", SALES, None)
        # T0OTHER's person named in a call that says it comes from T0DEV: not one of T0DEV's people
        status, said = await post(worker.url, tool_call("send_email", EMAIL, user=DAN, team=TEAM_ID))
        assert status == 403 and said["error"]["message"], said
        # the Grid organisation: installed, but SLACKBOT_MCP names no key for it
        status, said = await post(worker.url, tool_call("send_email", EMAIL, user=GINA, team=GRID_A,
                                                        enterprise=GRID, ident=2))
        assert status == 403 and "not set up for this workspace" in said["error"]["message"], said
        # T0OTHER's key is the home workspace's: its asks would go to another workspace's channel
        status, said = await post(worker.url, tool_call("send_email", EMAIL, user=ERIN, team=OTHER_TEAM, ident=3))
        assert status == 403 and "another workspace" in said["error"]["message"], said
        # a workspace the app is not installed in
        status, said = await post(worker.url, tool_call("send_email", EMAIL, user="U9NOPE", team="T0NOPE", ident=4))
        assert status == 403 and "not installed" in said["error"]["message"], said
        # ids that are not Slack's: bad input (400), nothing looked up
        for team, enterprise in (("workspace-1", None), ("T0" + "A" * 40, None), (OTHER_TEAM, "not-an-org")):
            status, said = await post(worker.url, tool_call("send_email", EMAIL, user=ERIN, team=team,
                                                            enterprise=enterprise, ident=5))
            assert status == 400 and "not a Slack workspace or organisation id" in said["error"]["message"], said
        refused = {(entry.get("by"), entry.get("team")): entry.get("reason", "")
                   for entry in await audit_events(worker, "refused")}
        assert "outsider" in refused[(DAN, TEAM_ID)]
        assert "names no key for workspace T0GRIDA" in refused[(GINA, GRID_A)]
        assert "of another workspace" in refused[(ERIN, OTHER_TEAM)]
        assert "not installed" in refused[("U9NOPE", "T0NOPE")]
        assert calls(tmp_path, "send_email") == []
        for channel in (SALES, OTHER_CHANNEL, GRID_A_CHANNEL):
            assert not [m for m in slack.messages(channel) if "send_email" in json.dumps(m)], channel
    finally:
        await worker.stop()
