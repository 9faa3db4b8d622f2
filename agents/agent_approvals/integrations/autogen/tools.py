"""Tool calls that run only when a human approves them: `require_approval(tool, approver)`.

Wrap any AutoGen tool (`BaseTool`, `FunctionTool`, ...) and give the wrapper to an agent instead::

    send = require_approval(FunctionTool(send_email, description="Send an email"), approver, agent="drafter")
    agent = AssistantAgent("drafter", model_client=client, tools=[send], reflect_on_tool_use=True)

Every call asks `approver` with the tool's name and its exact arguments (kind "tool_call"). The
tool runs only when approved, and only with arguments whose digest (`agent_approvals.approver.digest_of`) is
the one the decision was bound to. A rejection returns "Not run: rejected by <who>: <reason>" to the model
instead of running (`agent_approvals.approver.refusal`: the bot's words, as every integration prints them). A
revision either edits the arguments (they are validated against the tool's schema and asked about again, as a new
request) or sends feedback to the model without running.
Arguments from the model that fail the tool's schema are shown with the problem, and cannot be
approved as they are.

Tool-call (and code) approvals carry no checkpoint of the team: a call half-way through cannot be
resumed by another process. If the one waiting dies, the worker that adopts the run goes on from the
run's last checkpoint (or its task), and the agent asks again: the call still runs only once approved.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, cast

from agent_approvals._extras import missing_extra

try:
    from autogen_core import CancellationToken
    from autogen_core.tools import BaseTool, Tool
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "autogen", exc) from exc
from pydantic import BaseModel, ValidationError

from agent_approvals.approver import (
    ApprovalRequest,
    Approver,
    Decision,
    ask_within_a_call,
    digest_of,
    edited_arguments,
    ledger_of,
    pretty_json,
    refusal,
    tell_automatic,
)
from agent_approvals.schemas import schema_problem

log = logging.getLogger(__name__)

ApproverSource = Approver | Callable[[], Approver]
MAX_EDITS = 5  # rounds of edited arguments for one call
_PROBLEM_LIMIT = 500


class ToolRefusal(str):
    """What a tool returns to the model instead of running (rejected, revised, refused)."""

    __slots__ = ()


class RecordedResult(str):
    """What a call that already ran returned, given to the model again instead of running it twice
    (the run was taken over and replayed from a checkpoint; see `agent_approvals.approver.SideEffectLedger`)."""

    __slots__ = ()


def tool_call_request(
    name: str,
    arguments: Any,
    schema: Mapping[str, Any],
    *,
    agent: str,
    problem: str = "",
    edited_by: str = "",
    note: str = "",
) -> ApprovalRequest:
    """The request for one call of tool `name`: its arguments as shown and bound by their digest, the
    tool's schema, why they cannot run (`problem`), and who edited them into these."""
    shown = pretty_json(arguments)
    why = f"arguments edited by {edited_by}" + (f": {note}" if note else "") if edited_by else ""
    return ApprovalRequest(
        approval_id=str(uuid.uuid4()),
        proposal=shown,
        author=agent,
        kind="tool_call",
        tool_name=name,
        arguments=shown,
        arguments_schema=json.dumps(dict(schema), ensure_ascii=False),
        digest=digest_of(arguments),
        schema_error=problem,
        why=why[:500],
        edited_by=edited_by,
    )


RequestFor = Callable[..., ApprovalRequest]  # (arguments, *, edited_by, note) -> the request to ask


async def approve_call(
    approver: Approver,
    request: ApprovalRequest,
    arguments: Any,
    request_for: RequestFor,
    cancellation_token: CancellationToken | None,
    *,
    name: str,
    max_edits: int = MAX_EDITS,
) -> tuple[Any, ApprovalRequest, Decision] | ToolRefusal:
    """Ask until a decision lets the call run: (the arguments to run, their request, the decision), each
    edit of the arguments asked about again as a new request; or what to tell the model instead. Runs
    nothing: the arguments returned are bound to the decision by their digest."""
    for _ in range(max_edits + 1):
        decision = await ask_within_a_call(approver, request, cancellation_token)
        edit = edited_arguments(decision)
        if edit is not None:
            try:
                arguments = json.loads(edit[0])
            except ValueError:
                who = decision.who or "a reviewer"
                return ToolRefusal(f"not run: the edited arguments from {who} are not valid JSON")
            request = request_for(arguments, edited_by=decision.who or "a reviewer", note=edit[1])
            continue
        if not decision.approves:
            return ToolRefusal(refusal(decision))
        if request.schema_error:  # approve is not offered for these; refuse it if it came anyway
            rule = f"refused: the arguments do not match the schema of {name} ({request.schema_error})"
            await _refused(approver, request, rule)
            return ToolRefusal(rule)
        bound = decision.digest or request.digest
        if bound != digest_of(arguments):
            rule = (
                f"refused: the approval was bound to other arguments than the call about to run (digest"
                f" mismatch), so {name} did not run"
            )
            await _refused(approver, request, rule)
            return ToolRefusal(rule)
        return arguments, request, decision
    return ToolRefusal(f"not run: the arguments of {name} were edited more than {max_edits} times")


