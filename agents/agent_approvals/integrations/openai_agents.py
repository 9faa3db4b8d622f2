"""The OpenAI Agents SDK: tools with `needs_approval` decided by people in Slack (extra `openai-agents`).

    async with ApprovalsClient(url, key, title="weekly digest") as client:
        result = await run_with_approvals(agent, "Email the digest to the team", client=client)

`run_with_approvals` runs `Runner.run`; while the result has `interruptions`, it asks for each one (the tool's
name, its arguments and its JSON schema, on the bot's usual card) and applies the decision to the paused
`RunState`: `approve`, or `reject` with the reviewer's reason as the `rejection_message` the model reads (a
timeout or a cancellation too, saying so). Then it resumes the run, until the run ends.

The SDK runs the call the model made, never other arguments, so the card says the arguments cannot be edited
and Revise offers only feedback, which reaches the model as the tool's output (nothing runs); the model may
call the tool again (that call is asked about again, as a new card).

What a call changes can go on its card (an artefact, `agent_approvals.artifacts`): `artifacts=` maps a tool's name
to a function of the call's arguments that returns its artefact (or a list, or None), e.g.
`{"write_file": lambda a: file_change(a["path"], read(a["path"]), a["content"])}`; the card shows the change and the
receipt binds it. A tool not in the mapping is asked about with its arguments alone.

Durable: give a `store` and a `run_id`, and the paused state (`RunState.to_string()`) is kept there before
anything is asked; every ask carries an idempotency key made of the run id and the call id. If the process
dies while a person decides, `resume(agent, run_id, client=..., store=...)` in another process asks again
(the same approvals: decided ones answer at once), applies the decisions and finishes the run.

Each approved call is used once (`ApprovalsClient.use`, right before the run goes on to it): if the process
died after that, perhaps while the call ran, the resumed run finds the approval used and asks about the call
again, as one that may have run (the card says so; only a person may approve it, no rule): an approval never
runs a call twice by itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from agents.items import ToolApprovalItem
    from agents.run_state import RunState
    from agents.tool import FunctionTool

    from agent_approvals.artifacts import Makers, declared
    from agent_approvals.client import Approval, ApprovalsClient, refusal
    from agent_approvals.state import FileStateStore, StateStore, paused
    from agents import Agent, Runner, RunResult
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "openai-agents", exc) from exc

FRAMEWORK = "OpenAI Agents SDK"
__all__ = ["FileStateStore", "StateStore", "resume", "run_with_approvals"]


async def run_with_approvals(
    agent: Agent[Any],
    input: str | list[Any],
    *,
    client: ApprovalsClient,
    store: StateStore | None = None,
    run_id: str = "",
    within: int | None = None,
    artifacts: Makers | None = None,
    **runner_kwargs: Any,
) -> RunResult:
    """Run `agent` on `input`, every tool call that needs approval decided in Slack (see the module docstring).
    `within`: seconds a decision may take (never longer than the channel allows); `artifacts`: what each tool's
    calls change, by tool name (a function of the arguments)."""
    if store is not None and not run_id:
        raise ValueError("a store keeps paused runs by run_id: give one")
    result = await Runner.run(agent, input, **runner_kwargs)
    return await _until_done(agent, result, client=client, store=store, run_id=run_id,
                             asking=_Asking(within, artifacts), runner_kwargs=runner_kwargs)


async def resume(
    agent: Agent[Any],
    run_id: str,
    *,
    client: ApprovalsClient,
    store: StateStore,
    within: int | None = None,
    artifacts: Makers | None = None,
    **runner_kwargs: Any,
) -> RunResult:
    """Finish a run whose process died while a person decided: from the paused state kept in `store`. A call
    that was approved and running when it died is asked about again, as one that may have run."""
    state = await RunState.from_string(agent, paused(store, run_id))
    asking = _Asking(within, artifacts)
    result = await _step(agent, state, state.get_interruptions(), client=client, run_id=run_id, asking=asking,
                         runner_kwargs=runner_kwargs)
    return await _until_done(agent, result, client=client, store=store, run_id=run_id, asking=asking,
                             runner_kwargs=runner_kwargs)


class _Asking:
    """What every ask of one run carries besides the call: how long it may take, the tools' artefacts."""

    def __init__(self, within: int | None, artifacts: Makers | None) -> None:
        self.within, self.artifacts = within, artifacts

    def options(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {"artifacts": declared(self.artifacts, name, arguments)}
        if self.within is not None:
            options["timeout"] = self.within
        return options


async def _until_done(
    agent: Agent[Any],
    result: RunResult,
    *,
    client: ApprovalsClient,
    store: StateStore | None,
    run_id: str,
    asking: _Asking,
    runner_kwargs: dict[str, Any],
) -> RunResult:
    while result.interruptions:
        state = result.to_state()
        if store is not None:
            store.save(run_id, state.to_string())  # before anyone is asked: a crash from here on can resume
        result = await _step(agent, state, result.interruptions, client=client, run_id=run_id, asking=asking,
                             runner_kwargs=runner_kwargs)
    if store is not None:
        store.delete(run_id)
    return result


async def _step(
    agent: Agent[Any],
    state: RunState[Any, Any],
    items: list[ToolApprovalItem],
    *,
    client: ApprovalsClient,
    run_id: str,
    asking: _Asking,
    runner_kwargs: dict[str, Any],
) -> RunResult:
    """Ask for each paused call, apply its decision to `state` (approve, or reject saying why) and run on.
    Each approved call is used once (`tool_decision`): one whose approval a dead process used is asked again."""
    for item in items:
        decided = await _ask(agent, item, client=client, run_id=run_id, asking=asking)
        if decided.approved:
            state.approve(item)
        else:
            state.reject(item, rejection_message=refusal(decided))
    return await Runner.run(agent, state, **runner_kwargs)


def _call_id(item: ToolApprovalItem) -> str:
    return str(getattr(item.raw_item, "call_id", "") or getattr(item.raw_item, "id", ""))


async def _ask(
    agent: Agent[Any], item: ToolApprovalItem, *, client: ApprovalsClient, run_id: str, asking: _Asking
) -> Approval:
    raw = item.raw_item
    name = str(item.tool_name or getattr(raw, "name", "") or "tool")
    text = getattr(raw, "arguments", None) or "{}"
    arguments = json.loads(text) if isinstance(text, str) else dict(text)
    call_id = _call_id(item)
    who = getattr(item.agent, "name", None) or agent.name
    options: dict[str, Any] = {"agent": f"{who} ({FRAMEWORK})"[:80], **asking.options(name, arguments)}
    key = f"oa-{run_id}-{call_id}" if run_id and call_id else None
    return await client.tool_decision(
        name, arguments, schema=_schema(agent, name), editable=False, idempotency_key=key, **options
    )


def _schema(agent: Agent[Any], name: str) -> dict[str, Any] | None:
    for tool in agent.tools:
        if isinstance(tool, FunctionTool) and tool.name == name:
            return dict(tool.params_json_schema)
    return None
