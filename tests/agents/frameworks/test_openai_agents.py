"""The OpenAI Agents SDK integration (`agent_approvals.integrations.openai_agents`) against a real worker: an `Agent`
whose
`send_email` tool has `needs_approval`, driven by the SDK's own scripted model (no network); people decide on
the bot's cards (approve, reject, timeout and rule: tests/agents/frameworks/test_contract.py). The card offers no
edit and a revision's feedback reaches the model; a run whose process is killed -9 while a person decides is finished by
`resume` in another process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from agent_approvals import ApprovalsClient

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import FIXED_ARGUMENTS
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts
from tests.support.frameworks import EMAIL
from tests.support.frameworks import openai_last_tool_output as last_tool_output
from tests.support.frameworks import openai_mailer as mailer
from tests.support.hitl import (
    click,
    killed_then_resumed,
    killed_while_the_call_runs,
    line_written,
    nth_card,
    open_modal,
)

pytestmark = pytest.mark.slow  # its test pays the OpenAI Agents SDK's import: 2.9 s of CPU (slow.py)

ROOT = Path(__file__).resolve().parents[3]


async def test_the_card_offers_no_edit_and_a_revision_reaches_the_model(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """The SDK runs only the call the model made: the card says so, Revise has no arguments to edit, and the
    reviewer's feedback reaches the model, whose next call is asked about again."""
    from agent_approvals.integrations.openai_agents import run_with_approvals  # lazily: tests/support/frameworks.py
    from agents.testing import assistant_message, function_call

    bot, key = emailer
    sent: list[dict[str, str]] = []
    revised = {**EMAIL, "to": "carol@example.com"}
    agent, model = mailer(sent, [function_call("send_email", revised, call_id="call-2")], [assistant_message("Sent.")])
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        running = asyncio.create_task(run_with_approvals(agent, "Tell Bob", client=client))
        first = await nth_card(slack, 1)
        assert FIXED_ARGUMENTS in block_texts(first)
        view = await open_modal(slack, first, user=BOB)
        assert [b.get("block_id") for b in view["view"]["blocks"] if b["type"] == "input"] == ["feedback"]
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "Send it to Carol instead"}}
        )
        second = await nth_card(slack, 2)  # the model called again, as the feedback asked: asked again
        assert "carol@example.com" in block_texts(second)
        assert last_tool_output(model) == "Not run: @bob asked for a revision. Send it to Carol instead"
        await click(slack, second, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
    assert sent == [revised] and result.final_output == "Sent."


PROGRAM = """
import asyncio, json, sys
from pathlib import Path
from agents import Agent, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from agent_approvals import ApprovalsClient
from agent_approvals.integrations.openai_agents import FileStateStore, resume, run_with_approvals

url, key, states, outbox, mode = sys.argv[1:6]
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}

@function_tool(needs_approval=True)
async def send_email(to: str, body: str) -> str:
    \"\"\"Send an email to one recipient.\"\"\"
    with open(outbox, "a") as out:
        out.write(json.dumps({"to": to, "body": body}) + "\\n")
    if mode == "hang":  # the process dies while the approved call runs
        await asyncio.Event().wait()
    return f"sent to {to}"

async def main() -> None:
    steps = [[assistant_message("Done.")]]
    if mode in ("start", "hang"):
        steps.insert(0, [function_call("send_email", EMAIL, call_id="call-1")])
    agent = Agent(name="mailer", instructions="Send it.", tools=[send_email], model=ScriptedModel(steps))
    async with ApprovalsClient(url, key, title="price update") as client:
        store = FileStateStore(states)
        if mode in ("start", "hang"):
            result = await run_with_approvals(agent, "Tell Bob", client=client, store=store, run_id="nightly-42")
        else:
            result = await resume(agent, "nightly-42", client=client, store=store)
    print(json.dumps({"final": result.final_output}))

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_run_killed_9_while_a_person_decides_is_resumed_in_another_process(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    states, outbox = tmp_path / "states", tmp_path / "outbox.jsonl"
    printed = await killed_then_resumed(
        slack, program, [bot.url, key, str(states), str(outbox)], paused=lambda: list(states.glob("*.json")),
        env={"OPENAI_AGENTS_DISABLE_TRACING": "1"},  # offline: no trace export
    )
    assert printed == [{"final": "Done."}]
    assert [json.loads(line) for line in outbox.read_text().splitlines()] == [EMAIL]  # once
    assert list(states.glob("*.json")) == []  # the ended run is no longer kept
    assert len(slack.messages(APPROVALS)) == 1  # the resumed process asked for the same approval: no second card


@pytest.mark.slow
async def test_a_call_running_when_its_process_died_is_asked_again_as_one_that_may_have_run(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """Killed -9 while the approved call runs: the resumed run cannot know whether it ran, so a person is
    asked again (the card says it may have run; no rule may approve it) and nothing runs by the old approval."""
    from bot.api.service import MAY_HAVE_RUN
    from bot.core.allow_rules import Rule, exact_match

    bot, key = emailer
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    states, outbox = tmp_path / "states", tmp_path / "outbox.jsonl"
    rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                created_by=BOB, created_at=0, expires_at=2e10)

    async def a_rule_would_approve_it() -> None:  # but not a call that may have run
        assert await bot.services.store.rules.create(rule)

    again, printed = await killed_while_the_call_runs(
        slack, program, [bot.url, key, str(states), str(outbox)], running=line_written(outbox),
        before_resume=a_rule_would_approve_it, env={"OPENAI_AGENTS_DISABLE_TRACING": "1"},
    )
    assert MAY_HAVE_RUN.split(":")[0] in block_texts(again)
    assert printed == [{"final": "Done."}]
    assert [json.loads(line) for line in outbox.read_text().splitlines()] == [EMAIL]  # started once, never again
    assert list(states.glob("*.json")) == []
