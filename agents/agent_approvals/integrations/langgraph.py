"""LangGraph: `interrupt()`s answered by people in Slack (extra `langgraph`), ours and those of langchain's
`HumanInTheLoopMiddleware`.

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

An agent of langchain's `create_agent` with `HumanInTheLoopMiddleware` runs the same way, nothing to change
in it::

    agent = create_agent(model, tools=[send_email], checkpointer=InMemorySaver(), name="mailer",
                         middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})])
    result = await invoke_with_approvals(agent, {"messages": [("user", "Email Bob")]}, config, client=client)

Each action of its interrupt (`HITLRequest`, or in `interrupt_mode="per_call"` each `ToolApprovalRequest`)
becomes a card: the tool's name, its arguments, its JSON schema (from the graph's `ToolNode`) and the agent
(`create_agent(name="mailer")`: "mailer (LangGraph)"; unnamed: "agent (LangGraph)"). Approved, it resumes
with `{"type": "approve"}`; an edit, asked about again and approved, with `{"type": "edit", ...}` and the
edited arguments; a rejection, a timeout, a cancellation or a Revise with feedback only, with
`{"type": "reject", "message": ...}` saying who refused it and why (the model reads it). A tool whose
`allowed_decisions` has no `"edit"` is asked with `editable=False` (the card says its arguments cannot be
edited). Without `"reject"`, a refusal is sent as `"respond"` if that is allowed (the tool does not run; the
model reads the same text); a tool that allows neither cannot be refused through the graph: a refusal raises
`DecisionNotAllowed` and the thread stays paused (nothing ran). Interrupts that are neither ours nor the
middleware's stop the loop: the result is returned as the graph left it, for the caller to answer.

What a call changes can go on its card (an artefact, `agent_approvals.artifacts`): `artifacts=` maps a tool's name
to a function of the call's arguments that returns its artefact (or a list, or None), e.g.
`{"send_email": lambda a: message(a["to"], a["body"])}`. A call with artefacts is asked with `editable=False`: the
graph runs the tool with its arguments, so neither they nor the change made of them (the message's body, a file's
new text, which Revise could edit) may be edited into something else than what runs; Revise sends feedback. A tool
not in the mapping is asked about with its arguments alone.

Durable with a persistent checkpointer (e.g. `AsyncSqliteSaver`): if the process dies while a person decides,
`resume_with_approvals(graph, config, client=...)` in another process (for instance when the approval's
webhook arrives) asks again for the graph's pending interrupts, by the same idempotency keys (made of the
thread id, the interrupt id, the action's place in it and the edit's number: the same approvals, decided
ones answer at once), and resumes the thread. LangGraph runs the node again from its start on resume, so do
side effects only after `interrupt()` returns, as above. Each approval is used once, before the thread resumes
with it (`ApprovalsClient.tool_decision`): a process resuming after one that died then, perhaps while the call
ran, asks about the call again, as one that may have run (only a person may approve it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from langchain_core.utils.function_calling import convert_to_openai_tool
    from langgraph.prebuilt import ToolNode
    from langgraph.types import Command, Interrupt
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "langgraph", exc) from exc

from agent_approvals.artifacts import Makers, declared
from agent_approvals.client import Approval, ApprovalsClient, idempotency_key, refusal

FRAMEWORK = "LangGraph"
KIND = "agent_approvals.tool_call"
MAX_EDITS = 5
TOOL_APPROVAL = "tool_approval"  # the middleware's per-call interrupt (`ToolApprovalRequest`)
UNKNOWN_DECISIONS = ("approve", "reject")  # an action whose allowed decisions are not said


class DecisionNotAllowed(RuntimeError):
    """A person decided what the graph's interrupt cannot be told: most often a refusal of a tool whose
    `allowed_decisions` are only `approve` (and `edit`). The thread stays paused at the interrupt; nothing ran."""

    def __init__(self, tool: str, allowed: list[str], decided: Approval) -> None:
        super().__init__(f"{tool}: {refusal(decided) if not decided.approved else 'approved'}, but the graph "
                         f"allows only {', '.join(allowed) or 'no decision'} for it; the thread stays paused")
        self.tool, self.allowed, self.approval = tool, allowed, decided


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
    graph: Any, input: Any, config: dict[str, Any], *, client: ApprovalsClient, within: int | None = None,
    artifacts: Makers | None = None,
) -> Any:
    """`graph.ainvoke(input, config)`, every interrupt made with `tool_call` or by `HumanInTheLoopMiddleware`
    answered from Slack, until the graph ends or stops at another interrupt (returned as the graph left it).
    `within`: seconds a decision may take (never longer than the channel allows); `artifacts`: what each tool's
    calls change, by tool name (a function of the arguments)."""
    result = await graph.ainvoke(input, config)
    return await _until_done(graph, result, config, client=client, within=within, artifacts=artifacts)


async def resume_with_approvals(
    graph: Any, config: dict[str, Any], *, client: ApprovalsClient, within: int | None = None,
    artifacts: Makers | None = None,
) -> Any:
    """Finish a thread whose process died while a person decided (see the module docstring)."""
    snapshot = await graph.aget_state(config)
    pending = [i for task in snapshot.tasks for i in task.interrupts]
    if not pending:
        raise LookupError("this thread waits for no interrupt (it ended, or never paused)")
    return await _until_done(graph, {"__interrupt__": pending}, config, client=client, within=within,
                             artifacts=artifacts)


async def _until_done(graph: Any, result: Any, config: dict[str, Any], *, client: ApprovalsClient,
                      within: int | None, artifacts: Makers | None) -> Any:
    asker = _Asker(client, thread=str(config.get("configurable", {}).get("thread_id", "")), within=within,
                   graph_name=str(getattr(graph, "name", "") or ""), schemas=_tool_schemas(graph),
                   artifacts=artifacts)
    while isinstance(result, dict) and result.get("__interrupt__"):
        answerable: list[Interrupt] = [i for i in result["__interrupt__"] if _kind(i.value)]
        if not answerable:
            return result  # someone else's interrupt: the caller answers it
        resume = {i.id: await asker.answer(i) for i in answerable}  # by id: several at once, in any order
        result = await graph.ainvoke(Command(resume=resume), config)
    return result


def _kind(value: Any) -> str:
    """Which interrupt `value` is: ours, the middleware's batch or its per-call request; "" for others."""
    if not isinstance(value, dict):
        return ""
    if value.get("type") == KIND and isinstance(value.get("arguments"), dict):
        return "ours"
    if isinstance(value.get("action_requests"), list) and isinstance(value.get("review_configs"), list):
        return "batch"
    if value.get("type") == TOOL_APPROVAL and isinstance(value.get("name"), str) and isinstance(
            value.get("args"), dict):
        return "per_call"
    return ""


