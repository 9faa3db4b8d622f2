"""What waits for a decision, for the MCP gateway: the ask of one `tools/call` through the Approvals API (the card
names the server, as "<name> (MCP)", and carries the tool's `inputSchema`), the wait (with progress notifications
while a person decides, or bounded by a client's patience), the audit line of each decision, and who a request's
client is (`bound_to`: what a `requestState` and a task id are bound to). It forwards nothing: that is
`forwarding.py`.

A client is the program at the other end of its connection, which it cannot choose: over stdio the process that
started the gateway (its parent, with that process's start time, so a restarted gateway serves the same program
and no other), over HTTP its MCP session (`Mcp-Session-Id`) or else its `Authorization`; and, within that, the
clientInfo it declares."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from functools import cache
from typing import Any

from agent_approvals._extras import missing_extra

try:
    import anyio
    import httpx
    from mcp import types
    from mcp.server.context import ServerRequestContext
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "mcp", exc) from exc

from agent_approvals.client import Approval, ApprovalsClient, ApprovalsError
from agent_approvals.mcp_gateway.marks import Marks

log = logging.getLogger("agent_approvals.mcp_gateway")
Context = ServerRequestContext[Any, Any]


@cache
def stdio_peer() -> str:
    """The program at the other end of this process's stdio: its parent's pid and, where /proc tells it, that
    process's start time (a pid used again by another program is another program)."""
    parent = os.getppid()
    started = ""
    with contextlib.suppress(OSError, IndexError):
        with open(f"/proc/{parent}/stat", encoding="utf-8") as stat:
            started = stat.read().rpartition(")")[2].split()[19]  # field 22, starttime
    return f"stdio {parent} {started}".strip()


def bound_to(ctx: Context) -> str:
    """Who this request's client is (see the module docstring): its connection's owner, then its clientInfo."""
    request: Any = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        owner = stdio_peer()
    elif headers.get("mcp-session-id"):
        owner = "http session " + _digest(headers["mcp-session-id"])
    elif headers.get("authorization"):
        owner = "http credentials " + _digest(headers["authorization"])
    else:
        owner = "http"
    return f"{owner} | {client_info(ctx)}"


def client_info(ctx: Context) -> str:
    """Who the client says it is (its clientInfo: name/version)."""
    info: Any = (ctx.meta or {}).get("io.modelcontextprotocol/clientInfo") if isinstance(ctx.meta, dict) else None
    if info is None:
        with contextlib.suppress(Exception):
            params = ctx.session.client_params
            info = params.client_info.model_dump() if params is not None else None
    if isinstance(info, dict):
        return f"{info.get('name', '')}/{info.get('version', '')}"
    return ""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


