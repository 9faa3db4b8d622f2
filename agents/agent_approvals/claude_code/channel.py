"""A permission channel for Claude Code's Channels (extra `claude-code`): each permission dialog Claude Code opens
becomes a card in Slack, and the card's decision answers the dialog.

    claude --dangerously-load-development-channels server:approvals   # .mcp.json: {"mcpServers": {"approvals":
        # {"command": "agent-approvals-claude-code", "args": ["channel"]}}}

An MCP server on stdio that declares `experimental['claude/channel']` and `experimental['claude/channel/permission']`.
Claude Code relays each permission prompt as `notifications/claude/channel/permission_request` (`request_id`, five
letters; `tool_name`; `description`; `input_preview`, the input as JSON cut to 200 characters); the channel asks
the Approvals API about it (a card showing the tool, the description and the preview) and, once a person decided,
answers `notifications/claude/channel/permission` with `{request_id, behavior: "allow" | "deny"}`; an approval is
used once first. The terminal's own dialog stays open: whichever answer comes first wins, and Claude Code drops the
other (a card answered after the terminal did changes nothing). The channel pushes no chat into the session and
reads none: a verdict comes only from a decision on the card, never from words typed anywhere. When the session
ends (stdin closes) the cards still pending are withdrawn.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Literal

from agent_approvals._extras import missing_extra

try:
    import mcp_types as types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.session import ServerSession
    from mcp.server.stdio import stdio_server
    from pydantic import Field
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "claude-code", exc) from exc

from agent_approvals.claude_code.hook import AGENT, TITLE_MOST
from agent_approvals.client import ApprovalsClient

REQUEST = "notifications/claude/channel/permission_request"
VERDICT: Literal["notifications/claude/channel/permission"] = "notifications/claude/channel/permission"
CAPABILITIES: dict[str, dict[str, Any]] = {"claude/channel": {}, "claude/channel/permission": {}}
INSTRUCTIONS = ("Permission prompts of this session are also sent to Slack as approval cards; a person's decision "
                "there answers them. This channel carries no chat messages.")

log = logging.getLogger("agent_approvals.claude_code.channel")


class PermissionRequest(types.NotificationParams):
    """What Claude Code relays of one permission dialog (its fields in snake case, not MCP's camel case)."""

    request_id: str = Field(alias="request_id")
    tool_name: str = Field(alias="tool_name")
    description: str = ""
    input_preview: str = Field(default="", alias="input_preview")


class Verdict(types.Notification[dict[str, Any], Literal["notifications/claude/channel/permission"]]):
    """The answer to one relayed dialog (its params as Claude Code reads them: `request_id`, `behavior`)."""


class PermissionChannel:
    """The channel's state: the relayed dialogs whose cards are still undecided.

    Args:
        client: the Approvals API client the cards are asked through.
        scope: names this session in the asks' idempotency keys (default: a new one per process).
    """

    def __init__(self, client: ApprovalsClient, *, scope: str = "") -> None:
        self.client = client
        self.scope = scope or uuid.uuid4().hex[:16]
        self.pending: dict[str, PermissionRequest] = {}  # by request id, while undecided
        self._tasks: set[asyncio.Task[None]] = set()

    def server(self) -> Server[Any]:
        server: Server[Any] = Server("agent-approvals-claude-code", instructions=INSTRUCTIONS)
        server.add_notification_handler(REQUEST, PermissionRequest, self._relayed)
        return server

    async def _relayed(self, ctx: ServerRequestContext[Any], params: PermissionRequest) -> None:
        if params.request_id in self.pending:  # the same dialog relayed twice: one card
            return
        self.pending[params.request_id] = params
        task = asyncio.create_task(self.answer(ctx.session, params))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, session: ServerSession, request: PermissionRequest) -> None:
        """Ask about one relayed dialog and, once decided, answer it (deny when it cannot be asked or read)."""
        try:
            name, arguments, options = self.ask_of(request)
            decided = await self.client.tool_decision(name, arguments, **options)  # an approval is used once
            behavior: Literal["allow", "deny"] = "allow" if decided.approved else "deny"
            log.info("permission %s (%s): %s", request.request_id, request.tool_name, decided.summary)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never allow on an error
            log.warning("permission %s (%s): denied: %s", request.request_id, request.tool_name, exc)
            behavior = "deny"
        self.pending.pop(request.request_id, None)
        await session.send_notification(
            Verdict(  # type: ignore[arg-type]  # (Claude Code's own notification, not one of MCP's)
                method=VERDICT, params={"request_id": request.request_id, "behavior": behavior}))

    def ask_of(self, request: PermissionRequest) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """The card's tool, arguments and options (one idempotency key per dialog: asking again finds it)."""
        arguments = {"description": request.description, "input_preview": request.input_preview}
        title = f"{AGENT}: {request.tool_name}" + (f": {request.description}" if request.description else "")
        if len(title) > TITLE_MOST:
            title = title[: TITLE_MOST - 1] + "…"
        options = {"editable": False, "title": title, "agent": AGENT,
                   "idempotency_key": f"ccp-{self.scope}-{request.request_id}"[:128]}
        return request.tool_name, arguments, options

    async def close(self) -> None:
        """The session ended: withdraw the cards still pending (nobody can use their answer now)."""
        for task in list(self._tasks):
            task.cancel()
        for request in list(self.pending.values()):
            name, arguments, options = self.ask_of(request)
            try:  # the same ask again finds its card (even one whose answer had not come back yet)
                asked = await self.client.request_tool(name, arguments, **options)
                await self.client.withdraw(asked.id)
            except Exception as exc:  # (the card times out by itself)
                log.warning("permission %s: its card was not withdrawn: %s", request.request_id, exc)
        self.pending.clear()

    async def serve_stdio(self) -> None:
        server = self.server()
        try:
            async with stdio_server() as (read_stream, write_stream):
                options = server.create_initialization_options(experimental_capabilities=CAPABILITIES)
                await server.run(read_stream, write_stream, options)
        finally:
            await self.close()
