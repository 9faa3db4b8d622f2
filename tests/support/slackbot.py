"""Slackbot's MCP client, as a test plays it: a JSON-RPC message to `/slack/mcp` signed as Slack signs events, with
the person in `params._meta.slack`; and the check of the blocks it gets back (valid for `slack_sdk` and the local
Slack, within Slackbot's allowed blocks and limits, buttons only `tool:` ones with a JSON object string value)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.models.blocks import Block

from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from tests.conftest import SIGNING_SECRET

UPSTREAM = Path(__file__).with_name("mcp_slackbot_upstream.py")
ALLOWED = {"context", "divider", "header", "markdown", "rich_text", "section", "file", "image", "video", "actions",
           "carousel", "input", "data_table", "data_visualization", "table", "card", "container"}


def slackbot_env(record: Path, *, key: str = "slackbot", workspaces: dict[str, str] | None = None) -> dict[str, str]:
    """SLACKBOT_MCP with the test mailbox (a real MCP server process) as its one upstream; `workspaces`: the key
    each other workspace's calls ask with."""
    upstream = {"name": "mailbox", "command": [sys.executable, str(UPSTREAM), "--record", str(record)],
                "env": {"PYTHONPATH": ":".join(sys.path)}}
    config: dict[str, Any] = {"key": key, "upstreams": [upstream]}
    if workspaces is not None:
        config["workspaces"] = workspaces
    return {"SLACKBOT_MCP": json.dumps(config)}


def slackbot_http_env(url: str) -> dict[str, str]:
    """SLACKBOT_MCP with one upstream reached over streamable HTTP at `url` (`upstream_url`)."""
    return {"SLACKBOT_MCP": json.dumps({"key": "slackbot", "upstreams": [{"name": "mailbox", "upstream_url": url}]})}


def sign(body: bytes, *, secret: str = SIGNING_SECRET, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}", "Content-Type": "application/json"}


def tool_call(name: str, arguments: dict[str, Any], *, user: str, team: str = "T0DEV", ident: int = 1,
              enterprise: str | None = None) -> bytes:
    meta = {"slack": {"user_id": user, "team_id": team, **({"enterprise_id": enterprise} if enterprise else {})}}
    return json.dumps({"jsonrpc": "2.0", "id": ident, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments, "_meta": meta}}).encode()


async def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST `body` to the worker's `/slack/mcp` (signed now unless `headers` are given)."""
    async with aiohttp.ClientSession() as session, session.post(
        url + "/slack/mcp", data=body, headers=sign(body) if headers is None else headers
    ) as response:
        said = await response.json() if response.status != 202 else {}
        return response.status, said


def assert_slackbot_blocks(blocks: list[dict[str, Any]]) -> None:
    """Blocks Slackbot shows: valid, allowed, at most 50, https links, `tool:` buttons with JSON object values."""
    assert 1 <= len(blocks) <= 50
    assert validate_blocks(copy.deepcopy(blocks)) is None, validate_blocks(blocks)
    for block in blocks:
        assert block["type"] in ALLOWED, block["type"]
        parsed = Block.parse(copy.deepcopy(block))
        assert parsed is not None
        parsed.to_dict()
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            assert element["action_id"].startswith("tool:")
            assert len(element["value"]) <= 2000 and isinstance(json.loads(element["value"]), dict)
    text = json.dumps(blocks)
    assert "http://" not in text


def calls(tmp_path: Path, tool: str) -> list[dict[str, Any]]:
    """The calls of `tool` the test mailbox (the upstream) recorded in `tmp_path/calls.jsonl`, in order."""
    path = tmp_path / "calls.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [call for line in lines if (call := json.loads(line))["tool"] == tool]


def dm_texts(slack: SlackStandIn, user: str) -> str:
    """Every direct message the bot sent `user` in the local Slack, one text a line."""
    return "\n".join(str(m.get("text", "")) for m in slack.messages(slack.dm_channel(user)))
