"""The MCP approval gateway under a freeze (`/agent freeze`, `python -m bot freeze`): every call in the frozen scope
gets the agent's MCP client `isError` with the bot's own words ("frozen: <reason> …"), no card is posted and nothing
reaches the upstream, the allow-listed tools included; after the unfreeze, calls go through again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, Worker
from tests.support.hitl import click, nth_card
from tests.support.mcp_gateway import EMAIL, over_stdio, text

pytestmark = pytest.mark.slow  # the gateway and its upstream as processes


async def test_a_frozen_channel_refuses_every_call_and_runs_nothing(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    freezes = bot.services.store.freezes
    assert await freezes.freeze(f"channel:{SALES}", reason="incident 7: mail loop", by=BOB)
    async with over_stdio(bot, key, tmp_path) as gw:
        sent = await gw.session.call_tool("send_email", dict(EMAIL))
        assert sent.is_error and "frozen: incident 7: mail loop" in text(sent), text(sent)
        listed = await gw.session.call_tool("list_inbox", {"limit": 2})
        assert listed.is_error and "frozen: incident 7: mail loop" in text(listed), text(listed)
        assert gw.calls("send_email") == [] and gw.calls("list_inbox") == []
        assert slack.messages(APPROVALS) == []  # nobody was asked
        assert key not in gw.logged() and "Traceback" not in gw.logged()

        status, _ = await freezes.unfreeze(f"channel:{SALES}", by=BOB, direct=True)
        assert status == "ok"
        sending = asyncio.create_task(gw.session.call_tool("send_email", dict(EMAIL)))
        await click(slack, await nth_card(slack, 1, within=30), "approval_approve", user=BOB)
        done = await asyncio.wait_for(sending, 30)
        assert not done.is_error and [c["arguments"] for c in gw.calls("send_email")] == [EMAIL]
