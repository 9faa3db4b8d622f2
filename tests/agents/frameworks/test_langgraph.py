"""The LangGraph integration (`agent_approvals.integrations.langgraph`) against a real worker; people decide on the
bot's
cards (approve, reject, timeout and rule, for a graph and for create_agent: tests/agents/frameworks/test_contract.py). A
graph whose node `interrupt()`s before `send_email`, run through `invoke_with_approvals`: an edit is asked about
again and sends the edited email once; a thread whose process is killed -9 while a person decides is finished by another
process from its SQLite checkpoint.

langchain's `create_agent` with `HumanInTheLoopMiddleware` (a scripted chat model, no network), run the same
way: approve runs the tool once with exactly its arguments (its JSON schema on the card); a rejection never
runs it and the model reads the reason; an edit is asked about again and runs once with the edited
arguments; the timeout runs nothing; a rule needs no card; a tool that allows no edit says so on the card;
two calls in one turn (one interrupt, or one per call) are decided each on its own card; a refusal a tool
cannot be told stops with the thread paused; a thread whose process died while a person decided resumes on
the same card."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from agent_approvals import ApprovalsClient

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import FIXED_ARGUMENTS
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts, card_of
from tests.support.frameworks import EMAIL, asking, mail_agent, mail_graph, thread
from tests.support.frameworks import email_calls as calls
from tests.support.frameworks import told_by_tool_messages as told
from tests.support.hitl import (
    click,
    killed_then_resumed,
    killed_while_the_call_runs,
    line_written,
    nth_card,
    open_modal,
    reject,
    until,
)
from tests.support.lazy import lazy

pytestmark = pytest.mark.slow  # LangGraph's import, 0.4 to 0.5 s of CPU in its first tests (tests/support/slow.py)

with_langgraph = lazy("agent_approvals.integrations.langgraph")  # imported by the tests that use it


async def test_an_edit_is_asked_about_again_and_sends_the_edited_email_once(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = emailer
    sent: list[dict[str, Any]] = []
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        asked = with_langgraph.invoke_with_approvals(mail_graph(sent), {"outcome": ""}, thread("edit"), client=client)
        running = asyncio.create_task(asked)
        view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        edited = {**EMAIL, "to": "carol@example.com"}
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited)}}
        )
        again = await nth_card(slack, 2)  # the edited call, asked about again
        assert "carol@example.com" in block_texts(again) and sent == []
        await click(slack, again, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
    assert sent == [edited] and result["outcome"] == "sent to carol@example.com"


PROGRAM = """
import asyncio, json, sys, threading
from typing import Any, TypedDict
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from agent_approvals import ApprovalsClient
from agent_approvals.integrations.langgraph import invoke_with_approvals, resume_with_approvals, tool_call

url, key, database, outbox, mode = sys.argv[1:6]
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}

class State(TypedDict):
    outcome: str

def send(state: State) -> dict[str, Any]:
    answer = interrupt(tool_call("send_email", EMAIL, agent="mailer"))
    if not answer["approved"]:
        return {"outcome": "not sent"}
    with open(outbox, "a") as out:
        out.write(json.dumps(answer["arguments"]) + "\\n")
    if mode == "hang":  # the process dies while the approved call runs
        threading.Event().wait()
    return {"outcome": "sent"}

