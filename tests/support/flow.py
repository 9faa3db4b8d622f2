"""Driving a run on an in-process worker: start it with `/agent`, wait for its card and its status."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import (
    ALICE,
    SALES,
    Worker,
    card_of,
    reply_text,
)

TASK = "Draft an email to our vendor requesting a 10% discount on the Q2 order."


async def start_run(slack: SlackStandIn, *, task: str = TASK, user: str = ALICE, channel: str = SALES) -> str:
    result = await slack.send_command(user=user, channel=channel, text=task)
    assert result.status == 200
    text = reply_text(result) if result.json else result.body
    assert "Started run `" in text, text
    return text.split("`")[1]


async def pending_card(slack: SlackStandIn, *, count: int = 1) -> dict[str, Any]:
    """Wait for the `count`-th pending card and return it."""
    return await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and len(card_of(slack)) >= count and c[-1])


async def run_status(worker: Worker, run_id: str, *, wanted: str) -> str:
    store: Store = worker.services.store

    async def status() -> str | None:
        run = await store.runs.get(run_id)
        return run.status if run and run.status == wanted else None

    for _ in range(2000):  # poll with a deadline (about 10 s)
        if (found := await status()) is not None:
            return found
        await slack_tick()
    run = await store.runs.get(run_id)
    raise AssertionError(f"run {run_id} is {run.status if run else None}, wanted {wanted}")


async def slack_tick() -> None:

    await asyncio.sleep(0.005)


async def config(slack: SlackStandIn, text: str, *, user: str = ALICE, channel: str = SALES) -> str:
    result = await slack.send_command(user=user, channel=channel, text=f"config {text}")
    assert result.status == 200
    return reply_text(result)
