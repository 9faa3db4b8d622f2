"""API keys bound to a workspace (issue 65): a key of one workspace never reads, withdraws or uses another's
approvals (404, as for an approval that does not exist, and audited naming the key); a key made before keys carried
a workspace is the home workspace's and keeps its approvals. Real Redis, a worker's API over HTTP."""

from __future__ import annotations

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import TEAM_ID
from bot.devslack.server import SlackStandIn
from bot.store.api_keys import digest_of_key
from tests.conftest import SALES, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import audit_events


async def test_a_key_of_one_workspace_never_reads_withdraws_or_uses_anothers_approvals(
    api: Worker, slack: SlackStandIn
) -> None:
    store = api.services.store
    assert await store.tenants.home() == WorkspaceRef(TEAM_ID)  # learnt by the worker at start-up
    other = await store.api_keys.create("eu", (SALES,), by="test", workspace=WorkspaceRef("T0EU", "E0ORG"))
    assert other is not None
    mine = Client(api, (await new_key(api, "nightly")).key)
    theirs = Client(api, other.key)
    status, asked = await theirs.ask(tool_ask())
    assert status == 201, asked
    path = f"/api/v1/approvals/{asked['id']}"
    tries = (("GET", "?wait=0", None), ("DELETE", "", None), ("POST", "/use", {"token": "process-1"}))
    for method, tail, body in tries:
        status, answer, _ = await mine.call(method, path + tail, body=body)
        assert (status, answer["error"]["code"]) == (404, "not_found"), (method, answer)
    approval = await store.approvals.get(asked["id"])
    assert approval is not None and approval.pending and approval.team == "T0EU"
    refused = [e for e in await audit_events(api, "refused") if e.get("approval") == asked["id"]]
    assert refused and refused[0]["by"] == "key nightly" and "another workspace" in refused[0]["reason"]
    assert (await theirs.wait(asked["id"], wait=0))["status"] == "pending"  # its own key reads it


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
