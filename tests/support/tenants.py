"""The workspaces of the tenancy scenarios (issue 65, 78): a worker installed in the home workspace, a second plain
one (T0OTHER) and org-wide in a Grid organisation (E0GRID: T0GRIDA, T0GRIDB), through SLACK_WORKSPACES_FILE, and the
steps the scenarios take in them: a key of a workspace, an ask, its card, its status in a tenant's data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import GRID, OTHER_TEAM, TEAM_ID
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import Worker, bot_env, start_worker
from tests.support.api import Client, tool_ask
from tests.support.hitl import audit_events
from tests.support.stepup import ORIGIN

DAN, ERIN, GINA, HANK = "U1DAN", "U1ERIN", "W0GINA", "W0HANK"  # of T0OTHER (two), of T0GRIDA, of T0GRIDB
OTHER_CHANNEL, GRID_A_CHANNEL = "C1APPROVALS", "C2APPROVALS"
APPROVE = "approval_approve"


def workspaces_file(tmp_path: Path) -> Path:
    listed = tmp_path / "workspaces.json"
    listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": "env:OTHER_TOKEN"},
                                  {"enterprise": GRID, "bot_token": "env:GRID_TOKEN"}]))
    return listed


async def several_worker(slack: SlackStandIn, redis_url: str, tmp_path: Path, **extra: str) -> Worker:
    tokens = slack.several_workspaces()
    worker = await start_worker(bot_env(
        slack=slack, redis_url=redis_url, model_config=None, SLACK_WORKSPACES_FILE=str(workspaces_file(tmp_path)),
        OTHER_TOKEN=tokens[OTHER_TEAM], GRID_TOKEN=tokens[GRID], STEP_UP_URL=ORIGIN, **extra))
    slack.events_url = worker.url + "/slack/events"
    return worker


def store_of(worker: Worker, tenant: str) -> Store:
    return worker.services.store.for_tenant(tenant, home=TEAM_ID)


async def key_of(worker: Worker, name: str, channel: str, workspace: WorkspaceRef | None) -> Client:
    made = await worker.services.store.api_keys.create(name, (channel,), by="test", workspace=workspace)
    assert made is not None
    return Client(worker, made.key)


async def ask(client: Client, requester: str) -> str:
    status, asked = await client.ask(tool_ask(requester=requester))
    assert status == 201, asked
    return str(asked["id"])


async def card_in(slack: SlackStandIn, channel: str, approval_id: str) -> dict[str, Any]:
    """The pending card of `approval_id` in `channel`, once it is there."""

    def found() -> dict[str, Any] | None:
        for message in slack.messages(channel):
            if approval_id in json.dumps(message.get("blocks") or []) and any(
                    b.get("type") == "actions" for b in message.get("blocks") or []):
                return message
        return None

    card: dict[str, Any] = await slack.wait_for(found, description=f"the card of {approval_id} in {channel}")
    return card


async def status_in(store: Store, approval_id: str) -> str:
    approval = await store.approvals.get(approval_id)
    return "" if approval is None else approval.status


async def decided_in(store: Store, approval_id: str) -> str:
    """The approval's status once it is no longer pending ("" until then)."""
    status = await status_in(store, approval_id)
    return "" if status == "pending" else status


async def refusals_of(worker: Worker, user: str) -> list[dict[str, str]]:
    return [e for e in await audit_events(worker, "refused") if e.get("by") == user]
