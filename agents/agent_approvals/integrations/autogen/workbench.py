"""A Workbench whose tool calls run only when a person approves them: `ApprovalWorkbench(workbench, approver)`.

Wrap any AutoGen `Workbench` (an `McpWorkbench` on an MCP server, a `StaticWorkbench`) and give the
wrapper to an agent instead::

    async with McpWorkbench(StdioServerParams(command="mcp-server-email")) as mcp:
        gated = ApprovalWorkbench(mcp, client, needs_approval=lambda name: not name.startswith("read_"))
        agent = AssistantAgent("assistant", model_client=model, workbench=gated)

Each call of a tool that needs approval is asked about with the tool's name, its exact arguments and
the tool's JSON schema (as the workbench lists it); it runs only when approved, with the arguments
the decision was bound to (an edit is asked about again). A rejection, a timeout or a cancellation is
an error result with the reason, and the tool is not called. Tools that need no approval run as they
would without the wrapper. The same rules as `require_approval` (`tools.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from autogen_core import CancellationToken
    from autogen_core.tools import TextResultContent, ToolResult, ToolSchema, Workbench
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "autogen", exc) from exc
from pydantic import BaseModel

from agent_approvals.approver import ApprovalRequest, Approver
from agent_approvals.integrations.autogen.tools import (
    MAX_EDITS,
    ToolRefusal,
    approve_call,
    schema_problem,
    tool_call_request,
)


class ApprovalWorkbench(Workbench):
    """See the module docstring. `needs_approval(tool name)`: by default every tool needs it."""

    component_type = "workbench"
    component_config_schema = BaseModel

    def __init__(
        self,
        workbench: Workbench,
        approver: Approver,
        *,
        agent: str = "agent",
        needs_approval: Callable[[str], bool] | None = None,
        max_edits: int = MAX_EDITS,
    ) -> None:
        self.inner = workbench
        self._approver = approver
        self._agent = agent
        self._needs_approval = needs_approval or (lambda name: True)
        self._max_edits = max_edits
        self._schemas: dict[str, dict[str, Any]] = {}

    async def list_tools(self) -> list[ToolSchema]:
        tools = await self.inner.list_tools()
        self._schemas = {tool["name"]: dict(tool.get("parameters") or {}) for tool in tools}
        return tools

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
        call_id: str | None = None,
    ) -> ToolResult:
        given: Any = dict(arguments or {})
        if not self._needs_approval(name):
            return await self.inner.call_tool(name, given, cancellation_token, call_id)
        if name not in self._schemas:
            await self.list_tools()

        def request_for(arguments: Any, *, edited_by: str = "", note: str = "") -> ApprovalRequest:
            schema = self._schemas.get(name) or {"type": "object"}
            return tool_call_request(
                name, arguments, schema, agent=self._agent, problem=schema_problem(arguments, schema) or "",
                edited_by=edited_by, note=note,
            )

        approved = await approve_call(
            self._approver, request_for(given), given, request_for, cancellation_token,
            name=name, max_edits=self._max_edits,
        )
        if isinstance(approved, ToolRefusal):
            return ToolResult(name=name, result=[TextResultContent(content=str(approved))], is_error=True)
        return await self.inner.call_tool(name, approved[0], cancellation_token, call_id)

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def reset(self) -> None:
        await self.inner.reset()

    async def save_state(self) -> Mapping[str, Any]:
        return await self.inner.save_state()

    async def load_state(self, state: Mapping[str, Any]) -> None:
        await self.inner.load_state(state)

    def _to_config(self) -> BaseModel:
        raise NotImplementedError("an ApprovalWorkbench holds a live approver: wrap the loaded workbench instead")

    @classmethod
    def _from_config(cls, config: BaseModel) -> ApprovalWorkbench:
        raise NotImplementedError("an ApprovalWorkbench holds a live approver: wrap the loaded workbench instead")
