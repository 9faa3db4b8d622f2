"""API keys bound to a workspace (issue 65): a key is served by its workspace's parts, and refused (403) where the app
is not installed; a key made before keys carried a workspace is the home workspace's and keeps its approvals. Real
Redis, a worker's API over HTTP."""

from __future__ import annotations

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import TEAM_ID
from bot.devslack.server import SlackStandIn
from bot.store.api_keys import digest_of_key
from tests.conftest import SALES, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import audit_events


async def test_a_key_of_a_workspace_the_app_is_not_installed_in_is_refused_and_changes_nothing(
    api: Worker, slack: SlackStandIn
) -> None:
    """A key is served by its workspace's parts (bot/tenancy.py); where the app is not installed there are none: 403
    with a clear message, nothing asked. (A key of one installed workspace never touching another's approvals:
    tests/scenarios/test_tenants.py, against the local Slack's several workspaces.)"""
    store = api.services.store
    assert await store.tenants.home() == WorkspaceRef(TEAM_ID)  # learnt by the worker at start-up
    other = await store.api_keys.create("eu", (SALES,), by="test", workspace=WorkspaceRef("T0EU", "E0ORG"))
    assert other is not None
    status, answer = await Client(api, other.key).ask(tool_ask())
    assert status == 403 and answer["error"]["code"] == "forbidden", answer
    assert "not installed in workspace T0EU" in answer["error"]["message"]
    assert await store.approvals.waiting_by_channel() == {}
    refused = [e for e in await audit_events(api, "api_refused") if e.get("key") == "eu"]
    assert refused and refused[0]["reason"] == "forbidden"


async def test_a_key_made_before_keys_carried_a_workspace_keeps_its_approvals(api: Worker, slack: SlackStandIn) -> None:
    store = api.services.store
    made = await new_key(api, "old")
    record = store.keys.api_key(digest_of_key(made.key))
    await store.redis.hdel(record, "team", "enterprise")  # type: ignore[misc]  # as the previous version wrote it
    old = Client(api, made.key)
    status, asked = await old.ask(tool_ask())
    assert status == 201, asked
    approval = await store.approvals.get(asked["id"])
    assert approval is not None and approval.team == ""  # the home workspace's, as its key
    assert (await old.wait(asked["id"], wait=0))["status"] == "pending"
    status, answer, _ = await old.call("DELETE", f"/api/v1/approvals/{asked['id']}")
    assert status == 200 and answer["status"] == "cancelled", answer
