"""The one entry of a person's vote (issue 88): `Decisions.decide(person, surface, verb, ...)`, whatever the surface.

A real worker (the local Slack, a real redis-server): the same person on Slack then Teams counts once, every vote and
decision audit entry names its surface, a Slack `where` of another approval's card is a mismatch, and a verb outside
approve/reject/revise is refused before anything."""

from __future__ import annotations

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, CAROL, Worker
from tests.support.flow import config, pending_card, run_status, start_run
from tests.support.hitl import audit_events, until
from tests.support.homes import approval_id_of


async def test_the_same_person_on_slack_then_teams_counts_once_and_every_entry_names_its_surface(
    slack: SlackStandIn, worker: Worker
) -> None:
    await config(slack, "required_approvals 2")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    approval = approval_id_of(card)
    decisions = worker.services.approvals.decisions
    first = await decisions.decide(BOB, "slack", "approve", approval_id=approval, where=f"{APPROVALS}/{card['ts']}")
    assert first.status == "vote" and decisions.redraw_after(first, surface="slack")
    again = await decisions.decide(BOB, "teams", "approve", approval_id=approval)  # Bob again, elsewhere
    assert again.status == "duplicate"
    got = await worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.voters == [BOB]
    last = await decisions.decide(CAROL, "teams", "approve", approval_id=approval)
    assert last.status == "ok" and decisions.redraw_after(last, surface="teams")
    await run_status(worker, run_id, wanted="completed")
    votes = [e for e in await audit_events(worker, "vote") if e.get("approval") == approval]
    assert [(e["by"], e["surface"]) for e in votes] == [(BOB, "slack"), (CAROL, "teams")]
    decided = [e for e in await audit_events(worker, "decision") if e.get("approval") == approval]
    assert [(e["by"], e["surface"]) for e in decided] == [(CAROL, "teams")]


async def test_a_slack_click_through_the_old_door_names_slack_too(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve", as_seen=card)
    approval = approval_id_of(card)

    async def decided() -> list[dict[str, str]]:
        return [e for e in await audit_events(worker, "decision") if e.get("approval") == approval]

    entries = await until(decided, what="the decision's audit entry")
    assert [(e["by"], e["surface"]) for e in entries] == [(BOB, "slack")]


async def test_a_where_of_another_approval_is_a_mismatch_on_slack(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    first = await pending_card(slack)
    await start_run(slack)
    second = await pending_card(slack, count=2)
    assert second["ts"] != first["ts"]
    decisions = worker.services.approvals.decisions
    result = await decisions.decide(BOB, "slack", "approve", approval_id=approval_id_of(first),
                                    where=f"{APPROVALS}/{second['ts']}")
    assert result.status == "mismatch"
    got = await worker.services.store.approvals.get(approval_id_of(first))
    assert got is not None and got.status == "pending" and got.voters == []


async def test_a_verb_outside_the_three_is_refused_with_a_clear_error(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    approval = approval_id_of(await pending_card(slack))
    decisions = worker.services.approvals.decisions
    with pytest.raises(ValueError, match="no verb a person decides with: one of approve, reject, revise"):
        await decisions.decide(BOB, "slack", "approved", approval_id=approval)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no surface"):
        await decisions.decide(BOB, "fax", "approve", approval_id=approval)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no Slack card's place"):
        await decisions.decide(BOB, "slack", "approve", approval_id=approval, where="C1")
    got = await worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.voters == []
    assert await audit_events(worker, "vote", "decision") == []
