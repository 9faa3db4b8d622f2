"""The soak's orphaned card, played out: the owner of a run is killed after Slack made its approval's card and before
it noted the card in Redis; another worker posts the card again (the one Redis then notes); the approval times out,
and only then is the first card clicked: it is drawn with the decision, without buttons, and no approval in Redis
knows its ts. What tests/soak.py reported as `cards_not_matching: 1` ("Timed out: rejected", no buttons); the soak
now knows each card by the buttons it saw on it (`note_buttons`, then `card_states`' `clicked`), and this card shows
its approval's decision."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import APPROVALS, BOB, block_texts
from tests.soak import card_states, note_buttons
from tests.support.cluster import Cluster, card_now
from tests.support.faults import approval_of
from tests.support.flow import start_run
from tests.support.hitl import until

pytestmark = pytest.mark.slow  # two worker processes, one killed


@pytest.mark.timeout(120)
async def test_a_card_posted_again_then_clicked_after_the_timeout_shows_the_decision_and_the_soak_knows_it(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    owner = await cluster.start()
    other = await cluster.start()
    slack.events_url = owner.events
    held = slack.hold("chat.postMessage", when=lambda args: args.get("channel") == APPROVALS
                      and "approval_approve" in json.dumps(args.get("blocks")))
    run_id = await start_run(slack)
    await asyncio.wait_for(held.arrived.wait(), timeout=30)
    owner.kill()  # Slack makes the card once released; its worker never hears its ts, nor notes it
    held.release()

    def cards() -> list[dict[str, Any]]:
        return [m for m in slack.messages(APPROVALS) if not m.get("thread_ts") and approval_of(m)]

    seen: dict[str, str] = {}  # what the soak's loop notes of the cards it sees
    first = await slack.wait_for(lambda: next(iter(cards()), None), timeout=10)
    note_buttons(slack, seen)
    approval_id = approval_of(first)
    assert approval_id is not None
    slack.events_url = other.events
    # the other worker sees the owner dead and the approval with no card noted: it posts the card again
    again = await slack.wait_for(lambda: next((c for c in cards() if c["ts"] != first["ts"]), None), timeout=30)
    assert approval_of(again) == approval_id
    note_buttons(slack, seen)

    async def noted() -> bool:  # (the worker notes the card it posted just after Slack answers)
        stored = await store.approvals.get(approval_id)
        return stored is not None and stored.card_ts == again["ts"]

    await until(noted, within=10, what="the card posted again noted")

    await store.redis.hset(store.keys.approval(approval_id), "deadline", str(time.time() - 1))  # type: ignore[misc]
    timed_out = await store.approvals.decide(approval_id, outcome="timed_out", by="timeout")
    assert timed_out.status == "ok"
    await slack.wait_for(lambda: "Timed out" in block_texts(card_now(slack, again)), timeout=20)
    await slack.click(user=BOB, channel=APPROVALS, ts=first["ts"], action_id="approval_approve", as_seen=first)
    shown = await slack.wait_for(lambda: (c := card_now(slack, first)) and not approval_of(c) and c, timeout=20)
    assert "Timed out" in block_texts(shown), block_texts(shown)  # the decision of its approval, no buttons

    # Redis knows the second card's ts only: by the ts alone, the first is a card of no known approval
    orphaned = await card_states(store, slack)
    assert orphaned[1] >= 1, orphaned
    assert seen == {first["ts"]: approval_id, again["ts"]: approval_id}
    copies: list[str] = []
    known = await card_states(store, slack, seen, copies=copies)
    assert known[1] == orphaned[1] - 1, (known, orphaned, run_id)
    assert copies == [first["ts"]]  # matching, and told apart (the soak's report counts them)