async def main() -> None:
    builder = StateGraph(State)
    builder.add_node("send", send)
    builder.add_edge(START, "send")
    builder.add_edge("send", END)
    config = {"configurable": {"thread_id": "nightly-42"}}
    saving = AsyncSqliteSaver.from_conn_string(database)
    async with saving as saver, ApprovalsClient(url, key, title="prices") as client:
        graph = builder.compile(checkpointer=saver)
        if mode in ("start", "hang"):
            result = await invoke_with_approvals(graph, {"outcome": ""}, config, client=client)
        else:
            result = await resume_with_approvals(graph, config, client=client)
    print(json.dumps({"outcome": result["outcome"]}))

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_thread_killed_9_while_a_person_decides_is_resumed_in_another_process(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    database, outbox = tmp_path / "checkpoints.sqlite", tmp_path / "outbox.jsonl"
    printed = await killed_then_resumed(
        slack, program, [bot.url, key, str(database), str(outbox)], paused=database.exists,
    )
    assert printed == [{"outcome": "sent"}]
    assert [json.loads(line) for line in outbox.read_text().splitlines()] == [EMAIL]  # once
    assert len(slack.messages(APPROVALS)) == 1  # the same approval: no second card


@pytest.mark.slow
async def test_a_call_running_when_its_process_died_is_asked_again_as_one_that_may_have_run(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """Killed -9 in the node, after `interrupt()` returned and while the call runs: the resumed thread runs the
    node again, and the approval it was used with is not used again: a person is asked (rejected here)."""
    from bot.api.service import MAY_HAVE_RUN

    bot, key = emailer
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    database, outbox = tmp_path / "checkpoints.sqlite", tmp_path / "outbox.jsonl"
    again, printed = await killed_while_the_call_runs(
        slack, program, [bot.url, key, str(database), str(outbox)], running=line_written(outbox)
    )
    assert MAY_HAVE_RUN.split(":")[0] in block_texts(again)
    assert printed == [{"outcome": "not sent"}]
    assert [json.loads(line) for line in outbox.read_text().splitlines()] == [EMAIL]  # started once, never again


CAROL_EMAIL = {"to": "carol@example.com", "body": "Prices go up 5% on May 1."}


# langchain's create_agent with HumanInTheLoopMiddleware ------------------------------------------------------------
async def test_create_agent_approve_runs_the_tool_once_with_its_arguments(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = emailer
    sent: list[dict[str, str]] = []
    agent, model = mail_agent(sent, "Done: the email is sent.")
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("a1"), client=client)
        running = asyncio.create_task(asked)
        card = await nth_card(slack, 1)
        shown = block_texts(card)
        assert "send_email" in shown and "bob@example.com" in shown and "mailer (LangGraph)" in shown
        assert FIXED_ARGUMENTS not in shown  # `True` allows an edit
        record = await bot.services.store.approvals.get(approval_id(card))
        assert record is not None and json.loads(record.arguments_schema)["required"] == ["to", "body"]
        assert sent == []
        await click(slack, card, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
    assert sent == [EMAIL] and result["messages"][-1].content == "Done: the email is sent."
    assert told(model) == {"call-1": "sent to bob@example.com"}


@pytest.mark.parametrize("mode", ["batched", "per_call"])
async def test_create_agent_reject_edit_timeout_and_rule(
    emailer: tuple[Worker, str], slack: SlackStandIn, mode: str
) -> None:
    from bot.core.allow_rules import Rule, exact_match

    bot, key = emailer
    sent: list[dict[str, str]] = []
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        agent, model = mail_agent(sent, "Understood, not sent.", mode=mode)
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("r"), client=client)
        running = asyncio.create_task(asked)
        await reject(slack, await nth_card(slack, 1), user=BOB, reason="not before the board meets")
        result = await asyncio.wait_for(running, 20)
        assert sent == [] and result["messages"][-1].content == "Understood, not sent."
        assert told(model)["call-1"].endswith("with reason: Not run: rejected by @bob: not before the board meets")

        agent, model = mail_agent(sent, "Sent to Carol.", mode=mode)
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("e"), client=client)
        running = asyncio.create_task(asked)
        view = await open_modal(slack, await nth_card(slack, 2), user=BOB)
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(CAROL_EMAIL)}}
        )
        again = await nth_card(slack, 3)  # the edited call, asked about again
        assert "carol@example.com" in block_texts(again) and sent == []
        await click(slack, again, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
        assert sent == [CAROL_EMAIL] and result["messages"][-1].content == "Sent to Carol."
        output = told(model)["call-1"]
        assert "a human reviewer replaced this tool call" in output and output.endswith("sent to carol@example.com")

        agent, model = mail_agent(sent, "Nobody answered.", mode=mode)
        result = await asyncio.wait_for(
            with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("t"), client=client, within=1), 20
        )
        assert sent == [CAROL_EMAIL] and result["messages"][-1].content == "Nobody answered."
        assert "with reason: Not run: nobody decided in time" in told(model)["call-1"]

        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await bot.services.store.rules.create(rule)
        cards = len(slack.messages(APPROVALS))
        agent, model = mail_agent(sent, "Sent by the rule.", mode=mode)
        ruled = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("ru"), client=client)
        result = await asyncio.wait_for(ruled, 20)
    assert sent == [CAROL_EMAIL, EMAIL] and told(model) == {"call-1": "sent to bob@example.com"}
    assert len(slack.messages(APPROVALS)) == cards  # no card for the rule's call