@dataclass
class _Asker:
    """Asks about the actions of one thread's interrupts and says each decision as its interrupt wants it."""

    client: ApprovalsClient
    thread: str
    within: int | None
    graph_name: str
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: Makers | None = None  # what each tool's calls change (`artifacts.declared`)

    async def answer(self, item: Interrupt) -> Any:
        """The resume value for `item`."""
        value = item.value
        kind = _kind(value)
        if kind == "ours":
            arguments = dict(value["arguments"])
            decided, arguments = await self._ask(
                str(value["tool"]), arguments, schema=value.get("schema"), editable=True,
                agent=str(value.get("agent") or "graph"), key=item.id,
            )
            return answer_of(decided, arguments)
        if kind == "per_call":
            allowed = _decisions_in(item.response_schema)
            return await self._action(value["name"], value["args"], allowed, key=f"{item.id}-0")
        configs = {c.get("action_name"): c for c in value["review_configs"] if isinstance(c, dict)}
        decisions = []
        for index, action in enumerate(value["action_requests"]):
            name = str(action.get("name", ""))
            allowed = list(configs.get(name, {}).get("allowed_decisions") or UNKNOWN_DECISIONS)
            decisions.append(await self._action(name, action.get("args") or {}, allowed, key=f"{item.id}-{index}"))
        return {"decisions": decisions}  # one per action request, in their order

    async def _action(self, name: str, asked_with: dict[str, Any], allowed: list[str], *,
                      key: str) -> dict[str, Any]:
        """Ask about one of the middleware's actions; its decision (`approve`, `edit`, `reject`, `respond`)."""
        decided, arguments = await self._ask(
            name, dict(asked_with), schema=self.schemas.get(name), editable="edit" in allowed,
            agent=self.graph_name if self.graph_name not in ("", FRAMEWORK) else "agent", key=key,
        )
        if decided.approved:
            if arguments == asked_with and "approve" in allowed:
                return {"type": "approve"}
            if "edit" in allowed:
                return {"type": "edit", "edited_action": {"name": name, "args": arguments}}
        elif "reject" in allowed:
            return {"type": "reject", "message": refusal(decided)}
        elif "respond" in allowed:  # the tool does not run; the model reads this as its result
            return {"type": "respond", "message": refusal(decided)}
        raise DecisionNotAllowed(name, allowed, decided)

    async def _ask(self, name: str, arguments: dict[str, Any], *, schema: dict[str, Any] | None,
                   editable: bool, agent: str, key: str) -> tuple[Approval, dict[str, Any]]:
        """Ask about `name(arguments)` until decided; an edit is asked about again, as the edited call.
        The decision, and the arguments it is about."""
        options: dict[str, Any] = {"agent": f"{agent} ({FRAMEWORK})"[:80]}
        if self.within is not None:
            options["timeout"] = self.within
        for edit in range(MAX_EDITS + 1):
            made = declared(self.artifacts, name, arguments)
            decided = await self.client.tool_decision(  # used once: one a dead process used is asked again
                name, arguments, schema=schema, editable=editable and not made,  # (see `invoke_with_approvals`)
                idempotency_key=self._key(key, edit), artifacts=made, **options
            )
            if editable and decided.status == "revised" and decided.arguments and decided.arguments != arguments:
                arguments = dict(decided.arguments)  # an edit: the edited call is asked about again
                continue
            return decided, arguments
        too_many = Approval(id="", status="rejected", reason=f"the arguments were edited more than {MAX_EDITS} times")
        return too_many, arguments

    def _key(self, key: str, edit: int) -> str | None:
        """The same for the same thread, interrupt, action and edit, in any process (none without a thread)."""
        return idempotency_key("lg", self.thread, key, str(edit)) if self.thread else None


def _decisions_in(schema: Any) -> list[str]:
    """The decision types a per-call interrupt's `response_schema` (JSON schema) allows."""
    if not isinstance(schema, dict):
        return list(UNKNOWN_DECISIONS)
    mapping = (schema.get("discriminator") or {}).get("mapping")
    if isinstance(mapping, dict) and mapping:
        return [str(k) for k in mapping]
    const = ((schema.get("properties") or {}).get("type") or {}).get("const")  # a tool with one decision
    return [str(const)] if const else list(UNKNOWN_DECISIONS)


def _tool_schemas(graph: Any) -> dict[str, dict[str, Any]]:
    """Each tool's JSON schema of its arguments (as its model sees them), from the graph's `ToolNode`s."""
    schemas: dict[str, dict[str, Any]] = {}
    for node in (getattr(graph, "nodes", None) or {}).values():
        bound = getattr(node, "bound", None)
        if isinstance(bound, ToolNode):
            for name, tool in bound.tools_by_name.items():
                try:
                    schemas[name] = dict(convert_to_openai_tool(tool)["function"]["parameters"])
                except (KeyError, TypeError, ValueError):
                    continue  # a tool without a JSON schema: asked without one
    return schemas
