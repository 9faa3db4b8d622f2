"""A route's step at least once (issue 90, item 3), as a user runs it: a real `python -m bot` worker takes the Slack
step of `slack` (the card in Bob's direct message) and is killed (SIGKILL) while its surface call is in flight, after
its claim and before the step is noted taken; once its claim's lease ends, another worker takes the step again: Bob
gets the card in his DM once, the step is said once on the approval and audited once. (The step used to be noted taken
before its surface was called: the killed worker's step was lost, never sent.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.core.reach import reached_items
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOB, SALES, bot_env, start_worker
from tests.support.api import Client
from tests.support.cluster import DEMO, Cluster
from tests.support.hitl import until

pytestmark = pytest.mark.slow  # a worker process killed, another worker


def dm_cards(slack: SlackStandIn, approval: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(slack.dm_channel(BOB)) if approval in str(m.get("blocks", ""))]


async def test_a_worker_killed_mid_step_leaves_it_to_another_which_sends_it_once(
    slack: SlackStandIn, store: Store, redis_url: str, tmp_path: Path
) -> None:
    await store.settings.set(SALES, "approvers", BOB, by="operator")
    await store.settings.set(SALES, "reach", "slack; email after 1h", by="operator")
    key = await store.api_keys.create("nightly", (SALES,), by="test")
    assert key is not None
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    cluster = Cluster(slack, redis_url, tmp_path, model)
    try:
        first = await cluster.start()
        slack.events_url = first.events
        dm = slack.hold("chat.postMessage", when=lambda args: args.get("channel") == slack.dm_channel(BOB))
        status, answer = await Client(first, key.key).ask(
            {"kind": "tool", "title": "Raise the price of plan B", "requester": "U0ALICE",
             "tool": {"name": "set_price", "arguments": {"plan": "B", "price": 12}}})
        assert status == 201, answer
        approval = str(answer["id"])
        await until(dm.arrived.is_set, within=15, what="the Slack step's DM in flight")
        first.kill()  # after its claim, before the step is noted taken
    finally:
        cluster.stop_all()
    record = await store.approvals.get(approval)
    assert record is not None and record.reach_done == 0 and not reached_items(record.reached)  # not noted taken
    assert dm_cards(slack, approval) == []
    await store.reach.schedule(approval, at=0)  # its claim's lease over (30 s in production), brought forward
    other = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    try:
        async def said() -> list[dict[str, Any]]:
            found = await store.approvals.get(approval)
            return reached_items(found.reached) if found is not None else []

        [item] = await until(said, within=15, what="the step taken again and said")
        assert (item["step"], item["surface"], item["outcome"], item["people"]) == (1, "slack", "sent", [BOB])
        [card] = await until(lambda: dm_cards(slack, approval), within=10, what="the card in Bob's DM")
        record = await store.approvals.get(approval)
        assert record is not None and record.reach_done == 1
        assert await store.reach.at(approval) is not None  # the next step (e-mail after 1h) due
        entries = [e for e in await store.audit.entries() if e["event"] == "reached" and e["approval"] == approval]
        assert [(e["step"], e["surface"], e["outcome"]) for e in entries] == [("1", "slack", "sent")]
        await other.services.reach.sweep()  # (again: nothing more)
        assert len(dm_cards(slack, approval)) == 1 and card["channel"] == slack.dm_channel(BOB)
    finally:
        dm.release()  # (the killed worker's call: nobody hears its answer)
        await other.stop()
