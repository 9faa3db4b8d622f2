"""What the fault scenarios check after a fault: cards against Redis, runs finished once, timed calls."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.core.card_words import decided_title
from bot.core.records import ApprovalRecord
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import (
    APPROVALS,
    block_texts,
    has_buttons,
)
from tests.support.cluster import cards


def approval_of(card: dict[str, Any]) -> str | None:
    """The approval id a card's buttons carry (None once it has no buttons)."""
    for block in card.get("blocks") or []:
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                if element.get("value"):
                    return str(element["value"])
    return None


async def card_problems(slack: SlackStandIn, store: Store, run_ids: list[str]) -> list[str]:
    """Where a card disagrees with Redis: every card must be the card of one of its run's approvals; a pending
    approval's card has buttons carrying its id, a decided one's says the decision and has none."""
    problems = []
    for run_id in run_ids:
        by_ts = {a.card_ts: a for a in await store.approvals.of_run(run_id) if a.card_ts}
        for card in cards(slack, run_id):
            approval = by_ts.get(card["ts"])
            if approval is None:
                problems.append(f"card {card['ts']} of run {run_id} is no approval's card in Redis")
            elif approval.pending and approval_of(card) != approval.id:
                problems.append(f"card of pending approval {approval.id} has no live buttons for it")
            elif not approval.pending and (
                has_buttons(card) or decided_title(approval) not in block_texts(card)
            ):
                problems.append(f"card of {approval.status} approval {approval.id} does not show it")
    return problems


async def cards_match_redis(slack: SlackStandIn, store: Store, run_ids: list[str], *, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while problems := await card_problems(slack, store, run_ids):
        if time.monotonic() > deadline:
            raise AssertionError(f"cards disagree with Redis: {problems}")
        await asyncio.sleep(0.05)


async def unconsumed(store: Store, run_id: str) -> list[ApprovalRecord]:
    """Decisions shown as taken (approved, rejected, revised) that no worker continued the run with."""
    decided = ("approved", "rejected", "revised")
    return [a for a in await store.approvals.of_run(run_id) if a.status in decided and a.consumed != 1]


async def finished_once(store: Store, run_id: str) -> int:
    return len(
        [e for e in await store.audit.entries(count=100_000) if e["event"] == "run_finished" and e["run"] == run_id]
    )


def card_post(args: dict[str, Any]) -> bool:
    """A `chat.postMessage` of an approval card (top level in #approvals)."""
    return args.get("channel") == APPROVALS and not args.get("thread_ts")
