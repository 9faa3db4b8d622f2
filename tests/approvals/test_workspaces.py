"""Records carry their workspace (issue 65): a run started with `/agent` and its approvals carry the team the
command came from; an API key is bound to a workspace, and so are the approvals it asks for. Who may decide across
workspaces (#65.5): a person of another workspace only within our Enterprise Grid organisation and named by the
approvers (the rule, and the decide step through a worker's approval service; a signed click from another workspace:
tests/scenarios/test_tenants.py, against the local Slack's several workspaces). Real Redis, the real
Bolt app over signed HTTP, the Slack stand-in (one workspace, T0DEV)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from functools import partial

from bot.approvals.rights import may_decide_across
from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import TEAM_ID
from bot.devslack.server import SlackStandIn
from bot.people.ports import DirectoryUser as Person
from bot.store import Store
from tests.conftest import ALICE, BOB, SALES, Worker, name_admins
from tests.support.api import Client, tool_ask
from tests.support.flow import pending_card, start_run
from tests.support.hitl import audit_events, command
from tests.support.records import approval

DANA, ERIN = "U0DANA", "U0ERIN"  # people of other workspaces (Dana's in our Grid organisation, Erin's not)


async def test_a_run_and_its_approval_carry_the_workspace_the_command_came_from(
    worker: Worker, slack: SlackStandIn
) -> None:
    run_id = await start_run(slack)
    await pending_card(slack)
    run = await worker.services.store.runs.get(run_id)
    assert run is not None and (run.team, run.enterprise) == (TEAM_ID, "")
    approvals = await worker.services.store.approvals.of_run(run_id)
    assert approvals and all((a.team, a.enterprise) == (TEAM_ID, "") for a in approvals)


async def test_an_api_keys_approvals_carry_its_workspace(api: Worker, slack: SlackStandIn) -> None:
    made = await api.services.store.api_keys.create(
        "grid", (SALES,), by="test", workspace=WorkspaceRef(TEAM_ID, "E0ORG")
    )
    assert made is not None and (made.record.team, made.record.enterprise) == (TEAM_ID, "E0ORG")
    status, asked = await Client(api, made.key).ask(tool_ask())
    assert status == 201, asked
    approval = await api.services.store.approvals.get(asked["id"])
    assert approval is not None and (approval.team, approval.enterprise) == (TEAM_ID, "E0ORG")
    run = await api.services.store.runs.get(approval.run_id)
    assert run is not None and (run.team, run.enterprise) == (TEAM_ID, "E0ORG")
    stored = await api.services.store.api_keys.get("grid")
    assert stored is not None and (stored.team, stored.enterprise) == (TEAM_ID, "E0ORG")


async def test_agent_keys_create_binds_the_key_to_the_workspace_it_is_typed_in(
    worker: Worker, slack: SlackStandIn
) -> None:
    await name_admins(worker, ALICE)
    made = await command(slack, "keys create nightly")
    assert "Made the API key `nightly`" in made, made
    key = await worker.services.store.api_keys.get("nightly")
    assert key is not None and (key.team, key.enterprise) == (TEAM_ID, "")


# who may decide across workspaces (#65.5) -------------------------------------------------------------------------
HOME = WorkspaceRef(TEAM_ID)


def test_the_rule_a_person_of_another_workspace_decides_only_named_within_our_organisation() -> None:
    grid = replace(approval(), team="T0EU", enterprise="E0ORG", approvers=(DANA,))
    rule = partial(may_decide_across, external_teams=("T0PARTNER",), home=HOME)
    assert rule(grid, user=DANA, person=WorkspaceRef("T0B", "E0ORG"))  # one organisation, named
    assert not rule(replace(grid, approvers=()), user=DANA, person=WorkspaceRef("T0B", "E0ORG"))  # anyone: not named
    assert not rule(replace(grid, approvers=("S0EUFIN",)), user=DANA, person=WorkspaceRef("T0B", "E0ORG"))  # a group
    assert not rule(grid, user=DANA, person=WorkspaceRef("T0B", "E0OTHER"))  # another organisation
    assert not rule(replace(grid, enterprise=""), user=DANA, person=WorkspaceRef("T0B"))  # two plain workspaces
    assert not rule(grid, user=DANA, person=None)  # Slack could not say: never
    assert rule(grid, user=DANA, person=WorkspaceRef("T0EU", "E0ORG"))  # its own workspace's people
    assert rule(replace(grid, approvers=()), user=DANA, person=WorkspaceRef("T0PARTNER"))  # EXTERNAL_TEAMS: as before
    old = approval()  # written before approvals carried a workspace: the home one's
    assert rule(old, user=BOB, person=HOME) and not rule(old, user=DANA, person=WorkspaceRef("T0B"))


async def seed_person(store: Store, user: str, *, team: str, enterprise: str = "") -> None:
    """Who `user` is, as a worker last asked Slack (the record every worker reads before asking Slack)."""
    person = Person(id=user, name=user.lower(), team_id=team, enterprise_id=enterprise, guest=False, deleted=False,
                    bot=False)
    await store.people.put(user, json.dumps(asdict(person)), seconds=600)


async def test_a_person_of_another_workspace_decides_only_as_the_rule_says(worker: Worker) -> None:
    store, decisions = worker.services.store, worker.services.approvals.decisions
    await seed_person(store, DANA, team="T0B", enterprise="E0ORG")
    await seed_person(store, ERIN, team="T0C")
    named = replace(approval("grid-0000-a"), team="T0EU", enterprise="E0ORG", approvers=(DANA, ERIN))
    anyone = replace(approval("grid-0000-b"), team="T0EU", enterprise="E0ORG")
    plain = replace(approval("plain-000-a"), team="T0EU", approvers=(ERIN,))
    old = approval("old-00000-a")  # no workspace: the home one's
    for each in (named, anyone, plain, old):
        await store.approvals.create(each)
    assert (await decisions.decide(DANA, "slack", "approve", approval_id=named.id)).status == "ok"
    assert (await decisions.decide(DANA, "slack", "approve", approval_id=anyone.id)).status == "other_workspace"
    assert (await decisions.decide(ERIN, "slack", "approve", approval_id=plain.id)).status == "other_workspace"
    assert (await decisions.decide(BOB, "slack", "approve", approval_id=old.id)).status == "ok"
    refused = [(e["by"], e["approval"], e["team"], e["approval_team"]) for e in await audit_events(worker, "refused")
               if e.get("reason") == "other_workspace"]
    assert refused == [(DANA, anyone.id, "T0B", "T0EU"), (ERIN, plain.id, "T0C", "T0EU")]
    for each in (anyone, plain):
        still = await store.approvals.get(each.id)
        assert still is not None and still.pending


async def test_an_uninstalled_workspaces_pending_approvals_are_withdrawn_and_no_others(
    api: Worker, slack: SlackStandIn
) -> None:
    """The seam an uninstall (Slack's `app_uninstalled`, `tokens_revoked`) calls: `withdraw_workspace`."""
    store = api.services.store
    home = await store.api_keys.create("home", (SALES,), by="test")
    assert home is not None
    theirs = ["eu-00000-a", "eu-00000-b"]  # (kept, as the store keeps a tenant's, with their workspace)
    for approval_id in theirs:
        await store.approvals.create(replace(approval(approval_id), team="T0EU"))
    ours = (await Client(api, home.key).ask(tool_ask()))[1]["id"]
    withdrawn = await api.services.approvals.withdraw_workspace(
        WorkspaceRef("T0EU"), by="slack:app_uninstalled", reason="withdrawn: the app was uninstalled from T0EU")
    assert sorted(withdrawn) == sorted(theirs)
    for approval_id in theirs:
        gone = await store.approvals.get(approval_id)
        assert gone is not None and gone.status == "cancelled" and gone.decided_by == "slack:app_uninstalled"
    still = await store.approvals.get(ours)
    assert still is not None and still.pending  # the home workspace's (its key made before it had one)
    assert await api.services.approvals.withdraw_workspace(WorkspaceRef("T0EU"), by="x", reason="again") == []
