"""Fatigue (#80): a person over the channel's `max_asks_per_hour` stops getting new cards and the next approver gets
them; when nobody is under it, the approval is held for the next hour (its card in the channel says so, nobody gets a
DM now) and at that hour each approver gets one batch of what is still pending.

Real parts: redis-server, the Bolt app over signed HTTP, the Approvals API (a key asking in #sales), cards by direct
message; Slack is the stand-in, which checks every Block Kit payload as Slack does. The clock is moved as the
reminders' tests move it: the nudger swept at a time ahead (`sweep(now=)`)."""

from __future__ import annotations

from typing import Any

from bot.core.fatigue import held_until
from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, APPROVALS, BOB, CAROL, Worker, block_texts, name_admins
from tests.support.api import Client, tool_ask
from tests.support.hitl import audit_events, click
from tests.support.homes import dm_cards, say
from tests.support.metrics_table import sample, scrape


async def ask(slack: SlackStandIn, client: Client, *, to: tuple[str, ...], before: dict[str, int]) -> str:
    """One ask; its card reaches the DMs of `to` (and of nobody else). Returns its id."""
    status, answer = await client.ask(tool_ask())
    assert status in (200, 201) and answer["status"] == "pending", answer
    for person in (BOB, CAROL):
        wanted = before[person] + (1 if person in to else 0)
        await slack.wait_for(lambda p=person, n=wanted: len(dm_cards(slack, p)) == n,  # type: ignore[misc]
                             description=f"{wanted} cards in the DMs of {person}")
        before[person] = wanted
    return str(answer["id"])


async def test_an_approver_over_max_asks_per_hour_gets_no_new_card_the_next_one_does(
    slack: SlackStandIn, emailer: tuple[Worker, str]
) -> None:
    worker, key = emailer
    client = Client(worker, key)
    await name_admins(worker, ALICE)
    await say(slack, "config approvers @bob")
    await say(slack, "config deliver dm")
    assert "2" in await say(slack, "config max_asks_per_hour 2")
    got = {BOB: 0, CAROL: 0}
    for _ in range(2):  # bob's two cards this hour
        await ask(slack, client, to=(BOB,), before=got)
    await say(slack, "config approvers @bob @carol")

    third = await ask(slack, client, to=(CAROL,), before=got)  # bob is at his budget: carol gets it
    card = dm_cards(slack, CAROL)[-1]
    assert f"Sent to <@{CAROL}>: <@{BOB}> has had 2 cards this hour" in block_texts(card)
    assert validate_blocks(card["blocks"]) is None
    stored = await worker.services.store.approvals.get(third)
    assert stored is not None and stored.approvers == (CAROL,)
    (entry,) = await audit_events(worker, "rerouted")
    assert (entry["approval"], entry["from_person"], entry["to_person"], entry["reason"]) == (
        third, BOB, CAROL, "max_asks_per_hour")
    metrics = await scrape(worker)
    assert sample(metrics, f'hitl_cards_per_hour{{person="{BOB}"}}') == 2
    assert sample(metrics, f'hitl_cards_per_hour{{person="{CAROL}"}}') == 1
    assert sample(metrics, "hitl_fatigue_rerouted_total") == 1

    await ask(slack, client, to=(CAROL,), before=got)  # carol's second: bob still gets none
    last = await ask(slack, client, to=(), before=got)  # both at their budget: held for the next hour, no DM
    card = channel_card(slack, last)
    assert "Held for the next hour: every approver is over their budget" in block_texts(card)
    assert validate_blocks(card["blocks"]) is None
    waiting = [e for e in await audit_events(worker, "rerouted") if e["approval"] == last]
    assert sorted((e["from_person"], e["reason"]) for e in waiting) == [
        (BOB, "held for the next hour"), (CAROL, "held for the next hour")]
    assert sample(await scrape(worker), "hitl_fatigue_rerouted_total") == 2


def channel_card(slack: SlackStandIn, approval_id: str) -> dict[str, Any]:
    """The card of `approval_id` in #approvals (by its buttons' value)."""
    return next(m for m in slack.messages(APPROVALS) if any(
        e.get("value") == approval_id for b in m.get("blocks") or [] for e in b.get("elements") or []))


def batches(slack: SlackStandIn, user: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(slack.dm_channel(user)) if "held for you" in str(m.get("text"))]


