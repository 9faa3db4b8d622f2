"""Fatigue (#80): a person over the channel's `max_asks_per_hour` stops getting new cards and the next approver gets
them; when nobody is under it, it goes to them all and its card says they are over budget.

Real parts: redis-server, the Bolt app over signed HTTP, the Approvals API (a key asking in #sales), cards by direct
message; Slack is the stand-in, which checks every Block Kit payload as Slack does."""

from __future__ import annotations

from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, CAROL, Worker, block_texts, name_admins
from tests.support.api import Client, tool_ask
from tests.support.hitl import audit_events
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
    last = await ask(slack, client, to=(BOB, CAROL), before=got)  # both at their budget: it goes to both, and waits
    card = dm_cards(slack, CAROL)[-1]
    assert "Over budget, so sent to all" in block_texts(card) and validate_blocks(card["blocks"]) is None
    waiting = [e for e in await audit_events(worker, "rerouted") if e["approval"] == last]
    assert sorted((e["from_person"], e["reason"]) for e in waiting) == [
        (BOB, "waiting for the next hour"), (CAROL, "waiting for the next hour")]
    assert sample(await scrape(worker), "hitl_fatigue_rerouted_total") == 2