class ApprovalRequiredTool(BaseTool[BaseModel, Any]):
    """A tool that asks an `Approver` before each call (see the module docstring)."""

    def __init__(self, tool: Tool, approver: ApproverSource, *, agent: str = "agent", max_edits: int = MAX_EDITS):
        super().__init__(
            args_type=tool.args_type(), return_type=tool.return_type(), name=tool.name, description=tool.description
        )
        self._tool = tool
        self._approver = approver
        self._agent = agent
        self._max_edits = max_edits

    @property
    def schema(self) -> Any:  # the model sees exactly the wrapped tool
        return self._tool.schema

    @property
    def parameters_schema(self) -> dict[str, Any]:
        return dict(self._tool.schema.get("parameters") or {"type": "object", "properties": {}})

    def approver(self) -> Approver:
        source = self._approver
        if hasattr(source, "request"):
            return cast(Approver, source)
        return source()

    def problem(self, arguments: Any) -> str | None:
        """Why these arguments cannot run: the JSON schema first, then the tool's own validation."""
        found = schema_problem(arguments, self.parameters_schema)
        if found is not None:
            return found
        try:
            self._tool.args_type().model_validate(arguments)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "/".join(str(part) for part in first.get("loc", ()))
            return (f"{where}: {first.get('msg')}" if where else str(first.get("msg")))[:_PROBLEM_LIMIT]
        return None

    def request_for(self, arguments: Any, *, edited_by: str = "", note: str = "") -> ApprovalRequest:
        return tool_call_request(
            self.name, arguments, self.parameters_schema, agent=self._agent, problem=self.problem(arguments) or "",
            edited_by=edited_by, note=note,
        )

    async def run(self, args: BaseModel, cancellation_token: CancellationToken) -> Any:
        return await self.run_json(args.model_dump(), cancellation_token)

    async def run_json(
        self, args: Mapping[str, Any], cancellation_token: CancellationToken, call_id: str | None = None
    ) -> Any:
        approver = self.approver()
        ledger = ledger_of(approver)
        arguments: Any = dict(args) if isinstance(args, Mapping) else args
        request = self.request_for(arguments)
        if ledger is not None:
            past = await ledger.recall(request)
            if past is not None and past.earlier:
                if past.state == "done":  # it ran before the run was taken over: not asked, not run again
                    return RecordedResult(past.result)
                request = replace(
                    request,
                    maybe_ran=True,
                    why=f"this exact call was approved{f' by {past.approved_by}' if past.approved_by else ''} and"
                    " started on a worker that stopped before it finished: it may have run. Approve only if"
                    " running it again is safe.",
                )
        approved = await approve_call(
            approver, request, arguments, self.request_for, cancellation_token,
            name=self.name, max_edits=self._max_edits,
        )
        if isinstance(approved, ToolRefusal):
            return approved
        arguments, request, decision = approved
        if ledger is not None and not await ledger.begin(request, decision):
            return ToolRefusal(f"not run: this worker no longer runs this task, so {self.name} did not run here")
        result = await self._tool.run_json(arguments, cancellation_token, call_id=call_id)
        if ledger is not None:
            await ledger.done(request, self.return_value_as_string(result))
        return result

    def return_value_as_string(self, value: Any) -> str:
        if isinstance(value, ToolRefusal | RecordedResult):
            return str(value)
        return self._tool.return_value_as_string(value)

    async def save_state_json(self) -> Mapping[str, Any]:
        return await self._tool.save_state_json()

    async def load_state_json(self, state: Mapping[str, Any]) -> None:
        await self._tool.load_state_json(state)


def require_approval(tool: Tool, approver: ApproverSource, *, agent: str = "agent") -> ApprovalRequiredTool:
    """`tool`, running only when `approver` (or the approver a zero-argument factory returns) approves.

    Args:
        tool: any AutoGen tool.
        approver: who decides: an `Approver` (a `ModeGate` to apply the run's input mode), or a
            factory called at each call.
        agent: the name of the agent that calls it, shown on the card.
    """
    return ApprovalRequiredTool(tool, approver, agent=agent)


async def _refused(approver: Approver, request: ApprovalRequest, rule: str) -> None:
    """An approved call refused without a person (`rule`): the approver told, if it listens, else a warning."""
    if not await tell_automatic(approver, "auto_rejected", request, rule=rule):
        log.warning("auto_rejected %s: %s", request.approval_id, rule)


__all__ = [
    "ApprovalRequiredTool",
    "RecordedResult",
    "ToolRefusal",
    "require_approval",
    "schema_problem",
]
