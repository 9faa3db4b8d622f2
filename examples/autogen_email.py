"""An AutoGen program whose tool calls and human turns are decided by people in Slack, through the
bot's Approvals API: it holds an API key, never the bot's token or Redis.

An assistant drafts an email and calls `send_email`; the call runs only when someone approves it in
Slack (with exactly the approved arguments), and the human's turns are cards too. The cards are the
bot's own: approvers, quorum, reminders, "always allow" rules, the timeout and the audit log apply.

    pip install "./agents[autogen]"
    export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
    python examples/autogen_email.py "Tell bob@example.com that the Q2 prices change on May 1"

The model is MODEL_CONFIG (an AutoGen component config, JSON) or OPENAI_API_KEY (gpt-4o-mini), else
an offline scripted model that writes to the first address in the task. Emails go to OUTBOX_DIR
(default ./outbox), one file each: the demo `send_email` sends nothing. Optional: APPROVALS_CHANNEL
(the channel to ask in; default the key's), APPROVER_USER (the Slack user the program acts for),
INPUT_MODE (always, terminate, never, policy). tests/agents/autogen/test_autogen_over_api.py runs it.

It prints where each card waits as soon as it is posted ("waiting for approval in Slack: <the card's link>"),
each decision as it happens (from the client, e.g. "Slack: send_email rejected by @bob: not yet"), then the
assistant's last words: the scripted model says what the tool answered, so a rejected call never reads as sent.
A bot that does not answer, or refuses the key, is one line on standard error and exit status 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from agent_approvals import ApprovalsClient
from agent_approvals.client import Approval
from agent_approvals.integrations.autogen.input_func import ApprovalUserProxy, make_input_func
from agent_approvals.integrations.autogen.tools import require_approval
from agent_approvals.modes import InputPolicy, ModeGate, parse_mode
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import TextMessage
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    RequestUsage,
)
from autogen_core.tools import FunctionTool
from autogen_ext.models.replay import ReplayChatCompletionClient
from pydantic import BaseModel

DEFAULT_TASK = "Tell bob@example.com that our Q2 prices change on May 1"
SYSTEM = "You write short, polite emails and send them with send_email. Then say what you sent."


def email_tool(outbox: Path) -> FunctionTool:
    """`send_email` for the demo: each email is written to `outbox` as an .eml file; nothing is sent."""

    def send_email(to: str, subject: str, body: str) -> str:  # (a plain function: FunctionTool runs it in a thread)
        message = EmailMessage()
        message["To"], message["Subject"] = to, subject
        message.set_content(body)
        outbox.mkdir(parents=True, exist_ok=True)
        path = outbox / f"{uuid.uuid4().hex[:12]}.eml"
        path.write_bytes(bytes(message))
        return f"Email to {to} written to {path.name}."

    return FunctionTool(send_email, description="Send an email to one recipient. A person approves each one.")


def model_client(env: Mapping[str, str], task: str) -> ChatCompletionClient:
    if env.get("MODEL_CONFIG"):
        with open(env["MODEL_CONFIG"], encoding="utf-8") as config:
            return ChatCompletionClient.load_component(json.load(config))
    if env.get("OPENAI_API_KEY"):
        from autogen_ext.models.openai import OpenAIChatCompletionClient

        return OpenAIChatCompletionClient(model="gpt-4o-mini", api_key=env["OPENAI_API_KEY"])
    from autogen_core import FunctionCall

    to = (re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", task) or ["someone@example.com"])[0]
    arguments = {"to": to, "subject": "Our prices", "body": f"Hello,\n\n{task}.\n\nBest regards"}
    call = CreateResult(
        finish_reason="function_calls",
        content=[FunctionCall(id="call-1", name="send_email", arguments=json.dumps(arguments))],
        usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
        cached=False,
    )
    info: Any = {"vision": False, "function_calling": True, "json_output": False, "family": "unknown",
                 "structured_output": False}
    return ScriptedMailer([call], model_info=info)


class ScriptedMailer(ReplayChatCompletionClient):
    """Offline: calls send_email once, then says what the tool answered (sent, or not run and why)."""

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Any] = (),
        tool_choice: Any = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        told = [r.content for m in messages if isinstance(m, FunctionExecutionResultMessage) for r in m.content]
        if not told:
            return await super().create(messages, tools=tools, tool_choice=tool_choice, json_output=json_output,
                                        extra_create_args=extra_create_args or {},
                                        cancellation_token=cancellation_token)
        words = f"Sent the email: {told[-1]}" if told[-1].startswith("Email to ") else f"Did not send it. {told[-1]}"
        return CreateResult(finish_reason="stop", content=words, cached=False,
                            usage=RequestUsage(prompt_tokens=0, completion_tokens=0))


def show_decision(decided: Approval) -> None:
    """Print a decision as it happens (the client's `on_decided`): what was asked, who decided, why."""
    summary = decided.summary
    if decided.rule:
        summary = summary.replace(f"by rule {decided.rule}", f'by "always allow" rule {decided.rule}', 1)
    what = decided.tool or "the human's turn"
    print(f"Slack: {what} {summary} [{decided.id}]", flush=True)


def outcome(result: TaskResult | None) -> str:
    """The run's result: the assistant's last words, and how the human's turn ended it."""
    if result is None:
        return "cancelled in Slack"
    said = [m.to_text() for m in result.messages if isinstance(m, TextMessage) and m.source == "drafter"]
    human = [m.to_text() for m in result.messages if m.source == "human"]
    ended = f" (the human answered {human[-1].splitlines()[0]!r})" if human else ""
    return (said[-1] if said else "the assistant said nothing") + ended


async def run_team(environ: Mapping[str, str] | None = None, *, task: str = DEFAULT_TASK,
                   on_decided: Any = None, on_waiting: Any = None) -> TaskResult | None:
    """Run the team once; its result (None: cancelled in Slack). `on_decided(approval)`: each decision;
    `on_waiting(approval)`: each card, as soon as it is posted."""
    env = os.environ if environ is None else environ
    async with ApprovalsClient(
        env["AGENT_APPROVALS_URL"],
        env["AGENT_APPROVALS_KEY"],
        title=f"examples/autogen_email.py: {task}",
        channel=env.get("APPROVALS_CHANNEL", ""),
        requester=env.get("APPROVER_USER", ""),
        on_decided=on_decided,
        on_waiting=on_waiting,
    ) as client:
        # One gate for the human's turns and the tool, so an input mode (if any) applies to both.
        approver = ModeGate(client, InputPolicy(mode=parse_mode(env.get("INPUT_MODE"))))
        model = model_client(env, task)
        try:
            outbox = Path(env.get("OUTBOX_DIR") or "outbox")
            send_email = require_approval(email_tool(outbox), approver, agent="drafter")
            drafter = AssistantAgent("drafter", model_client=model, system_message=SYSTEM, tools=[send_email],
                                     reflect_on_tool_use=True)
            human = ApprovalUserProxy("human", input_func=make_input_func(approver))
            team = RoundRobinGroupChat(
                [drafter, human],
                termination_condition=TextMentionTermination("APPROVE", sources=["human"])
                | TextMentionTermination("REJECT", sources=["human"])
                | MaxMessageTermination(20),
            )
            try:
                return await team.run(task=task)
            except RuntimeError as exc:  # AutoGen reports the input function's ApprovalCancelled so
                if "cancelled" in str(exc):
                    return None
                raise
        finally:
            await model.close()


async def main(environ: Mapping[str, str] | None = None, *, task: str = DEFAULT_TASK) -> str:
    """Run the team once; returns how it ended (the text of the last message: the human's answer)."""
    result = await run_team(environ, task=task)
    if result is None:
        return "cancelled in Slack"
    return result.messages[-1].to_text() if result.messages else ""


async def cli(task: str, *, on_waiting: Any = None) -> str:
    """`python examples/autogen_email.py <task…>`: each card and decision printed as it happens, then the run's
    result."""
    return outcome(await run_team(task=task, on_decided=show_decision, on_waiting=on_waiting))


if __name__ == "__main__":
    from example_support import run_or_exit, show_waiting  # (beside this file; imported as a module, it needs none)

    task = " ".join(sys.argv[1:]) or DEFAULT_TASK
    run_or_exit(lambda: asyncio.run(cli(task, on_waiting=show_waiting)), "autogen_email.py")
