"""Slackbot, as the local Slack plays it (issue 69's dev mode): the dev page's "Slackbot" pane asks through here, and
this calls the bot's MCP endpoint (`/slack/mcp`, beside the `events_url`) as Slackbot's MCP client does: each
JSON-RPC request signed as Slack signs events, a `tools/call` with the person in `params._meta.slack` and the client's
Block Kit extension declared at `initialize` (asking for PROTOCOL); every later request names the version the bot
answered in an `MCP-Protocol-Version` header, as streamable HTTP asks of clients since 2025-06-18. The pane renders
the `_meta.slack.blocks` that come back, and a click on one of their `tool:<name>` buttons comes here as a call of
`<name>` with the button's value as its arguments.

    GET  /_control/slackbot/tools          -> {"tools": [...]} (the bot's tools/list)
    POST /_control/slackbot/call           {"user": "U…", "tool": "send_email", "arguments": {...}}
                                           -> {"status": 200, "answer": <the JSON-RPC answer>}
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from bot.devslack.workspace import Workspace

BLOCK_KIT = {"io.slack/block-kit": {"mimeTypes": ["application/vnd.slack.blocks+json"]}}
CALL_TIMEOUT = 60.0  # Slackbot waits this long for a tool
PROTOCOL = "2025-06-18"  # the MCP version asked for at `initialize` (one the bot speaks: slackbot_mcp.VERSIONS)


class SlackbotClient:
    """Slackbot's MCP client, calling the bot the local Slack delivers to."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    @property
    def endpoint(self) -> str | None:
        """The bot's `/slack/mcp`, beside where its events go (None: no bot connected over HTTP)."""
        url = self.ws.events_url
        return url.rsplit("/slack/events", 1)[0] + "/slack/mcp" if url and "/slack/events" in url else None

    async def request(self, method: str, params: dict[str, Any] | None = None, *,
                      version: str = PROTOCOL) -> tuple[int, dict[str, Any]]:
        """One JSON-RPC request to the bot, signed now, naming protocol `version` (but at `initialize`); (HTTP
        status, the answer's JSON or {})."""
        if self.endpoint is None:
            return 503, {"error": {"message": "no bot is connected over HTTP (its events_url is not set)"}}
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                           **({"params": params} if params is not None else {})}).encode()
        headers = self.signed(body) | ({} if method == "initialize" else {"MCP-Protocol-Version": version})
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT)) as session, session.post(
            self.endpoint, data=body, headers=headers
        ) as response:
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, {}

    def signed(self, body: bytes) -> dict[str, str]:
        """Slack's signature headers for `body` (`v0:<ts>:<body>`, HMAC-SHA256 with the app's signing secret)."""
        stamp = str(int(time.time()))
        digest = hmac.new(self.ws.signing_secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
        return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": f"v0={digest.hexdigest()}"}

    async def call(self, user: str, tool: str, arguments: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """`tool(arguments)` as `user` asks Slackbot for it (their team, and organisation on Grid, in `_meta.slack`)."""
        person = self.ws.user_or_error(user)
        _, hello = await self.request("initialize", {"protocolVersion": PROTOCOL, "clientInfo": {"name": "Slackbot"},
                                                     "capabilities": {"extensions": BLOCK_KIT}})
        said = hello.get("result")
        agreed = said.get("protocolVersion") if isinstance(said, dict) else None
        team = self.ws.teams.get(person.team_id)
        org = {"enterprise_id": team.enterprise_id} if team is not None and team.enterprise_id else {}
        meta = {"slack": {"user_id": person.id, "team_id": person.team_id, **org}}
        return await self.request("tools/call", {"name": tool, "arguments": arguments, "_meta": meta},
                                  version=agreed if isinstance(agreed, str) else PROTOCOL)

    async def handle_tools(self, request: web.Request) -> web.Response:
        status, answer = await self.request("tools/list")
        tools = (answer.get("result") or {}).get("tools") if status == 200 else None
        if not isinstance(tools, list):
            return web.json_response({"error": f"the bot answered tools/list with HTTP {status}"}, status=502)
        return web.json_response({"tools": tools})

    async def handle_call(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            user, tool, arguments = str(body["user"]), str(body["tool"]), body.get("arguments") or {}
            if not isinstance(arguments, dict):
                raise ValueError("arguments must be an object")
            status, answer = await self.call(user, tool, arguments)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.json_response({"error": f"the bot did not answer: {type(exc).__name__}"}, status=502)
        return web.json_response({"status": status, "answer": answer})
