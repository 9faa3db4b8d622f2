"""The MCP gateway passes an approval's signed receipt upstream (#38): an approved call forwarded to the upstream
carries `Approval.receipt` in its `_meta` under `agent_approvals.receipts.META_KEY`; an approval without one (the
bot signs nothing) and an `--allow`ed call carry no such entry. The upstream (tests/support/mcp_meta_upstream.py)
records what its `_meta` held for each call it received. With a worker that signs, the receipt that arrives is
the bot's own, for that approval and exactly those arguments (blocking, and as a task)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.client import Approval, ApprovalsClient
from agent_approvals.mcp_gateway import Gateway, Upstream, connect
from agent_approvals.receipts import args_sha256
from mcp import Client

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker
from tests.support.hitl import click, nth_card
from tests.support.mcp_gateway import EMAIL, ended, over_stdio, stdio_params, text
from tests.support.mcp_tasks import TasksExtension
from tests.support.signing import signing_worker, verified

pytestmark = pytest.mark.slow  # the gateway's upstream as a process

CAROL = {**EMAIL, "to": "carol@example.com"}


def approval_of(card: dict[str, Any]) -> str:
    """The approval id a card's buttons carry."""
    return str(next(e["value"] for b in card["blocks"] if b.get("type") == "actions" for e in b["elements"]))

META_UPSTREAM = Path(__file__).parents[2] / "support" / "mcp_meta_upstream.py"


def received(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


async def test_the_forwarded_call_carries_the_approvals_receipt_and_none_without_one(
    emailer: tuple[Worker, str], tmp_path: Path
) -> None:
    """The gateway's own forward, given an approval with a receipt and one without: the upstream receives the
    receipt exactly, under META_KEY; without one, no META_KEY entry at all."""
    bot, key = emailer
    record = tmp_path / "calls.jsonl"
    upstream = Upstream(command=[sys.executable, str(META_UPSTREAM), "--record", str(record)])
    async with ApprovalsClient(bot.url, key) as client, connect(upstream) as connected:
        gateway = Gateway(connected, client)
        ctx: Any = None  # (used only to pass the upstream's progress on; this upstream reports none)
        signed = Approval(id="a-1", status="approved", receipt="eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhLTEifQ.c2ln")
        with_receipt = await gateway.forwarder.forward(ctx, "send_email", dict(EMAIL), signed)
        without = await gateway.forwarder.forward(ctx, "send_email", dict(EMAIL), Approval(id="a-2", status="approved"))
    assert text(with_receipt) == signed.receipt and text(without) == "no receipt"
    assert [(c["receipt"], c["has_key"]) for c in received(record)] == [(signed.receipt, True), (None, False)]



async def test_approved_calls_carry_the_receipt_the_bot_signed_blocking_and_as_a_task(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """End to end with a worker that signs: an approved call through the gateway (an older client that waits,
    then a task) reaches the upstream with the approval's receipt under META_KEY, which the bot's published
    keys verify, naming this approval, the tool and exactly these arguments."""
    bot = await signing_worker(slack, redis_url, tmp_path / "keys.json")
    try:
        made = await bot.services.store.api_keys.create("emailer", [SALES], by=BOB)
        assert made is not None
        record = tmp_path / "calls.jsonl"
        command = [sys.executable, str(META_UPSTREAM), "--record", str(record)]
        async with over_stdio(bot, made.key, tmp_path, command=command) as gw:
            sending = asyncio.create_task(gw.session.call_tool("send_email", dict(EMAIL)))
            card = await nth_card(slack, 1, within=30)
            await click(slack, card, "approval_approve", user=BOB)
            assert not (await asyncio.wait_for(sending, 30)).is_error
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(ended, tmp_path)
            client = await stack.enter_async_context(Client(
                stdio_params(bot, made.key, tmp_path, command=command), extensions=[TasksExtension()]))
            tasked = asyncio.create_task(client.call_tool("send_email", dict(CAROL)))
            second = await nth_card(slack, 2, within=30)
            await click(slack, second, "approval_approve", user=BOB)
            assert not (await asyncio.wait_for(tasked, 30)).is_error
        calls = received(record)
        assert [c["arguments"] for c in calls] == [EMAIL, CAROL]
        for call, shown in zip(calls, (card, second), strict=True):
            _, claims = await verified(bot, call["receipt"])
            assert claims["sub"] == approval_of(shown) and claims["tool"] == "send_email"
            assert claims["args_sha256"] == args_sha256(call["arguments"])
    finally:
        await bot.stop()
