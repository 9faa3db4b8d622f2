"""The AutoGen integration over the Approvals API: an AutoGen program outside the bot
(examples/autogen_email.py) asks with an API key through `ApprovalsClient`, and people decide its tool
calls and turns on the bot's own cards. The program's environment has no Slack token and no Redis."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import warnings
from pathlib import Path
from types import ModuleType

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts, card_of, reply_text
from tests.support.frameworks import EMAIL, autogen_mailer
from tests.support.frameworks import autogen_tool_results as tool_results
from tests.support.hitl import buttons, click, current, nth_card, open_modal, reject, until

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "autogen_email.py"
TASK = "Tell carol@example.com about the new prices"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("autogen_email", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def program_env(worker_url: str, key: str, tmp_path: Path) -> dict[str, str]:
    return {  # nothing of the bot's: its URL and an API key
        "AGENT_APPROVALS_URL": worker_url,
        "AGENT_APPROVALS_KEY": key,
        "APPROVALS_CHANNEL": SALES,
        "OUTBOX_DIR": str(tmp_path / "outbox"),
    }


@pytest.mark.slow
async def test_an_autogen_program_is_decided_with_the_bots_buttons(
    slack: SlackStandIn, emailer: tuple[Worker, str], tmp_path: Path
) -> None:
    worker, key = emailer
    env = await program_env(worker.url, key, tmp_path)
    assert not {"SLACK_BOT_TOKEN", "REDIS_URL"} & set(env)
    program = asyncio.create_task(load_example().main(env, task=TASK))
    try:
        card = await nth_card(slack, 1)
        shown = block_texts(card)
        assert "Tool call needs approval" in shown and "carol@example.com" in shown
        assert f"examples/autogen_email.py: {TASK}" in shown and "`emailer`" in shown
        status = reply_text(await slack.send_command(user=BOB, channel=SALES, text="status"))
        assert "emailer" in status and "*Pending approvals*" in status  # listed as the key's run

        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        sent = await until(  # written whole (a file just created may still be empty)
            lambda: [p for p in (tmp_path / "outbox").glob("*.eml") if "To:" in p.read_text()],
            what="the email in the outbox",
        )
        assert "To: carol@example.com" in sent[0].read_text()
        second = await nth_card(slack, 2)  # the human's turn
        assert "Sent the email" in block_texts(second) and buttons(second)[0] == "approval_approve"
        await slack.click(user=BOB, channel=APPROVALS, ts=second["ts"], action_id="approval_approve")
        ended = await asyncio.wait_for(program, timeout=20)
        assert ended == "APPROVE"
        # the card is redrawn in the background: the program may have its decision (and end) first
        await until(lambda: f"*Approved* by <@{BOB}>" in block_texts(current(slack, second)),
                    what="the second card drawn approved")
        assert len(card_of(slack)) == 2 and len(sent) == 1
        decisions = [e for e in await worker.services.store.audit.entries() if e["event"] == "decision"]
        assert [(d["outcome"], d["by"]) for d in decisions] == [("approved", BOB), ("approved", BOB)]
    finally:
        if not program.done():
            program.cancel()


async def test_cancelling_the_keys_run_cancels_its_card_and_nothing_runs(
    slack: SlackStandIn, emailer: tuple[Worker, str], tmp_path: Path
) -> None:
    worker, key = emailer
    program = asyncio.create_task(load_example().main(await program_env(worker.url, key, tmp_path), task=TASK))
    try:
        card = await nth_card(slack, 1)
        (run,) = await worker.services.store.runs.recent(SALES)
        reply = reply_text(await slack.send_command(user=BOB, channel=SALES, text=f"cancel {run.id}"))
        assert f"Cancelled run `{run.id}` and 1 pending approval" in reply
        await until(lambda: "Cancelled" in block_texts(current(slack, card)), what="the card says cancelled")
        second = await nth_card(slack, 2)  # the tool did not run; the model goes on, and the human is asked
        await reject(slack, second, user=BOB, reason="stop here")
        assert (await asyncio.wait_for(program, timeout=20)).startswith("REJECT")
        assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").glob("*.eml"))
    finally:
        if not program.done():
            program.cancel()


async def test_an_approval_workbench_gates_a_workbenchs_tools_over_the_api(
    slack: SlackStandIn, emailer: tuple[Worker, str]
) -> None:
    from agent_approvals import ApprovalsClient
    from agent_approvals.integrations.autogen.workbench import ApprovalWorkbench
    from autogen_agentchat.agents import AssistantAgent
    from autogen_core.models import ChatCompletionClient
    from autogen_core.tools import FunctionTool, StaticWorkbench

    from tests.support.hitl import call, replay

    sent: list[tuple[str, str]] = []

    async def send_email(to: str, body: str) -> str:
        sent.append((to, body))
        return f"sent to {to}"

    async def list_inbox() -> str:
        return "2 messages"

    worker, key = emailer
    tools = StaticWorkbench([FunctionTool(send_email, description="Send an email"),
                             FunctionTool(list_inbox, description="List the inbox")])
    script = [call("list_inbox", {}), call("send_email", {"to": "carol@example.com", "body": "Hi"}, call_id="c2"),
              "Done."]
    model = ChatCompletionClient.load_component(replay(*script))
    async with ApprovalsClient(worker.url, key, title="inbox assistant") as client:
        gated = ApprovalWorkbench(tools, client, agent="assistant", needs_approval=lambda n: n != "list_inbox")
        agent = AssistantAgent("assistant", model_client=model, workbench=gated, max_tool_iterations=3)
        running = asyncio.create_task(agent.run(task="Write to Carol"))
        card = await nth_card(slack, 1)  # list_inbox ran with no card; send_email waits for one
        shown = block_texts(card)
        assert "send_email" in shown and "carol@example.com" in shown and "list_inbox" not in shown
        assert sent == []
        await reject(slack, card, user=BOB, reason="not Carol")
        result = await asyncio.wait_for(running, 20)
    assert sent == []
    texts = " ".join(str(m.to_text()) for m in result.messages)
    assert "2 messages" in texts and "rejected by @bob: not Carol" in texts


async def test_run_with_approvals_asks_again_about_an_edit_and_runs_it(
    slack: SlackStandIn, emailer: tuple[Worker, str]
) -> None:
    """`run_with_approvals(team, task, client=...)`, the other integrations' call shape (approve, reject, timeout
    and rule: tests/agents/frameworks/test_contract.py): an edit is asked about again and runs with the edited
    arguments."""
    from agent_approvals import ApprovalsClient
    from agent_approvals.integrations.autogen.run import run_with_approvals

    worker, key = emailer
    sent: list[dict[str, str]] = []
    async with ApprovalsClient(worker.url, key, title="price update") as client:
        running = asyncio.create_task(run_with_approvals(autogen_mailer(sent, "Sent."), "Tell Bob", client=client))
        view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        edited = {**EMAIL, "to": "carol@example.com"}
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited)}}
        )
        again = await nth_card(slack, 2)  # the edited call, asked about again
        assert "carol@example.com" in block_texts(again) and sent == []
        await click(slack, again, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
    assert sent == [edited] and tool_results(result) == ["sent to carol@example.com"]


async def test_prepare_reaches_nested_agents_once(slack: SlackStandIn, emailer: tuple[Worker, str]) -> None:
    """A team's agents, a code executor and a user proxy are all prepared, and preparing twice wraps nothing twice."""
    from agent_approvals import ApprovalsClient
    from agent_approvals.integrations.autogen.code import local_executor_class
    from agent_approvals.integrations.autogen.input_func import ApprovalUserProxy
    from agent_approvals.integrations.autogen.run import prepare
    from agent_approvals.integrations.autogen.workbench import ApprovalWorkbench
    from autogen_agentchat.agents import CodeExecutorAgent, UserProxyAgent
    from autogen_agentchat.teams import RoundRobinGroupChat

    worker, key = emailer
    mailer = autogen_mailer([], "Done.")
    human = UserProxyAgent("human")
    with warnings.catch_warnings():  # "may execute code on the local machine", "no approval function": not yet
        warnings.simplefilter("ignore", UserWarning)
        coder = CodeExecutorAgent("coder", code_executor=local_executor_class()())
    team = RoundRobinGroupChat([mailer, coder, human], max_turns=1)
    async with ApprovalsClient(worker.url, key) as client:
        prepare(team, client)
        prepare(team, client)
    (bench,) = mailer._workbench
    assert isinstance(bench, ApprovalWorkbench) and not isinstance(bench.inner, ApprovalWorkbench)
    assert isinstance(human, ApprovalUserProxy) and human._is_async
    assert getattr(coder._approval_func, "asks_slack", False)
