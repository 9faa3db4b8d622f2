"""What forwards a call to the upstream MCP server, once it may run: the upstream's tools, the check of arguments
against a tool's `inputSchema`, every request to the upstream (bounded by `call_timeout`, its failures said as
MCP errors), the forward of a `tools/call` itself (with the approval's signed receipt in its `_meta`), and the
`isError` result a client gets instead of a call that did not run (`refused`). It asks nobody: what waits for a
decision is `deciding.py`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from agent_approvals._extras import missing_extra

try:
    import anyio
    from mcp import types
    from mcp.client.session import ClientSession
    from mcp.server.context import ServerRequestContext
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "mcp", exc) from exc

from agent_approvals.client import Approval
from agent_approvals.mcp_gateway.marks import Marks
from agent_approvals.mcp_gateway.upstream import Connected
from agent_approvals.receipts import META_KEY
from agent_approvals.schemas import SchemaRefused, problem

log = logging.getLogger("agent_approvals.mcp_gateway")
T = TypeVar("T")
CALL_TIMEOUT = 300.0  # seconds the upstream may take to answer a request (a tools/call: once forwarded)
Context = ServerRequestContext[Any, Any]


DENIAL_META = "io.modelcontextprotocol/authorization"  # SEP-2643's envelope, in an `isError` result's `_meta`


def refused(text: str, *, denied: dict[str, Any] | None = None) -> types.CallToolResult:
    """The `isError` result a client gets instead of a call that did not run; an authorization refusal's with its
    structured denial beside the text (`denied`: `denial(...)`)."""
    result = types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
    return result.model_copy(update={"meta": denied}) if denied else result


def denial(remediation: str, context_id: str = "", *, hint: str = "") -> dict[str, Any]:
    """SEP-2643's authorization denial envelope (provisional, `io.modelcontextprotocol/authorization` in the
    result's `_meta`): `unavailable` for a refusal that stands (a policy, a person's reject, a timeout: the same call
    again is refused), `undisclosed` for one the same call again may pass (a person has not decided yet; the text
    says how), `available` with the `task` hint on a task that waits for a person. `context_id`: the approval, its
    correlation handle."""
    envelope: dict[str, Any] = {"reason": "insufficient_authorization", "remediation": remediation}
    if context_id:
        envelope["authorizationContextId"] = context_id
    if hint:
        envelope["remediationHints"] = [{"type": hint}]
    return {DENIAL_META: envelope}


class NoAnswer(MCPError):
    """The upstream did not answer a request within the gateway's `call_timeout`."""


