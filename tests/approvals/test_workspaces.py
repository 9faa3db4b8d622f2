"""Records carry their workspace (issue 65): a run started with `/agent` and its approvals carry the team the
command came from; an API key is bound to a workspace, and so are the approvals it asks for. Real Redis, the real
Bolt app over signed HTTP, the Slack stand-in (one workspace, T0DEV)."""

from __future__ import annotations

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import TEAM_ID
from bot.devslack.server import SlackStandIn
from tests.conftest import SALES, Worker
from tests.support.api import Client, tool_ask
from tests.support.flow import pending_card, start_run


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
