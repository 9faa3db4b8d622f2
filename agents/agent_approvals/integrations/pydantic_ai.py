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

Durable: give a `store` (`FileStateStore(directory)`, or any `StateStore`) and a `run_id`, and the paused run
(its message history, `result.all_messages_json()`, with the ids of the calls awaiting approval) is kept there
before anything is asked; every ask carries an idempotency key made of the run id, the model's turn and the
call id (an edited call's ask: also how many edits and a digest of the edited arguments). If the process dies
while a person decides, `resume(agent, run_id, client=..., store=...)` in another process loads the history,
asks again (the same approvals, by the same keys: decided ones answer at once, no second card), runs the agent
on with the decisions (`message_history=`, `deferred_tool_results=`) until it ends, and deletes the kept run.
The kept run also holds `within` and the agent's name as asked; the resuming client must ask as the first one
did (the same title and channel): the API refuses a key reused with another body (409).
`run_id` here names the kept run; it is not passed to `Agent.run` (whose own `run_id` must differ per run).
Each approved call is used once (`ApprovalsClient.use`, right before the run goes on with it): a process that
died after that, perhaps while the call ran, is resumed asking about the call again, as one that may have run
(the card says so; only a person may approve it, no rule): an approval never runs a call twice by itself.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from pydantic_ai import (
        Agent,
        DeferredToolRequests,
        DeferredToolResults,
        FunctionToolset,
        ToolApproved,
        ToolCallPart,
        ToolDenied,
    )
    from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "pydantic-ai", exc) from exc

from agent_approvals.client import ApprovalsClient, idempotency_key, refusal
from agent_approvals.state import FileStateStore, StateStore, paused_json

FRAMEWORK = "Pydantic AI"
MAX_EDITS = 5
STATE_VERSION = 1
__all__ = ["FileStateStore", "StateStore", "resume", "run_with_approvals"]


async def run_with_approvals(
    agent: Agent[Any, Any],
    prompt: str | None,
    *,
    client: ApprovalsClient,
    store: StateStore | None = None,
    run_id: str = "",
    within: int | None = None,
    **run_kwargs: Any,
) -> Any:
    """Run `agent` on `prompt`, every call that requires approval decided in Slack (see the module docstring).
    `within`: seconds a decision may take (never longer than the channel allows). With a `store`, the paused
    run is kept under `run_id` until the run ends, for `resume` in another process."""
    if store is not None and not run_id:
        raise ValueError("a store keeps paused runs by run_id: give one")
    result = await agent.run(prompt, **run_kwargs)
    return await _until_done(agent, result, client=client, store=store, run_id=run_id, within=within,
                             run_kwargs=run_kwargs)


async def resume(
    agent: Agent[Any, Any],
    run_id: str,
    *,
    client: ApprovalsClient,
    store: StateStore,
    within: int | None = None,
    **run_kwargs: Any,
) -> Any:
    """Finish a run whose process died while a person decided: from the paused run kept in `store` (the same
    `agent`, with the same tools). `within` defaults to the one the run was started with."""
    kept = paused_json(store, run_id, version=STATE_VERSION)
    messages = ModelMessagesTypeAdapter.validate_json(json.dumps(kept["messages"]))
    within = kept.get("within") if within is None else within
    calls = _pending(messages, [str(i) for i in kept["approvals"]])
    label = str(kept.get("agent") or _label(agent))  # as first asked: the same ask, by the same key
    results = await _decide_all(agent, messages, calls, client=client, run_id=run_id, label=label, within=within)
    _continuing(run_kwargs)
    result = await agent.run(message_history=messages, deferred_tool_results=results, **run_kwargs)
    return await _until_done(agent, result, client=client, store=store, run_id=run_id, within=within,
                             run_kwargs=run_kwargs)


