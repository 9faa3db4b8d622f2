"""The Claude Agent SDK integration (`agent_approvals.integrations.claude_agent_sdk`) against a real worker: the SDK's
own
client, with a scripted stand-in for the CLI (`tests.support.claude_cli`, a custom `Transport` speaking the
control protocol), asks through `can_use_tool` or the PreToolUse hook; people decide on the bot's cards.
Within the limit the card's decision is answered (tests/agents/frameworks/test_contract.py); past it,
deny-then-grant: the model is told to call again, and the identical retry after the click runs exactly once; a
different call or a second identical one is asked about again; `defer` stops a headless run that a resumed session
finishes; any error denies."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import pytest
from agent_approvals import ApprovalsClient

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker, block_texts
from tests.support.frameworks import CLAUDE_TOOL as TOOL
from tests.support.frameworks import EMAIL
from tests.support.frameworks import claude_cli as cli
from tests.support.frameworks import claude_run as run
from tests.support.hitl import cards, click, nth_card, reject, until
from tests.support.lazy import lazy
from tests.support.scaled_clock import rounds_in, scaled_emailer

pytestmark = pytest.mark.slow  # the Claude Agent SDK's import, 1.6 s of CPU in its first test (tests/support/slow.py)

claude = lazy("agent_approvals.integrations.claude_agent_sdk")  # imported by the tests that use it
sdk = lazy("claude_agent_sdk")


async def test_past_the_limit_deny_then_grant_runs_exactly_once(slack: SlackStandIn, redis_url: str) -> None:
    """A person's 20 minutes against the SDK's ~60 s limit, on a scaled clock: 20 minutes = 20 limits of 60 s,
    here 20 × 0.1 s. Each limit the model is denied with the card's link and told to call again (20 denials
    counted, each after a full limit); still one card and nothing run; after the click the identical retry runs
    once, and no further card is asked."""
    rounds, limit = rounds_in(60), 0.1
    sent: list[dict[str, Any]] = []
    transport = cli(sent, EMAIL, retries=10 * rounds)  # a model that keeps calling again well past the click
    async with scaled_emailer(slack, redis_url) as (bot, key), \
            ApprovalsClient(bot.url, key, title="price update") as client:
        options = sdk.ClaudeAgentOptions(can_use_tool=claude.can_use_tool(client, limit=limit))
        started = time.monotonic()
        running = asyncio.create_task(run(options, transport))
        card = await nth_card(slack, 1)
        await until(lambda: len(transport.told) >= rounds, what=f"{rounds} limits passed", within=120)
        assert time.monotonic() - started >= rounds * limit  # each denial came after a full limit
        words = transport.told[0]
        assert words.startswith("Not run yet: waiting for approval in Slack: ") and "again" in words
        assert f"Call {TOOL} again with the same arguments after it is approved" in words
        assert len(cards(slack)) == 1 and sent == [] and transport.ran == []  # every retry found the same card
        await click(slack, card, "approval_approve", user=BOB)
        result = await asyncio.wait_for(running, 60)
    assert sent == [EMAIL] and transport.ran == [(TOOL, EMAIL)] and result.result == "done"
    assert len(transport.told) >= rounds and len(cards(slack)) == 1  # no further card
    assert all(w == words for w in transport.told)


async def test_the_grant_is_single_use_and_bound_to_the_exact_call(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """After the approved call ran, the same call again is a new card (asked as one that may have run), and a call
    with other arguments is a new card: neither spends the grant."""
    bot, key = emailer
    sent: list[dict[str, Any]] = []
    other = {**EMAIL, "to": "carol@example.com"}
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        callback = claude.can_use_tool(client, limit=1, scope="s-1")
        first = cli(sent, EMAIL)
        running = asyncio.create_task(run(sdk.ClaudeAgentOptions(can_use_tool=callback), first))
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        await asyncio.wait_for(running, 20)
        assert sent == [EMAIL]
        again = cli(sent, EMAIL, other, retries=0)  # each call once: denied, not retried
        result = await asyncio.wait_for(run(sdk.ClaudeAgentOptions(can_use_tool=callback), again), 20)
        assert result.result == "done" and sent == [EMAIL]
        assert len(again.told) == 2 and all(w.startswith("Not run yet: waiting for approval") for w in again.told)
        second, third = await nth_card(slack, 2), await nth_card(slack, 3)
        assert "bob@example.com" in block_texts(second) and "carol@example.com" in block_texts(third)


async def test_a_rejection_reaches_the_model_through_the_hook(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = emailer
    sent: list[dict[str, Any]] = []
    transport = cli(sent, EMAIL, hooks=True)
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        hook = claude.pre_tool_use_hook(client, matcher="mcp__mail__.*")
        options = sdk.ClaudeAgentOptions(hooks={"PreToolUse": [hook]})
        running = asyncio.create_task(run(options, transport))
        await reject(slack, await nth_card(slack, 1), user=BOB, reason="not before the board meets")
        await asyncio.wait_for(running, 20)
    assert sent == [] and len(transport.told) == 1
    said = transport.told[0]
    assert said.startswith("Not run: rejected by ") and said.endswith(": not before the board meets")


async def test_defer_stops_a_headless_run_and_the_resumed_session_runs_once(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """`on_wait="defer"`: past the limit the run stops with the deferred call; after the click, a new process (a
    new client and CLI, the same session) makes the identical call, which runs once; a third session run of it
    is asked about again."""
    bot, key = emailer
    sent: list[dict[str, Any]] = []
    transport = cli(sent, EMAIL, hooks=True, session_id="headless-7")
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        hook = claude.pre_tool_use_hook(client, limit=0.2, on_wait="defer")
        result = await asyncio.wait_for(run(sdk.ClaudeAgentOptions(hooks={"PreToolUse": [hook]}), transport), 20)
    assert result.deferred_tool_use is not None and result.deferred_tool_use.input == EMAIL and sent == []
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    async with ApprovalsClient(bot.url, key, title="price update") as client:  # the resumed process
        hook = claude.pre_tool_use_hook(client, limit=0.2, on_wait="defer")
        resumed = cli(sent, EMAIL, hooks=True, session_id="headless-7")
        await asyncio.wait_for(run(sdk.ClaudeAgentOptions(hooks={"PreToolUse": [hook]}), resumed), 20)
        assert sent == [EMAIL]
        third = cli(sent, EMAIL, hooks=True, session_id="headless-7")
        result = await asyncio.wait_for(run(sdk.ClaudeAgentOptions(hooks={"PreToolUse": [hook]}), third), 20)
    assert result.deferred_tool_use is not None and sent == [EMAIL] and len(cards(slack)) == 2


async def test_any_error_denies(slack: SlackStandIn) -> None:
    """The bot unreachable (nothing listens there): the call is denied, saying why; it never runs."""
    sent: list[dict[str, Any]] = []
    transport = cli(sent, EMAIL, retries=0)
    async with ApprovalsClient("http://127.0.0.1:9", "aak_nothing", retry_for=0.5) as client:
        options = sdk.ClaudeAgentOptions(can_use_tool=claude.can_use_tool(client, limit=1))
        await asyncio.wait_for(run(options, transport), 20)
    assert sent == [] and transport.told[0].startswith("Not run: the approval could not be asked or read")


@pytest.mark.slow
def test_without_the_sdk_the_import_names_the_extra() -> None:
    code = "import sys; sys.modules['claude_agent_sdk'] = None\nimport agent_approvals.integrations.claude_agent_sdk\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and 'pip install "agent-approvals[claude-agent-sdk]"' in done.stderr
