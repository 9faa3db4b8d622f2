"""The Microsoft Agent Framework integration (`agent_approvals.agent_framework`) against a real worker: an
`Agent` whose `send_email` tool has `approval_mode="always_require"`, driven by a scripted chat client (no
network); people decide on the bot's cards. Approve runs once with the approved arguments; a rejection's
reason reaches the model (the framework itself says only "rejected by user"); a timeout runs nothing; a rule
needs no card."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from agent_approvals import ApprovalsClient
from agent_approvals.agent_framework import run_with_approvals
from agent_framework import Agent, BaseChatClient, ChatResponse, Content, FunctionInvocationLayer, Message, tool

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts
from tests.hitl import click, nth_card, reject

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


class ScriptedClient(FunctionInvocationLayer, BaseChatClient):  # type: ignore[misc]
    """Calls `send_email` once, then answers with a text; records what the model was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Sequence[Message]] = []

    async def _answer(self, messages: Sequence[Message]) -> ChatResponse:
        self.seen.append(list(messages))
        if len(self.seen) == 1:
            call = Content.from_function_call("call-1", "send_email", arguments=dict(EMAIL))
            return ChatResponse(messages=[Message(role="assistant", contents=[call])])
        return ChatResponse(messages=[Message(role="assistant", contents=[Content.from_text("Done.")])])

    def _inner_get_response(self, *, messages: Sequence[Message], stream: bool, options: Any, **kwargs: Any) -> Any:
        return self._answer(messages)

    def shown(self) -> str:
        """The text and tool results of the last request, as the model read them."""
        parts = [str(c.text or c.result or "") for m in self.seen[-1] for c in m.contents]
        return "\n".join(parts)


def mailer(sent: list[dict[str, str]]) -> tuple[Agent[Any], ScriptedClient]:
    @tool(approval_mode="always_require")
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    chat = ScriptedClient()
    return Agent(client=chat, name="mailer", tools=[send_email]), chat


async def test_approve_reject_timeout_and_rule(emailer: tuple[Worker, str], slack: SlackStandIn) -> None:
    from bot.core.allow_rules import Rule, exact_match

    bot, key = emailer
    sent: list[dict[str, str]] = []
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        agent, chat = mailer(sent)
        running = asyncio.create_task(run_with_approvals(agent, "Tell Bob", client=client))
        card = await nth_card(slack, 1)
        assert "send_email" in block_texts(card) and "mailer (Microsoft Agent Framework)" in block_texts(card)
        assert sent == []
        await click(slack, card, "approval_approve", user=BOB)
        response = await asyncio.wait_for(running, 20)
        assert sent == [EMAIL] and response.text == "Done." and "sent to bob@example.com" in chat.shown()

        agent, chat = mailer(sent)
        running = asyncio.create_task(run_with_approvals(agent, "Tell Bob", client=client))
        await reject(slack, await nth_card(slack, 2), user=BOB, reason="not before the board meets")
        await asyncio.wait_for(running, 20)
        assert sent == [EMAIL] and f"rejected by {BOB}: not before the board meets" in chat.shown()

        agent, chat = mailer(sent)
        await asyncio.wait_for(run_with_approvals(agent, "Tell Bob", client=client, within=1), 20)
        assert sent == [EMAIL] and "nobody decided in time" in chat.shown()

        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await bot.services.store.rules.create(rule)
        cards = len(slack.messages(APPROVALS))
        agent, chat = mailer(sent)
        await asyncio.wait_for(run_with_approvals(agent, "Tell Bob", client=client), 20)
    assert sent == [EMAIL, EMAIL] and "sent to bob@example.com" in chat.shown()
    assert len(slack.messages(APPROVALS)) == cards  # no card for the rule's call