class Decisions:
    """Asks the Approvals API about the calls of one upstream, and waits for the decisions.

    Args:
        client: asks the Approvals API (its key).
        server: the upstream's name (cards say "<server> (MCP)").
        within: seconds a decision may take (never longer than the channel allows).
        progress_every: seconds between progress notifications while a person decides.
        marks: what a call changes (`marks.py`: the artefacts on its ask).
    """

    def __init__(self, client: ApprovalsClient, *, server: str, within: int | None = None,
                 progress_every: float = 10.0, marks: Marks | None = None) -> None:
        self.client = client
        self.server = server
        self.within = within
        self.progress_every = progress_every
        self.marks = marks or Marks()

    async def options(self, tool: types.Tool, arguments: dict[str, Any],
                      artifacts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """What the card of the call `tool(arguments)` shows and checks, besides the call: its `artifacts` (by
        default those its mark names, `artifacts`). A call with artefacts is asked with `editable=False`: what is
        forwarded is its arguments, so a reviewer's edit of the change (Revise) could not be what runs."""
        made = await self.artifacts(tool, arguments) if artifacts is None else artifacts
        fixed = {"editable": False} if made else {}  # the gateway forwards arguments: no edit of their change
        return {"schema": dict(tool.input_schema), "title": f"{tool.name} on {self.server}"[:150],
                "agent": f"{self.server} (MCP)"[:80], "timeout": self.within, "artifacts": made, **fixed}

    async def artifacts(self, tool: types.Tool, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        """What the call `tool(arguments)` changes (`marks.py`), as it is now (a file read off the event loop)."""
        return await self.marks.made(tool.name, dict(tool.input_schema), arguments)

    async def ask(self, tool: types.Tool, arguments: dict[str, Any], key: str) -> Approval:
        """Ask about `tool(arguments)` once (its card), without waiting; an API that does not answer is an MCP
        error."""
        try:
            return await self.client.request_tool(tool.name, arguments, idempotency_key=key,
                                                  **await self.options(tool, arguments))
        except (ApprovalsError, httpx.HTTPError) as exc:
            raise MCPError(types.INTERNAL_ERROR, f"could not ask for an approval of {tool.name}: {exc}") from None

    async def read(self, approval_id: str, name: str) -> Approval:
        """The approval as it is now; an API that does not answer is an MCP error."""
        try:
            return await self.client.get(approval_id)
        except (ApprovalsError, httpx.HTTPError) as exc:
            raise MCPError(types.INTERNAL_ERROR, f"could not read the approval of {name}: {exc}") from None

    async def within_patience(self, tool: types.Tool, arguments: dict[str, Any], key: str,
                              patience: float, artifacts: list[dict[str, Any]] | None = None) -> Approval:
        """Deny-then-grant: the decision on `tool(arguments)` within `patience` seconds (approved: used once),
        else the approval still pending; `key` names the call exactly (`call_key`) and the `artifacts` it makes."""
        try:
            return await self.client.tool_decision(tool.name, arguments, idempotency_key=key, at_most=patience,
                                                   **await self.options(tool, arguments, artifacts))
        except (ApprovalsError, httpx.HTTPError) as exc:
            raise MCPError(types.INTERNAL_ERROR, f"could not ask for an approval of {tool.name}: {exc}") from None

    async def with_progress(self, ctx: Context, tool: types.Tool, arguments: dict[str, Any], key: str) -> Approval:
        """The decision on `tool(arguments)` (approved: used once), with progress notifications to the client
        while a person decides. A client that gives up (it cancels the request, or times out) has its card
        withdrawn."""
        options = await self.options(tool, arguments)
        asking = asyncio.ensure_future(self.client.tool_decision(tool.name, arguments, idempotency_key=key,
                                                                 **options))
        waited = 0
        try:
            while True:
                done, _ = await asyncio.wait({asking}, timeout=self.progress_every)
                if done:
                    return asking.result()
                waited += 1
                with contextlib.suppress(Exception):  # advisory: a client that cannot take it still waits
                    await ctx.session.report_progress(waited, None, "waiting for a person to decide in Slack")
        except (ApprovalsError, httpx.HTTPError) as exc:
            log.error("the Approvals API did not answer for %s on %s: %s", tool.name, self.server, exc)
            raise MCPError(types.INTERNAL_ERROR, f"could not ask for an approval of {tool.name}: {exc}") from None
        except asyncio.CancelledError:
            asking.cancel()
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception), anyio.fail_after(10):
                asked = await self.client.request_tool(tool.name, arguments, idempotency_key=key, **options)
                if asked.pending:  # the same ask (its key) finds the approval: withdrawn, its card says so
                    await self.client.withdraw(asked.id)
                    log.info("withdrew approval %s of %s on %s: the client gave up", asked.id, tool.name,
                             self.server)
            raise
        finally:
            asking.cancel()

    def audit(self, name: str, decided: Approval) -> None:
        """The audit line of a decision on a call of `name`."""
        log.info("audit %s", json.dumps({"event": "mcp_decided", "server": self.server, "tool": name,
                                          "approval": decided.id, "status": decided.status,
                                          "by": decided.decided_by}, sort_keys=True))
