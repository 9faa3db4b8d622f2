"""Use the deployed bot's approvals from your own AutoGen program.

An assistant drafts an email and calls `send_email`; the call runs only when someone approves it
in Slack, and the human's turns are cards too. The cards are posted with the bot's token and
decided with the deployed bot's buttons (Approve, Reject, Revise, the timeout), exactly as for
runs started with `/agent`. The program shows up in `/agent status` and can be cancelled with
`/agent cancel`.

Run it next to a deployed bot, with the bot's own variables:

    export SLACK_BOT_TOKEN=xoxb-… APPROVALS_CHANNEL=C0123456789 REDIS_URL=redis://…
    python examples/library_use.py "Tell bob@example.com that the Q2 prices change on May 1"

tests/test_library.py runs it against the local Slack stand-in and a bot worker. The model is
MODEL_CONFIG or OPENAI_API_KEY as for the bot, else the offline demo model. Emails go to
OUTBOX_DIR (default ./outbox), one file each: the demo `send_email` sends nothing.

Optional: APPROVER_USER (a Slack user id the program acts for: self-approval rules apply to them)
and ORIGIN_CHANNEL (the channel whose settings apply and where it is listed; default: the
approvals channel). INPUT_MODE (always, terminate, never, policy) applies an input mode.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping

from agent_approvals.autogen.input_func import ApprovalUserProxy, make_input_func
from agent_approvals.autogen.tools import SendEmailTool, require_approval
from agent_approvals.modes import InputPolicy, ModeGate, parse_mode
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat

from bot.runs.models import load_model_client, resolve_model_config
from bot.runs.slack_approver import SlackApprover
from bot.runs.teams import EMAIL_SYSTEM_MESSAGE, HumanVerdictTermination

DEFAULT_TASK = "Tell bob@example.com that our Q2 prices change on May 1"


async def main(environ: Mapping[str, str] | None = None, *, task: str = DEFAULT_TASK) -> str:
    """Run the team once; returns how it ended (the text of the last message)."""
    env = os.environ if environ is None else environ
    async with SlackApprover.from_env(
        env,
        label=f"examples/library_use.py: {task}",
        requester=env.get("APPROVER_USER", ""),
        origin_channel=env.get("ORIGIN_CHANNEL", ""),
    ) as slack_approver:
        # One gate for the human's turns and the tool, so an input mode (if any) applies to both.
        approver = ModeGate(slack_approver, InputPolicy(mode=parse_mode(env.get("INPUT_MODE"))))
        config = resolve_model_config(
            model_config_path=env.get("MODEL_CONFIG") or None, openai_api_key=env.get("OPENAI_API_KEY") or None
        )
        model = load_model_client(config)
        try:
            send_email = require_approval(SendEmailTool(env.get("OUTBOX_DIR") or "outbox"), approver, agent="drafter")
            drafter = AssistantAgent(
                "drafter",
                model_client=model,
                system_message=EMAIL_SYSTEM_MESSAGE,
                tools=[send_email],
                reflect_on_tool_use=True,
            )
            human = ApprovalUserProxy("human", input_func=make_input_func(approver))
            team = RoundRobinGroupChat(
                [drafter, human],
                termination_condition=HumanVerdictTermination(sources=["human"]) | MaxMessageTermination(20),
            )
            try:
                result = await team.run(task=task)
            except RuntimeError:  # AutoGen reports the input function's ApprovalCancelled as a RuntimeError
                if slack_approver.cancelled:
                    return "cancelled in Slack"
                raise
        finally:
            await model.close()
        return result.messages[-1].to_text() if result.messages else ""


if __name__ == "__main__":
    print(asyncio.run(main(task=" ".join(sys.argv[1:]) or DEFAULT_TASK)))
