"""The LangGraph integration (`agent_approvals.langgraph`) against a real worker: a graph whose node
`interrupt()`s before `send_email`, run through `invoke_with_approvals`; people decide on the bot's cards.
Approve sends once with exactly the approved arguments; a rejection's reason reaches the graph; an edit is
asked about again and sends the edited email once; the timeout sends nothing; a rule needs no card; a
thread whose process is killed -9 while a person decides is finished by another process from its SQLite
checkpoint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, TypedDict

from agent_approvals import ApprovalsClient
from agent_approvals.langgraph import invoke_with_approvals, tool_call
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts
from tests.hitl import click, killed_then_resumed, nth_card, open_modal, reject

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
SCHEMA = {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
          "required": ["to", "body"], "additionalProperties": False}


class State(TypedDict):
    outcome: str


def mail_graph(sent: list[dict[str, Any]]) -> Any:
    def send(state: State) -> dict[str, Any]:
        answer = interrupt(tool_call("send_email", EMAIL, schema=SCHEMA, agent="mailer"))
        if not answer["approved"]:
            return {"outcome": f"not sent: {answer['reason']}"}
        sent.append(answer["arguments"])
        return {"outcome": "sent"}

    builder = StateGraph(State)
    builder.add_node("send", send)
    builder.add_edge(START, "send")
    builder.add_edge("send", END)
    return builder.compile(checkpointer=InMemorySaver())


def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


async def test_approve_sends_once_with_the_approved_arguments(emailer: tuple[Worker, str], slack: SlackStandIn) -> None:
    bot, key = emailer
    sent: list[dict[str, Any]] = []
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        running = asyncio.create_task(
            invoke_with_approvals(mail_graph(sent), {"outcome": ""}, thread("t1"), client=client)
        )
        card = await nth_card(slack, 1)
        assert "send_email" in block_texts(card) and "mailer (LangGraph)" in block_texts(card)
        assert sent == []
        await click(slack, card, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
    assert sent == [EMAIL] and result["outcome"] == "sent"


async def test_reject_edit_timeout_and_rule(emailer: tuple[Worker, str], slack: SlackStandIn) -> None:
    from bot.core.allow_rules import Rule, exact_match

    bot, key = emailer
    sent: list[dict[str, Any]] = []
    graph = mail_graph(sent)
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        running = asyncio.create_task(invoke_with_approvals(graph, {"outcome": ""}, thread("reject"), client=client))
        await reject(slack, await nth_card(slack, 1), user=BOB, reason="not before the board meets")
        result = await asyncio.wait_for(running, 20)
        assert sent == [] and result["outcome"] == "not sent: not before the board meets"

        running = asyncio.create_task(invoke_with_approvals(graph, {"outcome": ""}, thread("edit"), client=client))
        view = await open_modal(slack, await nth_card(slack, 2), user=BOB)
        edited = {**EMAIL, "to": "carol@example.com"}
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited)}}
        )
        again = await nth_card(slack, 3)  # the edited call, asked about again
        assert "carol@example.com" in block_texts(again)
        await click(slack, again, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
        assert sent == [edited] and result["outcome"] == "sent"

        result = await asyncio.wait_for(
            invoke_with_approvals(graph, {"outcome": ""}, thread("timeout"), client=client, within=1), 20
        )
        assert sent == [edited] and result["outcome"].startswith("not sent: no decision within")

        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await bot.services.store.rules.create(rule)
        cards = len(slack.messages(APPROVALS))
        ruled = invoke_with_approvals(graph, {"outcome": ""}, thread("rule"), client=client)
        result = await asyncio.wait_for(ruled, 20)
    assert sent == [edited, EMAIL] and result["outcome"] == "sent"
    assert len(slack.messages(APPROVALS)) == cards  # no card for the rule's call


PROGRAM = """
import asyncio, json, sys
from typing import Any, TypedDict
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from agent_approvals import ApprovalsClient
from agent_approvals.langgraph import invoke_with_approvals, resume_with_approvals, tool_call

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
        if mode == "start":
            result = await invoke_with_approvals(graph, {"outcome": ""}, config, client=client)
        else:
            result = await resume_with_approvals(graph, config, client=client)
    print(json.dumps({"outcome": result["outcome"]}))

asyncio.run(main())
"""


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
