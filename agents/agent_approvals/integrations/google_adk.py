"""Google's Agent Development Kit (ADK): tool confirmations answered by people in Slack (extra `google-adk`).

    gate = approval_gate(approvals, tools={"send_email"})
    agent = LlmAgent(name="mailer", model=..., tools=[send_email], before_tool_callback=gate)
    runner = Runner(agent=agent, app_name="mail", session_service=SqliteSessionService("sessions.db"))
    events = await run_with_approvals(runner, user_id="u1", session_id="s1", new_message=message, client=approvals)

ADK pauses a call that needs confirmation (`FunctionTool(require_confirmation=...)`, or a tool calling
`tool_context.request_confirmation(hint, payload)`) with an `adk_request_confirmation` function call, and goes
on when it gets that call's function response. `run_with_approvals` asks for each such call in Slack (the
tool's name and arguments on the card), waits as long as the person takes (the card's timeout bounds it), and
answers with `{"confirmed": ..., "payload": {"approval_id", "arguments", "refusal"}}`: the payload carries the
approval's arguments for tools that read it, and a refusal's words (who, why, edited arguments to use
instead: an edit is a revision, asked about again when the model calls with them) for the model.

The gate (`approval_gate`, the agent's `before_tool_callback`) is what no tool runs past: a gated call runs
only with a confirmation naming an approval that the API shows approved for exactly this tool and these
arguments (canonical JSON), spent there and then (`ApprovalsClient.use`: once, across processes). A call with
no confirmation yet is paused for one (so a gated tool needs no `require_confirmation` of its own); a forged
`confirmed: true`, an approval for other arguments, a used one, or any error, is refused.

Durable: the paused call lives in ADK's own session service (e.g. `SqliteSessionService`,
`DatabaseSessionService`). Every ask carries an idempotency key made of the session and the call's id, so
after a process restart `run_with_approvals(runner, user_id=..., session_id=..., new_message=None, client=...)`
finds the unanswered confirmations in the session, finds the same cards (decided ones answer at once), and
finishes the run. A call whose approval the dead process spent (it may have run) is refused, not run again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from google.adk.events import Event
    from google.adk.runners import Runner
    from google.adk.tools.base_tool import BaseTool
    from google.adk.tools.tool_context import ToolContext
    from google.genai import types

    from agent_approvals.approver import canonical_json
    from agent_approvals.client import Approval, ApprovalsClient, call_key, refusal
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "google-adk", exc) from exc

FRAMEWORK = "Google ADK"
CONFIRMATION = "adk_request_confirmation"
__all__ = ["CONFIRMATION", "approval_gate", "run_with_approvals"]

log = logging.getLogger("agent_approvals.google_adk")

Gate = Callable[[BaseTool, dict[str, Any], ToolContext], Awaitable[dict[str, Any] | None]]


async def run_with_approvals(
    runner: Runner,
    *,
    user_id: str,
    session_id: str,
    new_message: types.Content | None,
    client: ApprovalsClient,
    within: int | None = None,
) -> list[Event]:
    """Run `new_message` in the session, answering every tool confirmation from Slack, until the run asks for
    none; the events it made. With `new_message=None`, finish a session whose process died while a person
    decided (its unanswered confirmations first)."""
    events: list[Event] = []
    session = await runner.session_service.get_session(app_name=runner.app_name, user_id=user_id,
                                                       session_id=session_id)
    waiting = _unanswered(session.events if session is not None else [])
    later = new_message
    message = new_message
    if waiting:
        message = await _answer(waiting, client=client, session_id=session_id, within=within)
    else:
        later = None
    while message is not None:
        batch = [event async for event in runner.run_async(user_id=user_id, session_id=session_id,
                                                            new_message=message)]
        events += batch
        waiting = _unanswered(batch)
        if waiting:
            message = await _answer(waiting, client=client, session_id=session_id, within=within)
        else:
            message, later = later, None
    return events


def approval_gate(client: ApprovalsClient, *, tools: Collection[str] | None = None) -> Gate:
    """The `before_tool_callback` that no gated tool runs past (all tools, or those `tools` names): see the
    module docstring. Chain it first when the agent has callbacks of its own."""

    async def gate(tool: BaseTool, args: dict[str, Any], tool_context: ToolContext) -> dict[str, Any] | None:
        if tools is not None and tool.name not in tools:
            return None
        confirmation = tool_context.tool_confirmation
        if confirmation is None:
            tool_context.request_confirmation(hint=f"Asked in Slack: may {tool.name} run with these arguments?")
            tool_context.actions.skip_summarization = True
            return {"error": "Waiting for approval in Slack."}
        payload = confirmation.payload if isinstance(confirmation.payload, dict) else {}
        if not confirmation.confirmed:
            return {"error": str(payload.get("refusal") or "Not run: rejected.")}
        try:
            return await _spend(client, tool.name, dict(args), str(payload.get("approval_id") or ""))
        except Exception as exc:  # never fail open
            log.warning("%s: not run: %s", tool.name, exc)
            return {"error": f"Not run: the approval could not be checked ({type(exc).__name__})."}

    return gate


async def _spend(client: ApprovalsClient, name: str, args: dict[str, Any], approval_id: str) -> dict[str, Any] | None:
    """None (run it) only when `approval_id` is approved for exactly `name(args)` and this is its one use."""
    if not approval_id:
        return {"error": "Not run: confirmed without an approval from Slack."}
    approval = await client.get(approval_id)
    if not approval.approved:
        return {"error": refusal(approval) if not approval.pending else "Not run: the approval is still pending."}
    if approval.tool != name or canonical_json(approval.arguments) != canonical_json(args):
        return {"error": "Not run: the approval is for another call."}
    used = await client.spend(approval_id, token=f"use-{uuid.uuid4().hex}")
    if not used.used:
        return {"error": used.refusal}
    return None


def _unanswered(events: list[Event]) -> list[types.FunctionCall]:
    """The confirmation requests in `events` that no later event answered."""
    asked: dict[str, types.FunctionCall] = {}
    for event in events:
        for call in event.get_function_calls():
            if call.name == CONFIRMATION and call.id:
                asked[call.id] = call
        for response in event.get_function_responses():
            if response.id:
                asked.pop(response.id, None)
    return list(asked.values())


async def _answer(
    calls: list[types.FunctionCall], *, client: ApprovalsClient, session_id: str, within: int | None
) -> types.Content:
    """The user's message answering each confirmation request, as decided in Slack."""
    parts = []
    for call in calls:
        original = dict((call.args or {}).get("originalFunctionCall") or {})
        name = str(original.get("name") or "")
        arguments = dict(original.get("args") or {})
        decided = await _decision(client, name, arguments, f"{session_id}-{original.get('id') or call.id}", within)
        payload: dict[str, Any] = {"approval_id": decided.id, "arguments": decided.arguments or arguments}
        if not decided.approved:
            payload["refusal"] = refusal(decided)
        response = {"confirmed": decided.approved, "payload": payload}
        parts.append(types.Part(function_response=types.FunctionResponse(id=call.id, name=CONFIRMATION,
                                                                         response=response)))
    return types.Content(role="user", parts=parts)


async def _decision(client: ApprovalsClient, name: str, arguments: dict[str, Any], scope: str,
                    within: int | None) -> Approval:
    options: dict[str, Any] = {"agent": FRAMEWORK}
    if within is not None:
        options["timeout"] = within
    asked = await client.request_tool(name, arguments, idempotency_key=call_key("adk", scope, name, arguments),
                                      **options)
    return asked if not asked.pending else await client.wait(asked.id)