async def test_every_approver_over_budget_holds_the_approval_and_the_next_hour_sends_one_batch_each(
    slack: SlackStandIn, emailer: tuple[Worker, str]
) -> None:
    worker, key = emailer
    client = Client(worker, key)
    await name_admins(worker, ALICE)
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config deliver dm")
    await say(slack, "config max_asks_per_hour 1")
    got = {BOB: 0, CAROL: 0}
    await ask(slack, client, to=(BOB, CAROL), before=got)  # the hour's one card each
    held = [await ask(slack, client, to=(), before=got) for _ in range(3)]  # no DM for anyone over budget
    store = worker.services.store
    approvals = [await store.approvals.get(i) for i in held]
    hour = held_until(approvals[0])  # type: ignore[arg-type]
    at = f"{int(hour % 86400 // 3600):02d}:00 UTC"
    for approval_id in held:
        card = channel_card(slack, approval_id)  # its card in the approvals channel, saying when
        assert f"They will be sent it together at {at}" in block_texts(card), block_texts(card)
        assert validate_blocks(card["blocks"]) is None
    entries = [e for e in await audit_events(worker, "rerouted") if e["approval"] in held]
    said = sorted((e["approval"], e["from_person"], e["reason"], e["to_person"], e["until"]) for e in entries)
    assert said == sorted((i, p, "held for the next hour", "", repr(hour)) for i in held for p in (BOB, CAROL))
    assert not any("sent to all" in str(e) or "waiting" in str(e) for e in await audit_events(worker, "rerouted"))

    await click(slack, channel_card(slack, held[0]), "approval_approve", user=BOB)  # decided in the channel meanwhile
    decided = await store.approvals.get(held[0])
    assert decided is not None and decided.status == "approved"
    nudger = worker.services.nudger
    assert await nudger.sweep(now=hour - 1) == 0 and not batches(slack, BOB)  # not before the hour
    assert await nudger.sweep(now=hour + 1) == 2  # one batch each
    for person in (BOB, CAROL):
        (batch,) = batches(slack, person)
        assert "2 approvals held for you" in batch["text"] and f"until {at}" in batch["text"]
        assert held[1] in batch["text"] and held[2] in batch["text"] and held[0] not in batch["text"]
    assert await store.fatigue.counts([BOB, CAROL], now=hour + 1) == {BOB: 2, CAROL: 2}  # the new hour's budget
    assert await nudger.sweep(now=hour + 60) == 0  # once
    # a worker killed after posting the batches and before letting them go leaves them held: the next finds them sent
    for approval_id in held[1:]:
        await store.fatigue.hold(approval_id, (BOB, CAROL), until=hour)
    assert await nudger.sweep(now=hour + 120) == 0
    assert all(len(batches(slack, p)) == 1 for p in (BOB, CAROL))
    assert await store.fatigue.next_held() is None


async def test_held_for_a_quorum_short_the_approver_under_budget_gets_it_now_the_one_over_it_at_the_hour(
    slack: SlackStandIn, emailer: tuple[Worker, str]
) -> None:
    worker, key = emailer
    client = Client(worker, key)
    await name_admins(worker, ALICE)
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config deliver dm")
    await say(slack, "config max_asks_per_hour 2")
    got = {BOB: 0, CAROL: 0}
    await ask(slack, client, to=(BOB, CAROL), before=got)
    await say(slack, "config approvers @bob")
    await ask(slack, client, to=(BOB,), before=got)  # bob at his budget, carol has one left
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config required_approvals 2")
    held = await ask(slack, client, to=(CAROL,), before=got)  # carol alone cannot make the quorum: held, her copy now
    card = channel_card(slack, held)
    assert "Held for the next hour: too few approvers are under their budget for its quorum" in block_texts(card)
    assert validate_blocks(card["blocks"]) is None
    entries = [e for e in await audit_events(worker, "rerouted") if e["approval"] == held]
    assert [(e["from_person"], e["reason"]) for e in entries] == [(BOB, "held for the next hour")]
    approval = await worker.services.store.approvals.get(held)
    assert approval is not None
    assert await worker.services.nudger.sweep(now=held_until(approval) + 1) == 1
    (batch,) = batches(slack, BOB)
    assert held in batch["text"] and not batches(slack, CAROL)