async def test_a_tool_that_allows_no_edit_says_so_and_a_revision_reaches_the_model(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = emailer
    sent: list[dict[str, str]] = []
    agent, model = mail_agent(sent, "Not sent.", interrupt_on={"allowed_decisions": ["approve", "reject"]})
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("f"), client=client)
        running = asyncio.create_task(asked)
        card = await nth_card(slack, 1)
        assert FIXED_ARGUMENTS in block_texts(card)
        view = await open_modal(slack, card, user=BOB)
        assert [b.get("block_id") for b in view["view"]["blocks"] if b["type"] == "input"] == ["feedback"]
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "Send it to Carol instead"}}
        )
        result = await asyncio.wait_for(running, 20)
    assert sent == [] and result["messages"][-1].content == "Not sent."
    assert told(model)["call-1"].endswith("with reason: Not run: @bob asked for a revision. Send it to Carol instead")


@pytest.mark.parametrize("mode", ["batched", "per_call"])
async def test_two_calls_in_one_turn_are_decided_each_on_its_card(
    emailer: tuple[Worker, str], slack: SlackStandIn, mode: str
) -> None:
    """batched: one interrupt with two actions (decisions in their order); per_call: two interrupts, resumed by id."""
    bot, key = emailer
    sent: list[dict[str, str]] = []
    agent, model = mail_agent(sent, calls(EMAIL, CAROL_EMAIL), "One sent.", mode=mode)
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell both"), thread(mode), client=client)
        running = asyncio.create_task(asked)
        first = await nth_card(slack, 1)
        assert "bob@example.com" in block_texts(first) and len(slack.messages(APPROVALS)) == 1
        await click(slack, first, "approval_approve", user=BOB)
        second = await nth_card(slack, 2)
        assert "carol@example.com" in block_texts(second)
        await reject(slack, second, user=BOB, reason="Carol has left")
        result = await asyncio.wait_for(running, 20)
    assert sent == [EMAIL] and result["messages"][-1].content == "One sent."
    assert told(model)["call-1"] == "sent to bob@example.com"
    assert told(model)["call-2"].endswith("with reason: Not run: rejected by @bob: Carol has left")


async def test_a_refusal_the_tool_cannot_be_told_leaves_the_thread_paused(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = emailer
    sent: list[dict[str, str]] = []
    agent, _ = mail_agent(sent, "Sent.", interrupt_on={"allowed_decisions": ["approve"]})
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("o"), client=client)
        running = asyncio.create_task(asked)
        await reject(slack, await nth_card(slack, 1), user=BOB, reason="no")
        with pytest.raises(with_langgraph.DecisionNotAllowed, match="allows only approve") as refused:
            await asyncio.wait_for(running, 20)
    assert refused.value.approval.status == "rejected" and sent == []
    assert [t.name for t in (await agent.aget_state(thread("o"))).tasks if t.interrupts]  # still paused


async def test_a_create_agent_thread_whose_process_died_resumes_on_the_same_card(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """The asking task is cancelled while the card waits (its process died); the card is approved while nobody
    waits; `resume_with_approvals` finds the same approval (no second card) and runs the tool once."""
    bot, key = emailer
    sent: list[dict[str, str]] = []
    agent, model = mail_agent(sent, "Sent.")
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        asked = with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread("d"), client=client)
        running = asyncio.create_task(asked)
        card = await nth_card(slack, 1)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await click(slack, card, "approval_approve", user=BOB)
        await until(lambda: not card_of(slack, pending=True), what="the card decided")
        assert sent == []
        result = await asyncio.wait_for(with_langgraph.resume_with_approvals(agent, thread("d"), client=client), 20)
    assert sent == [EMAIL] and result["messages"][-1].content == "Sent."
    assert told(model) == {"call-1": "sent to bob@example.com"}
    assert len(slack.messages(APPROVALS)) == 1  # the same approval: no second card


def approval_id(card: dict[str, Any]) -> str:
    return next(str(b["elements"][0]["value"]) for b in card["blocks"] if b.get("type") == "actions")
