"""The Pydantic AI integration (`agent_approvals.pydantic_ai`) against a real worker: an `Agent` whose
`send_email` tool has `requires_approval`, driven by a scripted `FunctionModel` (no network); people decide
on the bot's cards. Approve runs once with the approved arguments; a rejection's reason reaches the model;
an edit is asked about again and runs with the edited arguments; a timeout runs nothing; a rule needs no card."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agent_approvals import ApprovalsClient
from agent_approvals.pydantic_ai import run_with_approvals
from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts
from tests.hitl import click, nth_card, open_modal, reject

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


def mailer(sent: list[dict[str, str]]) -> tuple[Agent[None, Any], list[str]]:
    """The model calls `send_email` once, then says what the tool returned (`told`: what it was told)."""
    told: list[str] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        for part in getattr(messages[-1], "parts", []):
            if part.part_kind in ("tool-return", "retry-prompt"):
                told.append(str(part.content))
                return ModelResponse(parts=[TextPart(f"Done: {part.content}")])
        return ModelResponse(parts=[ToolCallPart("send_email", dict(EMAIL), tool_call_id="call-1")])

    agent: Agent[None, Any] = Agent(FunctionModel(model), name="mailer", output_type=[str, DeferredToolRequests])

    @agent.tool_plain(requires_approval=True)
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    return agent, told


async def test_approve_reject_edit_timeout_and_rule(emailer: tuple[Worker, str], slack: SlackStandIn) -> None:
    from bot.core.allow_rules import Rule, exact_match

    bot, key = emailer
    sent: list[dict[str, str]] = []
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        agent, told = mailer(sent)
        running = asyncio.create_task(run_with_approvals(agent, "Tell Bob", client=client))
        card = await nth_card(slack, 1)
        assert "send_email" in block_texts(card) and "mailer (Pydantic AI)" in block_texts(card)
        assert sent == []
        await click(slack, card, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 20)
        assert sent == [EMAIL] and result.output == "Done: sent to bob@example.com"

        agent, told = mailer(sent)
        running = asyncio.create_task(run_with_approvals(agent, "Tell Bob", client=client))
        await reject(slack, await nth_card(slack, 2), user=BOB, reason="not before the board meets")
        await asyncio.wait_for(running, 20)
        assert sent == [EMAIL] and told == [f"Not run: rejected by {BOB}: not before the board meets"]

        agent, told = mailer(sent)
        running = asyncio.create_task(run_with_approvals(agent, "Tell Bob", client=client))
        view = await open_modal(slack, await nth_card(slack, 3), user=BOB)
        edited = {**EMAIL, "to": "carol@example.com"}
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited)}}
        )
        again = await nth_card(slack, 4)  # the edited call, asked about again
        assert "carol@example.com" in block_texts(again)
        await click(slack, again, "approval_approve", user=BOB)
        await asyncio.wait_for(running, 20)
        assert sent == [EMAIL, edited] and told == ["sent to carol@example.com"]

        agent, told = mailer(sent)
        await asyncio.wait_for(run_with_approvals(agent, "Tell Bob", client=client, within=1), 20)
        assert sent == [EMAIL, edited] and told[0].startswith("Not run: nobody decided in time")

        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await bot.services.store.rules.create(rule)
        cards = len(slack.messages(APPROVALS))
        agent, told = mailer(sent)
        await asyncio.wait_for(run_with_approvals(agent, "Tell Bob", client=client), 20)
    assert sent == [EMAIL, edited, EMAIL] and told == ["sent to bob@example.com"]
    assert len(slack.messages(APPROVALS)) == cards  # no card for the rule's call
