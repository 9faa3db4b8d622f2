"""AutoGen with the call shape of the other integrations: `await run_with_approvals(team, task, client=client)`.

    agent = AssistantAgent("mailer", model_client=model, tools=[send_email])
    result = await run_with_approvals(agent, "Email Bob the new prices", client=client)

Before running, it puts every person's part of the team in Slack: each `AssistantAgent`'s tool calls (the
tools `needs_approval` names; by default all) go through an `ApprovalWorkbench`, each `CodeExecutorAgent`'s
code through `code_approval_func`, each `UserProxyAgent`'s turns through `make_input_func`. Cards name the
agent and "(AutoGen)". Teams nest (a `SocietyOfMindAgent`'s inner team is prepared too). Preparing twice
changes nothing, and tools already wrapped with `require_approval` are not asked about twice.

AutoGen gives no public way to reach a built agent's workbench or approval function, so this sets them on
the agents (the attributes of autogen-agentchat 0.7, which the `autogen` extra pins and the tests use).
Build the agents yourself with `ApprovalWorkbench`, `code_approval_func` and `ApprovalUserProxy` for the
same without that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agent_approvals._extras import missing_extra

try:
    from autogen_agentchat.agents import AssistantAgent, CodeExecutorAgent, SocietyOfMindAgent, UserProxyAgent
    from autogen_agentchat.base import ChatAgent, TaskResult, Team
    from autogen_agentchat.messages import BaseChatMessage
    from autogen_core import CancellationToken
    from autogen_core.tools import StaticWorkbench
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "autogen", exc) from exc

from agent_approvals.approver import Approver
from agent_approvals.integrations.autogen.code import code_approval_func
from agent_approvals.integrations.autogen.input_func import ApprovalUserProxy, make_input_func
from agent_approvals.integrations.autogen.tools import ApprovalRequiredTool
from agent_approvals.integrations.autogen.workbench import ApprovalWorkbench

FRAMEWORK = "AutoGen"
Task = str | BaseChatMessage | Sequence[BaseChatMessage] | None


async def run_with_approvals(
    team: Team | ChatAgent,
    task: Task,
    *,
    client: Approver,
    needs_approval: Callable[[str], bool] | None = None,
    cancellation_token: CancellationToken | None = None,
) -> TaskResult:
    """Prepare `team` (see the module docstring) and run it on `task`. `needs_approval(tool name)`: which
    tools a person approves (default: all)."""
    prepare(team, client, needs_approval=needs_approval)
    return await team.run(task=task, cancellation_token=cancellation_token)


def prepare(team: Team | ChatAgent, client: Approver, *, needs_approval: Callable[[str], bool] | None = None) -> None:
    """Put every person's part of `team` in Slack, in place (see the module docstring)."""
    for agent in _agents(team):
        label = f"{agent.name} ({FRAMEWORK})"
        if isinstance(agent, AssistantAgent):
            agent._workbench = [_gated(bench, client, label, needs_approval) for bench in agent._workbench]
        elif isinstance(agent, CodeExecutorAgent):
            if agent._approval_func is None or not getattr(agent._approval_func, "asks_slack", False):
                approve = code_approval_func(client, author=label)
                approve.asks_slack = True  # type: ignore[attr-defined]
                agent._approval_func, agent._approval_func_is_async = approve, True
        elif isinstance(agent, UserProxyAgent):
            if not isinstance(agent, ApprovalUserProxy):
                agent.__class__ = ApprovalUserProxy  # the same agent, its turn's messages shown on the card
            agent.input_func = make_input_func(client)
            agent._is_async = True


def _agents(team: Team | ChatAgent) -> list[ChatAgent]:
    found: list[ChatAgent] = []
    for member in getattr(team, "_participants", None) or [team]:
        if isinstance(member, SocietyOfMindAgent):
            found.extend(_agents(member._team))
        elif hasattr(member, "_participants"):
            found.extend(_agents(member))  # a nested team
        else:
            found.append(member)
    return found


def _gated(bench: Any, client: Approver, label: str, needs_approval: Callable[[str], bool] | None) -> Any:
    if isinstance(bench, ApprovalWorkbench):
        return bench
    already = set()
    if isinstance(bench, StaticWorkbench):
        already = {tool.name for tool in bench._tools if isinstance(tool, ApprovalRequiredTool)}
    wanted = needs_approval or (lambda name: True)
    return ApprovalWorkbench(
        bench, client, agent=label, needs_approval=lambda name: name not in already and wanted(name)
    )
