"""The MCP gateway never blocks a client past its patience (#37.3), against a real worker and the test upstream:
a 2026-07-28 client gets `input_required` each `--patience` (a fraction of a second here, for a person's
minutes: the tests of a long wait name their scale) and the result on the retry after the click, forwarded
once; its sealed `requestState` survives a gateway restart (a key from the environment) and is honoured once
and only once, and a tampered one or one for other arguments is refused; an older client with
`--deny-then-grant` is told to call again, and its identical retry runs once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from pathlib import Path

import pytest
from agent_approvals.mcp_gateway.gateway import PATIENCE
from mcp import Client, types
from mcp.shared.exceptions import MCPError

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.hitl import cards, click, nth_card
from tests.support.mcp_gateway import EMAIL, ended, over_stdio, stdio_params, text
from tests.support.scaled_clock import rounds_in, scaled_emailer

pytestmark = pytest.mark.slow  # the gateway's upstream as a process

PATIENT = ("--patience", "1")


def forwarded(tmp_path: Path) -> list[dict[str, object]]:
    record = tmp_path / "calls.jsonl"
    lines = record.read_text().splitlines() if record.exists() else []
    return [c for c in map(json.loads, lines) if c["tool"] == "send_email"]


async def test_a_2026_client_gets_input_required_until_the_click_then_one_run(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """A person's 20 minutes on a scaled clock: 20 minutes = 24 rounds of the gateway's default patience of
    50 s (`PATIENCE` in agents/agent_approvals/mcp_gateway/gateway.py), here 24 × 0.25 s. Each round waits its
    patience and answers `input_required` (24 counted, each with a new state); still one card and nothing
    forwarded; the retry after the click gets the result, forwarded once, and no further card. Then
    `mcp.Client`'s own retry loop does the same."""
    rounds, patience = rounds_in(PATIENCE), 0.25
    async with contextlib.AsyncExitStack() as stack:
        bot, key = await stack.enter_async_context(scaled_emailer(slack, redis_url))
        stack.push_async_callback(ended, tmp_path)
        client = await stack.enter_async_context(Client(
            stdio_params(bot, key, tmp_path, "--patience", f"{patience:g}"), input_required_max_rounds=1000))
        assert client.protocol_version == "2026-07-28"
        started = time.monotonic()
        answer = await asyncio.wait_for(
            client.session.call_tool("send_email", dict(EMAIL), allow_input_required=True), 30)
        card = await nth_card(slack, 1)
        states: list[str] = []
        while isinstance(answer, types.InputRequiredResult):
            assert answer.request_state and answer.request_state not in states and forwarded(tmp_path) == []
            states.append(answer.request_state)
            if len(states) == rounds:
                assert time.monotonic() - started >= rounds * patience  # each round waited its patience
                assert len(cards(slack)) == 1 and forwarded(tmp_path) == []
                await click(slack, card, "approval_approve", user=BOB)
            answer = await asyncio.wait_for(client.session.call_tool(
                "send_email", dict(EMAIL), request_state=answer.request_state, allow_input_required=True), 30)
        assert len(states) >= rounds and not answer.is_error and text(answer) == "sent to bob@example.com"
        assert len(forwarded(tmp_path)) == 1 and len(cards(slack)) == 1
        sending = asyncio.create_task(client.call_tool("send_email", {**EMAIL, "to": "carol@example.com"}))
        await click(slack, await nth_card(slack, 2), "approval_approve", user=BOB)
        result = await asyncio.wait_for(sending, 30)
    assert not result.is_error and text(result) == "sent to carol@example.com"
    assert len(forwarded(tmp_path)) == 2


