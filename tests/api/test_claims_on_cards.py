"""What the asker says, shown as said (#79.6), as a user runs it: a program (the Python client) asks with its reason
(`why`) and the change itself; the card in #approvals, its copy in the approver's direct message and their App Home
each say "The agent says: …" (never as a fact), the program's title as its own words, and one plain sentence of what
it does ("In short: Changes 1 line in src/prices.py and runs make deploy."); a secret in the reason is hidden like any
free text; every Block Kit payload is valid by slack_sdk."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.artifacts import command, file_change
from slack_sdk.models.blocks import Block

from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, SALES, Worker
from tests.support.api import EMAIL, new_key
from tests.support.hitl import nth_card, text_of
from tests.support.homes import dm_cards, home_blocks, home_text, open_homes
from tests.support.leaks import redis_dump

BEFORE = "".join(f"PRICE_{n} = {n}\n" for n in range(1, 200))
AFTER = BEFORE.replace("PRICE_7 = 7\n", "PRICE_7 = 8\n")
KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
SUMMARY = "In short:* Changes 1 line in src/prices.py and runs make deploy."


def assert_blocks_valid(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        parsed = Block.parse(copy.deepcopy(block))
        assert parsed is not None
        parsed.to_dict()
    assert validate_blocks(blocks) is None, validate_blocks(blocks)


@pytest.mark.slow
async def test_the_card_its_dm_copy_and_the_home_say_the_agents_claim_and_the_summary(
    api: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    for key, value in (("approvers", BOB), ("deliver", "both")):
        assert await api.services.store.settings.set(SALES, key, value, by=ALICE) is None
    await open_homes(slack, BOB)
    async with ApprovalsClient(api.url, key=(await new_key(api)).key) as program:
        await program.request_tool(
            "deploy_prices", {"price": 8}, title="Raise PRICE_7 (a harmless fix)", requester=ALICE,
            why=f"The finance team asked for it <!channel>; token {KEY}",
            artifacts=[file_change("src/prices.py", BEFORE, AFTER), command("make deploy")])
    card = await nth_card(slack, 1)
    await slack.wait_for(lambda: dm_cards(slack, BOB), description="bob's copy")
    dm = dm_cards(slack, BOB)[-1]
    await slack.wait_for(lambda: "The agent says" in home_text(slack, BOB), description="bob's Home")
    surfaces: list[tuple[str, list[dict[str, Any]]]] = [
        (text_of(card), card["blocks"]), (text_of(dm), dm["blocks"]), (home_text(slack, BOB), home_blocks(slack, BOB))]
    for shown, blocks in surfaces:
        assert "The agent says: “The finance team asked for it &lt;!channel&gt;; token" in shown, shown
        assert SUMMARY in shown and "Task, in the agent's words" in shown
        assert KEY not in shown and "<!channel>" not in shown
        assert_blocks_valid(blocks)
    assert KEY not in await redis_dump(redis_url)


async def test_a_persons_task_is_theirs_and_nothing_is_claimed_when_nothing_is_said(
    api: Worker, slack: SlackStandIn
) -> None:
    async with ApprovalsClient(api.url, key=(await new_key(api)).key) as program:
        await program.request_tool("send_email", EMAIL, title="Tell Bob", requester=ALICE)
    shown = text_of(await nth_card(slack, 1))
    assert "The agent says" not in shown and "In short" not in shown  # no reason given, no artefact, no description
