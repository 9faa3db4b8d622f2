"""Socket Mode: with `SLACK_APP_TOKEN` set, `python -m bot` connects out (no public URL) and the same
commands and clicks arrive over the WebSocket the stand-in hands out through `apps.connections.open`; each
workspace's served by its own parts, as over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.conftest import ALICE, APPROVALS, BOB, SALES, block_texts, bot_env, free_port, has_buttons, reply_text
from tests.support.api import Client, tool_ask
from tests.support.hitl import nth_card, until
from tests.support.oauth import install, oauth_env
from tests.support.slackbot import assert_slackbot_blocks, calls, dm_texts, post, sign, slackbot_env, tool_call

pytestmark = pytest.mark.slow  # a worker as a process

ROOT = Path(__file__).resolve().parents[2]
APP_TOKEN = "xapp-1-test-app-token"


@contextlib.asynccontextmanager
async def socket_worker(slack: SlackStandIn, env: dict[str, str], log: Path, redis_url: str) -> AsyncIterator[Store]:
    """`python -m bot` over Socket Mode with `env`, connected to the local Slack (and a store on its Redis); stopped
    by SIGTERM on the way out, and it must exit 0 (its log otherwise)."""
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - instant; we then wait for its connection
            [sys.executable, "-m", "bot"], cwd=ROOT, env={**os.environ, "SLACK_APP_TOKEN": APP_TOKEN, **env},
            stdout=out, stderr=out,
        )
    redis = connect(redis_url)
    try:
        await slack.wait_for(lambda: slack.calls("apps.connections.open") and slack._sockets, timeout=30)
        yield Store(redis)
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 15)
        await redis.aclose()
    assert code == 0, (await asyncio.to_thread(log.read_text))[-2000:]


async def test_python_m_bot_serves_over_socket_mode(
    slack: SlackStandIn, redis_url: str, model_config: Path, tmp_path: Path
) -> None:
    slack.app_token = APP_TOKEN
    port = free_port()
    env = {
        **bot_env(slack=slack, redis_url=redis_url, model_config=model_config),
        "PORT": str(port),
    }  # on PORT: /healthz, /metrics and the Approvals API (Slack's requests come over the socket)
    async with socket_worker(slack, env, tmp_path / "worker.log", redis_url) as store:
        assert all(c.ok for c in slack.calls("apps.connections.open"))
        reply = await slack.send_command(user=ALICE, channel=SALES, text="Draft a note to the team about Friday")
        assert "Started run `" in reply_text(reply)
        run_id = reply_text(reply).split("`")[1]
        card = await slack.wait_for(lambda: next((m for m in slack.messages(APPROVALS) if has_buttons(m)), None))
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        await slack.wait_for(
            lambda: (
                f"*Approved* by <@{BOB}>"
                in block_texts(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"]))
            )
        )
        for _ in range(1000):  # poll with a deadline (~10 s) for the run to finish
            run = await store.runs.get(run_id)
            if run is not None and run.status == "completed":
                break
            await asyncio.sleep(0.01)
        assert run is not None and run.status == "completed", json.dumps(run.to_redis() if run else None)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/v1/openapi.json") as response:
                assert response.status == 200 and (await response.json())["openapi"] == "3.1.0"
            async with http.post(f"http://127.0.0.1:{port}/api/v1/approvals", json={}) as response:
                assert response.status == 401  # the API is served, and wants a key
            async with http.get(f"http://127.0.0.1:{port}/slack/events") as response:
                assert response.status == 404  # Slack's requests come over the socket only


@dataclass(frozen=True)
class Served:
    """Where a Socket Mode worker serves HTTP ($PORT): what the OAuth and API helpers need of a worker."""

    url: str


async def test_socket_mode_serves_the_install_and_an_uninstall_withdraws(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, a Socket Mode worker serves Slack's install on $PORT (nothing
    else listens), and an uninstall arriving over the socket withdraws that workspace's pending approvals."""
    slack.app_token = APP_TOKEN
    slack.several_workspaces(installed=False)
    port = free_port()
    served = Served(f"http://127.0.0.1:{port}")
    slack.configure_oauth(redirect_url=served.url + "/slack/oauth_redirect")
    env = {**oauth_env(slack, redis_url), "PORT": str(port)}
    async with socket_worker(slack, env, tmp_path / "worker.log", redis_url) as store:
        status, page = await install(served, slack, f"team:{OTHER_TEAM}")
        assert status == 200 and "Thank you!" in page, page[:300]
        assert await store.installations.ids() == [OTHER_TEAM]
        key = await store.api_keys.create("other", ("C1APPROVALS",), by="test", workspace=WorkspaceRef(OTHER_TEAM))
        assert key is not None
        code, asked = await Client(served, key.key).ask(tool_ask())  # type: ignore[arg-type]
        assert code == 201, asked
        slack.uninstall(OTHER_TEAM)  # tokens_revoked, then app_uninstalled: over the socket

        other = store.for_tenant(OTHER_TEAM, home="T0DEV")  # its approvals are kept under its tenant's keys

        async def withdrawn() -> bool:
            approval = await other.approvals.get(asked["id"])
            return approval is not None and approval.status == "cancelled"

        await until(withdrawn, what="the uninstalled workspace's approval withdrawn")
        assert await store.installations.ids() == []


