"""A triage model's held approval reversed from the Teams card (#92 item 3, TRIAGE_HOLD: "a way for the route's admins
to reverse it while the run waits", on every surface): the card in the Teams channel shows "Reverse the model's
approval" while it is held; an approver who is no admin of the channel (Dana, Teams only) is refused, told so on the
card and audited naming her and `surface: teams`; a channel admin (Carol, ADMIN_USERS, by her verified email) reverses
it through the core's one step, audited `triage_reversed` naming her; the ask is then an ordinary one for people, the
card without Reverse. A real worker serving Slack and Teams, the local Bot Connector, a scripted OpenAI-compatible
model server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devmsteams import TeamsStandIn
from bot.msteams.cards import VERB_TRIAGE_REVERSE
from tests.conftest import CAROL
from tests.support.hitl import audit_events, until, write_config
from tests.support.openai_compatible import OpenAICompatibleServer, openai_config
from tests.support.teams import World, shown_notice, verbs
from tests.support.triage import LOW, MODEL, PERMITTED, model_server

pytestmark = pytest.mark.slow  # a worker serving Slack and Teams, a model server

ROUTES = PERMITTED


@pytest.fixture
async def model() -> AsyncIterator[OpenAICompatibleServer]:
    async with model_server() as server:
        yield server


@pytest.fixture
def world_policies() -> dict[str, str]:
    return {"refunds.cedar": ROUTES}


@pytest.fixture
def world_env(tmp_path: Path, model: OpenAICompatibleServer) -> dict[str, str]:
    config = write_config(tmp_path, openai_config(model.base_url, model=MODEL, max_retries=0))
    return {"MODEL_CONFIG": str(config), "TRIAGE_HOLD": "600", "ADMIN_USERS": CAROL}  # (only a Reverse ends it)


async def reverse(teams: TeamsStandIn, world: World, activity: str, member: str, approval: str) -> str:
    """`member` clicks Reverse on the channel's card as it shows to everyone; the notice they are answered."""
    status, body = await teams.execute(world.channel, activity, member, VERB_TRIAGE_REVERSE, {"approval": approval})
    assert status == 200, body
    return shown_notice(body["value"])


async def test_a_channel_admin_reverses_the_models_approval_in_teams_anyone_else_is_refused_and_audited(
        world: World, model: OpenAICompatibleServer) -> None:
    model.add(LOW)
    approval = await world.ask(title="Refund order A-1",
                               tool={"name": "refund", "arguments": {"order": "A-1", "amount_cents": 500}})
    activity = await world.teams_card(approval)
    await until(lambda: VERB_TRIAGE_REVERSE in verbs(world.card_now(activity)),
                what="the Teams card held, with Reverse")
    store = world.worker.services.store

    # Dana (an approver, Teams only) is no admin of the channel: refused, told so, audited naming her; nothing changed
    said = await reverse(world.teams, world, activity, world.dana, approval)
    assert said.startswith("Only this channel's admins may reverse") and "Nothing changed" in said, said
    refused = [e for e in await audit_events(world.worker, "refused") if e.get("action") == "triage_reverse"]
    assert [(e["by"], e["surface"], e["approval"]) for e in refused] == [(world.dana_person, "teams", approval)]
    record = await store.approvals.get(approval)
    assert record is not None and record.pending and record.triage_hold and not record.triage_reversed, record

    # Carol (ADMIN_USERS, U0CAROL by her verified email) reverses it: audited naming her, people decide
    said = await reverse(world.teams, world, activity, world.carol, approval)
    assert said.startswith("Reversed: the triage model's approval will not take effect"), said
    [entry] = await audit_events(world.worker, "triage_reversed")
    assert (entry["by"], entry["surface"], entry["approval"]) == (CAROL, "teams", approval), entry
    record = await store.approvals.get(approval)
    assert record is not None and record.pending and record.triage_reversed == CAROL, record
    await until(lambda: VERB_TRIAGE_REVERSE not in verbs(world.card_now(activity)),
                what="the Teams card redrawn without Reverse")
    refused_model = await world.worker.services.approvals.decisions.decide_as_model(
        MODEL, approval_id=approval, feedback="Approved by the triage model")
    assert refused_model.status == "reversed", refused_model  # the model's decision refused after it
