"""LangGraph: `interrupt()`s answered by people in Slack (extra `langgraph`).

In a node, ask with `interrupt(tool_call(...))` and run exactly what comes back::

    def send(state: State) -> dict[str, Any]:
        answer = interrupt(tool_call("send_email", {"to": state["to"], "body": state["draft"]}, schema=SCHEMA))
        if not answer["approved"]:
            return {"outcome": f"not sent: {answer['reason']}"}
        send_email(**answer["arguments"])  # the approved arguments (a reviewer's edit, approved, included)
        return {"outcome": "sent"}

Then run the graph (compiled with a checkpointer) through `invoke_with_approvals(graph, input, config,
client=...)`: each interrupt this module made becomes a card; its decision resumes the graph with
`Command(resume={interrupt id: answer})`. A Revise that edits the arguments is asked about again, as the
edited call (the bot's rule: a call runs only as approved), and the answer then carries the edited arguments.

Durable with a persistent checkpointer (e.g. `AsyncSqliteSaver`): if the process dies while a person decides,
`resume_with_approvals(graph, config, client=...)` in another process (for instance when the approval's
webhook arrives) asks again for the graph's pending interrupts, by the same idempotency keys (the same
approvals: decided ones answer at once), and resumes the thread. LangGraph runs the node again from its
start on resume, so do side effects only after `interrupt()` returns, as above.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Command, Interrupt

from agent_approvals.client import Approval, ApprovalsClient

FRAMEWORK = "LangGraph"
KIND = "agent_approvals.tool_call"
MAX_EDITS = 5


def tool_call(name: str, arguments: dict[str, Any], *, schema: dict[str, Any] | None = None,
              agent: str = "") -> dict[str, Any]:
    """The value to `interrupt()` with for one tool call that needs a person's approval."""
    request: dict[str, Any] = {"type": KIND, "tool": name, "arguments": dict(arguments)}
    if schema is not None:
        request["schema"] = schema
    if agent:
        request["agent"] = agent
    return request


def answer_of(decided: Approval, arguments: dict[str, Any]) -> dict[str, Any]:
    """What `interrupt()` returns to the node: approved or not, the arguments to run, who, and why."""
    return {
        "approved": decided.approved,
        "status": decided.status,
        "arguments": decided.arguments or arguments,
        "decided_by": decided.decided_by,
        "reason": decided.reason or decided.feedback or decided.status.replace("_", " "),
    }


async def invoke_with_approvals(
    graph: Any, input: Any, config: dict[str, Any], *, client: ApprovalsClient, within: int | None = None
) -> Any:
    """`graph.ainvoke(input, config)`, every interrupt made with `tool_call` answered from Slack, until the
    graph ends or stops at an interrupt it did not make (returned as the graph left it)."""
    result = await graph.ainvoke(input, config)
    return await _until_done(graph, result, config, client=client, within=within)


async def resume_with_approvals(
    graph: Any, config: dict[str, Any], *, client: ApprovalsClient, within: int | None = None
) -> Any:
    """Finish a thread whose process died while a person decided (see the module docstring)."""
    snapshot = await graph.aget_state(config)
    pending = [i for task in snapshot.tasks for i in task.interrupts]
    if not pending:
        raise LookupError("this thread waits for no interrupt (it ended, or never paused)")
    return await _until_done(graph, {"__interrupt__": pending}, config, client=client, within=within)


async def _until_done(graph: Any, result: Any, config: dict[str, Any], *, client: ApprovalsClient,
                      within: int | None) -> Any:
    thread = str(config.get("configurable", {}).get("thread_id", ""))
    while isinstance(result, dict) and result.get("__interrupt__"):
        ours: list[Interrupt] = [i for i in result["__interrupt__"] if _is_request(i.value)]
        if not ours:
            return result  # someone else's interrupt: the caller answers it
        resume = {i.id: await _decide(i, client=client, thread=thread, within=within) for i in ours}
        result = await graph.ainvoke(Command(resume=resume), config)
    return result


def _is_request(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == KIND and isinstance(value.get("arguments"), dict)


async def _decide(item: Interrupt, *, client: ApprovalsClient, thread: str, within: int | None) -> dict[str, Any]:
    request = item.value
    arguments: dict[str, Any] = dict(request["arguments"])
    options: dict[str, Any] = {"agent": f"{request.get('agent') or 'graph'} ({FRAMEWORK})"[:80]}
    if within is not None:
        options["timeout"] = within
    for edit in range(MAX_EDITS + 1):
        key = f"lg-{thread}-{item.id}-{edit}" if thread else None
        asked = await client.request_tool(
            str(request["tool"]), arguments, schema=request.get("schema"), idempotency_key=key, **options
        )
        decided = asked if not asked.pending else await client.wait(asked.id)
        if decided.status == "revised" and decided.arguments and decided.arguments != arguments:
            arguments = dict(decided.arguments)  # an edit: the edited call is asked about again
            continue
        return answer_of(decided, arguments)
    return {"approved": False, "status": "rejected", "arguments": arguments, "decided_by": "",
            "reason": f"the arguments were edited more than {MAX_EDITS} times"}