async def test_a_sealed_state_outlives_a_gateway_restart_and_is_honoured_once(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """The client drives the round trips itself (as a program that keeps `requestState` across its own
    restarts): the gateway is stopped between the ask and the retry; a new one with the same sealing key honours
    the approval once; the same state again, a tampered one, or one for other arguments run nothing."""
    bot, key = emailer
    env = {"AGENT_APPROVALS_MCP_STATE_KEY": secrets.token_hex(32)}
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(ended, tmp_path)
        client = await stack.enter_async_context(Client(stdio_params(bot, key, tmp_path, *PATIENT, env=env)))
        first = await client.session.call_tool("send_email", dict(EMAIL), allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult) and first.request_state
        state = first.request_state
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    async with contextlib.AsyncExitStack() as stack:  # another client (its clientInfo) may not spend it
        stack.push_async_callback(ended, tmp_path)
        other = await stack.enter_async_context(Client(stdio_params(bot, key, tmp_path, *PATIENT, env=env),
                                                       client_info=types.Implementation(name="other", version="1")))
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await other.session.call_tool("send_email", dict(EMAIL), request_state=state)
    async with contextlib.AsyncExitStack() as stack:  # a new gateway process, the same key
        stack.push_async_callback(ended, tmp_path)
        client = await stack.enter_async_context(Client(stdio_params(bot, key, tmp_path, *PATIENT, env=env)))
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.session.call_tool("send_email", {**EMAIL, "to": "carol@example.com"}, request_state=state)
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.session.call_tool("send_email", dict(EMAIL), request_state=state[:-4] + "AAAA")
        done = await client.session.call_tool("send_email", dict(EMAIL), request_state=state)
        assert isinstance(done, types.CallToolResult) and text(done) == "sent to bob@example.com"
        with pytest.raises(MCPError, match="Invalid or expired requestState"):  # single use
            await client.session.call_tool("send_email", dict(EMAIL), request_state=state)
    async with contextlib.AsyncExitStack() as stack:  # and after another restart (its nonce forgotten there)
        stack.push_async_callback(ended, tmp_path)
        client = await stack.enter_async_context(Client(stdio_params(bot, key, tmp_path, *PATIENT, env=env)))
        replay = await client.session.call_tool("send_email", dict(EMAIL), request_state=state)
        assert isinstance(replay, types.CallToolResult) and replay.is_error
        assert "was used already" in text(replay)
    assert len(forwarded(tmp_path)) == 1 and len(cards(slack)) == 1


async def test_without_a_key_a_restarted_gateway_refuses_old_states(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(ended, tmp_path)
        client = await stack.enter_async_context(Client(stdio_params(bot, key, tmp_path, *PATIENT)))
        first = await client.session.call_tool("send_email", dict(EMAIL), allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult) and first.request_state
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(ended, tmp_path)
        client = await stack.enter_async_context(Client(stdio_params(bot, key, tmp_path, *PATIENT)))
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.session.call_tool("send_email", dict(EMAIL), request_state=first.request_state)
    assert forwarded(tmp_path) == []


async def test_an_older_client_with_deny_then_grant(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    """A handshake-era client with a 60 s limit, and a person's 20 minutes on a scaled clock: 20 minutes = 20
    limits of 60 s, here 20 × 0.2 s of `--patience`. Each call waits its patience and is refused with the card
    and 'call again' (20 refusals counted: the first call and 19 identical retries): still one card, nothing
    run; the identical retry after the click runs once; the same call once more is asked about again (a new
    card), not run."""
    rounds, patience = rounds_in(60), 0.2
    async with scaled_emailer(slack, redis_url) as (bot, key), \
            over_stdio(bot, key, tmp_path, "--patience", f"{patience:g}", "--deny-then-grant") as gw:
        started = time.monotonic()
        waited = await asyncio.wait_for(gw.session.call_tool("send_email", dict(EMAIL)), 30)
        assert waited.is_error and text(waited).startswith("Not run yet: waiting for approval in Slack: ")
        assert "Call send_email again with the same arguments after it is approved" in text(waited)
        refused = [waited]
        while len(refused) < rounds:  # retries before the click: the same card, nothing run
            again = await asyncio.wait_for(gw.session.call_tool("send_email", dict(EMAIL)), 30)
            assert again.is_error and text(again) == text(waited) and len(cards(slack)) == 1
            refused.append(again)
        assert time.monotonic() - started >= rounds * patience  # each refusal came after its patience
        assert len(cards(slack)) == 1 and gw.calls("send_email") == []
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        done = await asyncio.wait_for(gw.session.call_tool("send_email", dict(EMAIL)), 30)
        assert not done.is_error and text(done) == "sent to bob@example.com"
        assert len(gw.calls("send_email")) == 1 and len(cards(slack)) == 1  # one run, no further card
        once_more = await asyncio.wait_for(gw.session.call_tool("send_email", dict(EMAIL)), 30)
        assert once_more.is_error and len(cards(slack)) == 2
    assert len(gw.calls("send_email")) == 1