class Forwarder:
    """The upstream session, as the gateway uses it.

    Args:
        upstream: the connected upstream (`connect`).
        call_timeout: seconds the upstream may take to answer a request (a forwarded call: then `isError`).
        marks: holds an approved call to the files it changes as approved (`Marks.changed`).
    """

    def __init__(self, upstream: Connected, *, call_timeout: float = CALL_TIMEOUT, marks: Marks | None = None) -> None:
        self.upstream = upstream
        self.call_timeout = call_timeout
        self.marks = marks or Marks()
        info = upstream.info
        self.name = info.server_info.name if info is not None else "mcp-upstream"
        self._tools: dict[str, types.Tool] = {}

    def known(self, tools: list[types.Tool]) -> None:
        """Remember the tools a `tools/list` answered (their `inputSchema` checks calls)."""
        self._tools.update({tool.name: tool for tool in tools})

    async def tool(self, name: str) -> types.Tool:
        """The upstream's tool (the list fetched again when it is not known yet)."""
        if name not in self._tools:
            listed = await self.call("tools/list", lambda s: s.list_tools())
            self._tools = {tool.name: tool for tool in listed.tools}
        if name not in self._tools:
            raise MCPError(types.INVALID_PARAMS, f"{self.name} has no tool {name!r}")
        return self._tools[name]

    async def check(self, tool: types.Tool, arguments: Any, *, edited: bool = False) -> types.CallToolResult | None:
        """None when `arguments` may go on; else the `isError` result the client gets instead (logged): they fail
        the tool's `inputSchema`, or the upstream's schema may not be used (`agent_approvals.schemas`: nothing
        fetched or read, bounded, within a deadline). Checked in a thread: the event loop keeps serving."""
        what = "the edited arguments" if edited else "the arguments"
        try:
            wrong = await asyncio.to_thread(problem, arguments, dict(tool.input_schema))
        except SchemaRefused as exc:
            log.error("refused %s on %s: its inputSchema is not used: %s", tool.name, self.name, exc)
            return refused(f"Not run: the inputSchema of {tool.name} is not used: {exc}")
        if wrong is None:
            return None
        log.warning("refused %s on %s: %s do not match its inputSchema: %s", tool.name, self.name, what, wrong)
        return refused(f"Not run: {what} do not match the inputSchema of {tool.name}: {wrong}")

    async def forward(
        self, ctx: Context | None, name: str, arguments: dict[str, Any], approval: Approval | None = None
    ) -> types.CallToolResult:
        """`name(arguments)` on the upstream; an approved call carries the approval's signed receipt in its `_meta`
        (`agent_approvals.receipts.META_KEY`), so the upstream itself may check it (none when the bot signs none,
        nor for an `--allow`ed call: no approval). The upstream's progress goes to `ctx`'s client (a task has none).
        An approved call whose file changed since the approval (`Marks.changed`) is not forwarded: `isError` with
        the reason (its approval is spent; the call made again is asked about with the file as it is now)."""
        changed = "" if approval is None else await self.marks.checked(
            name, dict(self._tools[name].input_schema) if name in self._tools else {}, arguments, approval.artifacts)
        if changed:
            log.warning("not forwarded: %s on %s: %s", name, self.name, changed)
            return refused(f"Not run: {changed}. Call {name} again to be asked with the file as it is now.")
        receipt = approval.receipt if approval is not None else None
        meta = cast("types.RequestParamsMeta", {META_KEY: receipt}) if receipt else None

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            with contextlib.suppress(Exception):  # the upstream's progress, passed on
                if ctx is not None:
                    await ctx.session.report_progress(progress, total, message)

        try:
            return await self.call(f"tools/call {name}",
                                   lambda s: s.call_tool(name, arguments, progress_callback=progress, meta=meta))
        except NoAnswer:  # (logged) the SDK asked the upstream to cancel it
            return refused(f"No result: the upstream did not answer {name} within {self.call_timeout:g} s (the"
                           f" gateway stopped waiting; the call may have run on {self.name}).")

    async def call(self, what: str, call: Callable[[ClientSession], Awaitable[T]]) -> T:
        """`call` on the upstream session; its failures as MCP errors that say what happened."""
        session = self.upstream.session
        if session is None:
            why = "did not start" if self.upstream.info is None else "is no longer connected"
            raise MCPError(types.INTERNAL_ERROR, f"the upstream MCP server {why}: {self.upstream.problem}")
        try:
            with anyio.fail_after(self.call_timeout):
                return await call(session)
        except TimeoutError:
            log.error("the upstream %s did not answer %s within %g s", self.name, what, self.call_timeout)
            raise NoAnswer(types.INTERNAL_ERROR, f"the upstream MCP server {self.name} did not answer {what} within"
                           f" {self.call_timeout:g} s") from None
        except MCPError as exc:
            log.warning("the upstream %s answered %s with an error: %s", self.name, what, exc.message)
            raise MCPError(exc.code, f"the upstream MCP server {self.name}: {exc.message}", exc.data) from None
        except Exception as exc:  # whatever the upstream sent, the client gets a clear error
            log.error("the upstream %s answered %s with something that is not MCP: %s", self.name, what,
                      " ".join(str(exc).split())[:300])
            raise MCPError(types.INTERNAL_ERROR,
                           f"the upstream MCP server {self.name} answered {what} with something that is not MCP"
                           ) from None
