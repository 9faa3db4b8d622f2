"""The Claude Agent SDK integration tried as an attacker would (issue 45, items 7 and 8), against a real worker
through the SDK's own client and the scripted CLI (`tests.support.claude_cli`):

- two tools whose names share their first 40 characters (Claude Code's `mcp__<server>__<tool>`), called with the
  same arguments, are two calls: the second is asked about on a card of its own, never refused on the first's;
- a `pre_tool_use_hook` given no session id keys its grants to its own program: another program of the same key
  making the identical call is asked about anew, and never runs on the first program's approval;
- arguments that cannot be asked about (NaN) are denied, saying why, through both entries: nothing raises."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from agent_approvals import ApprovalsClient

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker, block_texts
from tests.support.frameworks import claude_run as run
from tests.support.hitl import cards, click, nth_card, until
from tests.support.lazy import lazy

pytestmark = pytest.mark.slow  # its first test pays the Claude Agent SDK's import: 1.2 s of CPU (tests/support/slow.py)

claude = lazy("agent_approvals.integrations.claude_agent_sdk")  # imported by the tests that use it
sdk = lazy("claude_agent_sdk")
cli = lazy("tests.support.claude_cli")

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
SHARED = "mcp__mailroom_of_the_sales_team__send_em"  # 40 characters
FIRST, SECOND = SHARED + "ail_to_customers", SHARED + "ail_to_the_board"


def tool(sent: list[tuple[str, dict[str, Any]]], name: str) -> Any:
    def send(**arguments: Any) -> str:
        sent.append((name, arguments))
        return "sent"

    return send


async def test_two_tools_sharing_40_characters_are_two_calls(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """The first tool's call is approved and runs; the second tool, same arguments, same scope, gets a card of
    its own (it waits for it), and runs only once that card is approved."""
    assert FIRST[:40] == SECOND[:40] == SHARED and FIRST != SECOND
    bot, key = emailer
    sent: list[tuple[str, dict[str, Any]]] = []
    tools = {FIRST: tool(sent, FIRST), SECOND: tool(sent, SECOND)}
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        callback = claude.can_use_tool(client, limit=1, scope="session-40")
        first = cli.ScriptedCLI(calls=[(FIRST, EMAIL)], tools=tools)
        running = asyncio.create_task(run(sdk.ClaudeAgentOptions(can_use_tool=callback), first))
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        await asyncio.wait_for(running, 20)
        assert sent == [(FIRST, EMAIL)]
        second = cli.ScriptedCLI(calls=[(SECOND, EMAIL)], tools=tools)
        running = asyncio.create_task(run(sdk.ClaudeAgentOptions(can_use_tool=callback), second))
        card = await nth_card(slack, 2)
        assert SECOND in block_texts(card)
        assert sent == [(FIRST, EMAIL)]  # not run on the first tool's approval
        await click(slack, card, "approval_approve", user=BOB)
        await asyncio.wait_for(running, 20)
    assert sent == [(FIRST, EMAIL), (SECOND, EMAIL)] and len(cards(slack)) == 2
    assert all(not words.startswith("Not run: ") for words in second.told), second.told


async def test_a_hook_without_a_session_id_keeps_its_grant_to_its_program(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """Program A (no session id) is told to wait and call again; its card is approved. Program B, the same key and
    no session id either, makes the identical call: a card of its own, not run. A's own retry then runs, once."""
    bot, key = emailer
    sent: list[tuple[str, dict[str, Any]]] = []
    tools = {FIRST: tool(sent, FIRST)}
    async with ApprovalsClient(bot.url, key, title="price update") as a_client, \
            ApprovalsClient(bot.url, key, title="price update") as b_client:
        a_hook = claude.pre_tool_use_hook(a_client, limit=0.5)
        b_hook = claude.pre_tool_use_hook(b_client, limit=0.5)
        a_first = cli.ScriptedCLI(calls=[(FIRST, EMAIL)], tools=tools, hooks=True, session_id="", retries=0)
        await asyncio.wait_for(run(sdk.ClaudeAgentOptions(hooks={"PreToolUse": [a_hook]}), a_first), 20)
        assert a_first.told[0].startswith("Not run yet: waiting for approval in Slack") and sent == []
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        b_program = cli.ScriptedCLI(calls=[(FIRST, EMAIL)], tools=tools, hooks=True, session_id="", retries=0)
        await asyncio.wait_for(run(sdk.ClaudeAgentOptions(hooks={"PreToolUse": [b_hook]}), b_program), 20)
        assert sent == [] and b_program.ran == []  # not on A's grant
        assert b_program.told[0].startswith("Not run yet: waiting for approval in Slack")
        await until(lambda: len(cards(slack)) == 2, what="program B's own card")
        a_again = cli.ScriptedCLI(calls=[(FIRST, EMAIL)], tools=tools, hooks=True, session_id="", retries=0)
        await asyncio.wait_for(run(sdk.ClaudeAgentOptions(hooks={"PreToolUse": [a_hook]}), a_again), 20)
    assert sent == [(FIRST, EMAIL)] and a_again.ran == [(FIRST, EMAIL)]


async def test_arguments_that_cannot_be_asked_about_are_denied_not_raised(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """NaN has no canonical JSON: the callback and the hook answer deny, saying why (an exception would reach
    the CLI as an error instead of a decision); nothing runs and no card is asked."""
    bot, key = emailer
    sent: list[tuple[str, dict[str, Any]]] = []
    nan = {"to": "bob@example.com", "amount": math.nan}
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        by_callback = cli.ScriptedCLI(calls=[(FIRST, nan)], tools={FIRST: tool(sent, FIRST)}, retries=0)
        options = sdk.ClaudeAgentOptions(can_use_tool=claude.can_use_tool(client, limit=1))
        await asyncio.wait_for(run(options, by_callback), 20)
        by_hook = cli.ScriptedCLI(calls=[(FIRST, nan)], tools={FIRST: tool(sent, FIRST)}, hooks=True, retries=0)
        options = sdk.ClaudeAgentOptions(hooks={"PreToolUse": [claude.pre_tool_use_hook(client, limit=1)]})
        await asyncio.wait_for(run(options, by_hook), 20)
    assert sent == [] and cards(slack) == []
    for told in (by_callback.told, by_hook.told):
        assert len(told) == 1 and told[0].startswith("Not run: "), told
