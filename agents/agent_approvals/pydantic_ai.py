"""Pydantic AI: tools with `requires_approval` decided by people in Slack (extra `pydantic-ai`).

    agent = Agent(model, output_type=[str, DeferredToolRequests])

    @agent.tool_plain(requires_approval=True)
    def send_email(to: str, body: str) -> str: ...

    result = await run_with_approvals(agent, "Email Bob the new prices", client=client)

`run_with_approvals` runs the agent; while its output is `DeferredToolRequests`, it asks for each call in
`approvals` (the tool's name, arguments and JSON schema, on the bot's usual card) and runs the agent again
with `DeferredToolResults`: `True` for an approved call, `ToolDenied(<the reviewer's reason>)` otherwise (a
timeout or a cancellation too, saying so). A Revise that edits the arguments is asked about again as the
edited call; approved, it runs with them (`ToolApproved(override_args=...)`). External calls
(`DeferredToolRequests.calls`) are not approvals: the result is returned with them for the caller.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai import (
    Agent,
    DeferredToolRequests,
    DeferredToolResults,
    FunctionToolset,
    ToolApproved,
    ToolCallPart,
    ToolDenied,
)

from agent_approvals.client import ApprovalsClient, refusal

FRAMEWORK = "Pydantic AI"
MAX_EDITS = 5


async def run_with_approvals(
    agent: Agent[Any, Any], prompt: str | None, *, client: ApprovalsClient, within: int | None = None,
    **run_kwargs: Any,
) -> Any:
    """Run `agent` on `prompt`, every call that requires approval decided in Slack (see the module docstring).
    `within`: seconds a decision may take (never longer than the channel allows)."""
    result = await agent.run(prompt, **run_kwargs)
    while isinstance(result.output, DeferredToolRequests) and result.output.approvals and not result.output.calls:
        results = DeferredToolResults()
        for call in result.output.approvals:
            results.approvals[call.tool_call_id] = await _decide(agent, call, client=client, within=within)
        run_kwargs.pop("message_history", None)
        result = await agent.run(message_history=result.all_messages(), deferred_tool_results=results, **run_kwargs)
    return result


async def _decide(
    agent: Agent[Any, Any], call: ToolCallPart, *, client: ApprovalsClient, within: int | None
) -> bool | ToolApproved | ToolDenied:
    name = call.tool_name
    asked_with = call.args_as_dict()
    arguments = dict(asked_with)
    options: dict[str, Any] = {"agent": f"{agent.name or 'agent'} ({FRAMEWORK})"[:80]}
    if within is not None:
        options["timeout"] = within
    for _ in range(MAX_EDITS + 1):
        asked = await client.request_tool(name, arguments, schema=_schema(agent, name), **options)
        decided = asked if not asked.pending else await client.wait(asked.id)
        if decided.status == "revised" and decided.arguments and decided.arguments != arguments:
            arguments = dict(decided.arguments)  # an edit: the edited call is asked about again
            continue
        if not decided.approved:
            return ToolDenied(refusal(decided))
        return True if arguments == asked_with else ToolApproved(override_args=arguments)
    return ToolDenied(f"Not run: the arguments of {name} were edited more than {MAX_EDITS} times.")


def _schema(agent: Agent[Any, Any], name: str) -> dict[str, Any] | None:
    for toolset in agent.toolsets:
        if isinstance(toolset, FunctionToolset) and name in toolset.tools:
            return dict(toolset.tools[name].tool_def.parameters_json_schema)
    return None
