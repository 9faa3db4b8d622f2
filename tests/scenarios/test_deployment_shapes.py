"""Every deployment shape serves every workspace right (issue 78): a plain home workspace (SLACK_BOT_TOKEN of T0DEV)
and an org-wide home (SLACK_BOT_TOKEN of the Grid organisation E0GRID), each with the other workspaces installed
through Slack's OAuth or listed in SLACK_WORKSPACES_FILE. In each shape, an ask of each kind of workspace (plain,
and a workspace of the Grid organisation installed org-wide) is kept in its own tenant's data, its card posted there
and approved by one of its own people (the Grid's through a user group, which Slack reads with an org token only
when told the workspace: `team_id`); a workspace the app is not installed in is refused.

Real parts: redis-server, the worker's HTTP server and Bolt app over signed HTTP, the OAuth install walked over
HTTP; Slack is the local stand-in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import (
    GRID,
    GRID_A,
    GRID_TOKEN,
    OTHER_TEAM,
    OTHER_TOKEN,
    TEAM_ID,
    DevChannel,
    DevTeam,
    DevUser,
    several_teams,
)
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import ALICE, APPROVALS, BOB, Worker, bot_env, start_worker
from tests.support.hitl import until
from tests.support.oauth import install, oauth_env
from tests.support.tenants import (
    APPROVE,
    DAN,
    ERIN,
    GINA,
    GRID_A_CHANNEL,
    HANK,
    OTHER_CHANNEL,
    ask,
    card_in,
    decided_in,
    key_of,
)

STRANGER, FAY, FAR_CHANNEL = "T0FAR", "U9FAY", "C9FAR"  # a workspace the bot is not installed in
SHAPES = ("plain home, OAuth", "plain home, workspaces file", "org-wide home, OAuth", "org-wide home, workspaces file")


@dataclass(frozen=True)
class Place:
    """A workspace served in a shape: where its key asks, who asks, who approves, whose data keeps it."""

    ref: WorkspaceRef
    channel: str
    requester: str
    approver: str
    tenant: str


PLAIN_HOME = Place(WorkspaceRef(TEAM_ID), APPROVALS, ALICE, BOB, TEAM_ID)
OTHER = Place(WorkspaceRef(OTHER_TEAM), OTHER_CHANNEL, ERIN, DAN, OTHER_TEAM)
GRID_PLACE = Place(WorkspaceRef(GRID_A, GRID), GRID_A_CHANNEL, HANK, GINA, GRID)


@dataclass
class Shape:
    worker: Worker
    home: str  # the home tenant
    places: tuple[Place, ...]

    def store(self, tenant: str) -> Store:
        store = self.worker.services.store
        return store if tenant == self.home else store.for_tenant(tenant, home=self.home)


def a_stranger(slack: SlackStandIn) -> None:
    """A workspace Slack knows (and would send requests from), the bot is installed in by none of its settings."""
    slack.add_team(DevTeam(id=STRANGER, name="Far Away", domain="far-away"), token="xoxb-far-away")
    slack.set_user(DevUser(id=FAY, name="fay", real_name="Fay Far", team_id=STRANGER))
    slack.add_channel(DevChannel(id=FAR_CHANNEL, name="far-general", team_id=STRANGER))


async def start_shape(slack: SlackStandIn, redis_url: str, tmp_path: Path, shape: str) -> Shape:
    org_home, oauth = shape.startswith("org-wide"), shape.endswith("OAuth")
    listed = tmp_path / "workspaces.json"
    if oauth:
        slack.several_workspaces(installed=False)
        env = oauth_env(slack, redis_url)
    else:
        slack.several_workspaces()
        entries = [{"team": OTHER_TEAM, "bot_token": "env:OTHER_TOKEN"}]
        if not org_home:
            entries.append({"enterprise": GRID, "bot_token": "env:GRID_TOKEN"})
        listed.write_text(json.dumps(entries))
        env = bot_env(slack=slack, redis_url=redis_url, model_config=None, SLACK_WORKSPACES_FILE=str(listed),
                      OTHER_TOKEN=OTHER_TOKEN, GRID_TOKEN=GRID_TOKEN)
    if org_home:
        if oauth:  # the organisation's token, the operator's (not from the OAuth flow)
            slack.add_team(next(t for t in several_teams() if t.id == GRID_A), org_token=GRID_TOKEN)
        env.update(SLACK_BOT_TOKEN=GRID_TOKEN, APPROVALS_CHANNEL=GRID_A_CHANNEL)  # the organisation's channel
    a_stranger(slack)
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    if oauth:
        slack.configure_oauth(redirect_url=worker.url + "/slack/oauth_redirect")
        assert (await install(worker, slack, f"team:{OTHER_TEAM}"))[0] == 200
        if not org_home:
            assert (await install(worker, slack, f"org:{GRID}"))[0] == 200
    if org_home:
        return Shape(worker, GRID, (OTHER, GRID_PLACE))
    return Shape(worker, TEAM_ID, (PLAIN_HOME, OTHER, GRID_PLACE))


@pytest.fixture(params=SHAPES)
async def shape(request: pytest.FixtureRequest, slack: SlackStandIn, redis_url: str,
                tmp_path: Path) -> AsyncIterator[Shape]:
    started = await start_shape(slack, redis_url, tmp_path, request.param)
    yield started
    await started.worker.stop()


async def test_each_workspace_is_served_by_its_own_data_and_people(slack: SlackStandIn, shape: Shape) -> None:
    # the Grid's approvers are a user group of its workspace (Gina and Hank): Slack reads it with `team_id` only
    await shape.store(GRID).settings.set(GRID_A_CHANNEL, "approvers", "S2APPROVERS", by="operator")
    tenants = {place.tenant for place in shape.places}
    for place in shape.places:
        approval_id = await ask(await key_of(shape.worker, place.ref.team, place.channel, place.ref), place.requester)
        card = await card_in(slack, place.channel, approval_id)
        assert [t for t in tenants if await shape.store(t).approvals.get(approval_id)] == [place.tenant]
        clicked = await slack.click(user=place.approver, channel=place.channel, ts=card["ts"], action_id=APPROVE)
        assert clicked.status == 200
        store = shape.store(place.tenant)
        decided_now = partial(decided_in, store, approval_id)
        assert await until(decided_now, what=f"{place.ref.team}'s approval") == "approved"
        decided = await store.approvals.get(approval_id)
        assert decided is not None and decided.decided_by == place.approver
    refused = [c for c in slack.calls("usergroups.users.list") if not c.ok]
    assert refused == [], [(c.args, c.team) for c in refused]


async def test_a_workspace_the_app_is_not_installed_in_is_refused(slack: SlackStandIn, shape: Shape) -> None:
    said = await slack.send_command(user=FAY, channel=FAR_CHANNEL, text="status")
    assert said.status == 200 and "installed in another workspace" in said.body, said.body