async def _until_done(
    agent: Agent[Any, Any],
    result: Any,
    *,
    client: ApprovalsClient,
    store: StateStore | None,
    run_id: str,
    within: int | None,
    run_kwargs: dict[str, Any],
) -> Any:
    _continuing(run_kwargs)
    while isinstance(result.output, DeferredToolRequests) and result.output.approvals and not result.output.calls:
        messages: list[ModelMessage] = result.all_messages()
        if store is not None:  # before anyone is asked: a crash from here on can resume
            kept = {
                "version": STATE_VERSION,
                "messages": json.loads(result.all_messages_json()),
                "approvals": [call.tool_call_id for call in result.output.approvals],
                "within": within,
                "agent": _label(agent),
            }
            store.save(run_id, json.dumps(kept))
        results = await _decide_all(agent, messages, result.output.approvals, client=client, run_id=run_id,
                                    label=_label(agent), within=within)
        result = await agent.run(message_history=messages, deferred_tool_results=results, **run_kwargs)
    if store is not None:
        store.delete(run_id)
    return result


def _continuing(run_kwargs: dict[str, Any]) -> None:
    """A run on from a paused one takes its history from it: not the first run's history or conversation."""
    run_kwargs.pop("message_history", None)
    run_kwargs.pop("conversation", None)


def _pending(messages: list[ModelMessage], ids: list[str]) -> list[ToolCallPart]:
    """The calls awaiting approval, by id, from the history's last response (where a paused run stopped)."""
    last = next((m for m in reversed(messages) if isinstance(m, ModelResponse)), None)
    calls = {call.tool_call_id: call for call in (last.tool_calls if last is not None else [])}
    missing = [i for i in ids if i not in calls]
    if missing:
        raise ValueError(f"the kept history's last response has no tool calls {missing}")
    return [calls[i] for i in ids]


async def _decide_all(
    agent: Agent[Any, Any],
    messages: list[ModelMessage],
    calls: list[ToolCallPart],
    *,
    client: ApprovalsClient,
    run_id: str,
    label: str,
    within: int | None,
) -> DeferredToolResults:
    turn = sum(isinstance(m, ModelResponse) for m in messages)  # a later turn may reuse a call id: not its key
    results = DeferredToolResults()
    for call in calls:
        key = f"pa-{run_id}-{turn}-{call.tool_call_id}" if run_id else None
        results.approvals[call.tool_call_id] = await _decide(
            agent, call, client=client, key=key, label=label, within=within
        )
    return results


async def _decide(
    agent: Agent[Any, Any],
    call: ToolCallPart,
    *,
    client: ApprovalsClient,
    key: str | None,
    label: str,
    within: int | None,
) -> bool | ToolApproved | ToolDenied:
    name = call.tool_name
    asked_with = call.args_as_dict()
    arguments = dict(asked_with)
    options: dict[str, Any] = {"agent": label}
    if within is not None:
        options["timeout"] = within
    for edits in range(MAX_EDITS + 1):
        idempotency_key = None if key is None else _idempotency_key(key, edits, arguments)
        decided = await client.tool_decision(
            name, arguments, schema=_schema(agent, name), idempotency_key=idempotency_key, **options
        )
        if decided.status == "revised" and decided.arguments and decided.arguments != arguments:
            arguments = dict(decided.arguments)  # an edit: the edited call is asked about again
            continue
        if not decided.approved:
            return ToolDenied(refusal(decided))
        return True if arguments == asked_with else ToolApproved(override_args=arguments)
    return ToolDenied(f"Not run: the arguments of {name} were edited more than {MAX_EDITS} times.")


def _idempotency_key(key: str, edits: int, arguments: dict[str, Any]) -> str:
    """The call's ask after `edits` edits: the same in every process that resumes the run, another for each
    edit (its number and a digest of the edited arguments)."""
    if not edits:
        return idempotency_key(key)
    edited = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    return idempotency_key(key, f"e{edits}", hashlib.sha256(edited.encode()).hexdigest()[:12])


def _label(agent: Agent[Any, Any]) -> str:
    """Who asks, as the card names it (an agent without a name gets the one `Agent.run` infers)."""
    return f"{agent.name or 'agent'} ({FRAMEWORK})"[:80]


def _schema(agent: Agent[Any, Any], name: str) -> dict[str, Any] | None:
    for toolset in agent.toolsets:
        if isinstance(toolset, FunctionToolset) and name in toolset.tools:
            return dict(toolset.tools[name].tool_def.parameters_json_schema)
    return None