async def test_socket_mode_serves_each_workspace_with_its_own_parts(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """Issue 65 over Socket Mode: a click in another installed workspace (SLACK_WORKSPACES_FILE) is served by that
    workspace's parts, as over HTTP: its approval, kept under its tenant's keys, is decided there."""
    slack.app_token = APP_TOKEN
    tokens = slack.several_workspaces()
    listed = tmp_path / "workspaces.json"
    listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": "env:OTHER_TOKEN"}]))
    port = free_port()
    env = {**bot_env(slack=slack, redis_url=redis_url, model_config=None), "PORT": str(port),
           "SLACK_WORKSPACES_FILE": str(listed), "OTHER_TOKEN": tokens[OTHER_TEAM]}
    async with socket_worker(slack, env, tmp_path / "worker.log", redis_url) as store:
        made = await store.api_keys.create("other", ("C1APPROVALS",), by="test", workspace=WorkspaceRef(OTHER_TEAM))
        assert made is not None
        body = {"kind": "tool", "title": "Refund", "requester": "U1ERIN",
                "tool": {"name": "refund", "arguments": {"order": "A-1"}}}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/api/v1/approvals", json=body,
                                 headers={"Authorization": f"Bearer {made.key}"}) as response:
                asked = await response.json()
                assert response.status == 201, asked
        card = await slack.wait_for(lambda: next((m for m in slack.messages("C1APPROVALS") if has_buttons(m)), None))
        await slack.click(user="U1DAN", channel="C1APPROVALS", ts=card["ts"], action_id="approval_approve")
        other = store.for_tenant(OTHER_TEAM, home="T0DEV")
        for _ in range(1000):  # poll with a deadline (~10 s) for the decision
            approval = await other.approvals.get(asked["id"])
            if approval is not None and approval.status == "approved":
                break
            await asyncio.sleep(0.01)
        assert approval is not None and (approval.status, approval.decided_by) == ("approved", "U1DAN")
        assert await store.approvals.get(asked["id"]) is None  # not under the home workspace's keys


async def test_socket_mode_serves_slackbots_mcp_endpoint_on_its_port(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """Slackbot's MCP client reaches an app over HTTPS only, also an app on Socket Mode: with SLACKBOT_MCP, the worker
    serves `POST /slack/mcp` on $PORT (beside the API), signed as over HTTP (unsigned, forged, stale and replayed
    calls refused); says so when it starts; a write waits for another person's click (over the socket) and then runs
    once."""
    slack.app_token = APP_TOKEN
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**bot_env(slack=slack, redis_url=redis_url, model_config=None, LOG_LEVEL="INFO"), "PORT": str(port),
           **slackbot_env(tmp_path / "calls.jsonl")}
    log = tmp_path / "worker.log"
    async with socket_worker(slack, env, log, redis_url) as store:
        assert await store.api_keys.create("slackbot", [SALES], by="operator") is not None
        email = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
        body = tool_call("send_email", email, user=ALICE)
        assert (await post(url, body, {"Content-Type": "application/json"}))[0] == 401  # unsigned
        assert (await post(url, body, sign(body, secret="not-the-secret")))[0] == 401  # forged
        assert (await post(url, body, sign(body, ts=int(time.time()) - 600)))[0] == 401  # stale: 10 minutes old
        read = tool_call("list_inbox", {"limit": 1}, user=ALICE, ident=2)
        signed = sign(read)
        status, said = await post(url, read, signed)
        assert status == 200 and said["result"]["content"][0]["text"] == "alice: lunch?", said
        status, said = await post(url, read, signed)  # the same signed request again
        assert status == 401 and "replay" in said["error"]["message"], said
        assert calls(tmp_path, "list_inbox") == [{"tool": "list_inbox", "arguments": {"limit": 1}}]
        status, said = await post(url, body)
        assert status == 200, said
        assert_slackbot_blocks(said["result"]["_meta"]["slack"]["blocks"])
        card = await nth_card(slack, 1)
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        await until(lambda: "sent to bob@example.com" in dm_texts(slack, ALICE), what="the requester's DM")
        assert [call["arguments"] for call in calls(tmp_path, "send_email")] == [email]  # once, as approved
        said_at_start = await asyncio.to_thread(log.read_text)
        assert f"serving Slack over Socket Mode; listening on port {port}:" in said_at_start
        assert "/slack/mcp (Slackbot" in said_at_start, said_at_start[-2000:]
