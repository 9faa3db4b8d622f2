"""Keys per tenant (issue 65): the home tenant keeps today's names, another tenant's live under `{p}:ws:<tenant>`,
the global families (the audit log, API keys, heartbeats, claims, ...) on the root for all; the Lua steps work
unchanged on a tenant's store; the home tenant is recorded once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.workspaces import WorkspaceRef
from bot.store import Store
from bot.store.keys import Keys
from tests.support.records import approval


def test_the_home_tenant_keeps_todays_names_and_another_lives_under_its_own() -> None:
    root = Keys("hitl")
    home = root.for_tenant("T0HOME", home="T0HOME")
    other = root.for_tenant("E0ORG", home="T0HOME")
    assert home.approval("a1b2c3d4") == root.approval("a1b2c3d4") == "hitl:approval:{a1b2c3d4}"
    assert other.approval("a1b2c3d4") == "hitl:ws:E0ORG:approval:{a1b2c3d4}"
    assert (other.deadlines, other.changes, other.settings("C1")) == (
        "hitl:ws:E0ORG:deadlines", "hitl:ws:E0ORG:changes", "hitl:ws:E0ORG:settings:C1")
    for name in ("audit_lease", "audit_floor", "audit_global", "audit_findings", "worker_channels", "api_key_names",
                 "workspaces_home"):
        assert getattr(other, name) == getattr(root, name), name
    for name in ("audit", "audit_seq", "audit_checkpoints", "audit_shards", "audit_kids"):  # its own chain (#89)
        assert getattr(home, name) == getattr(root, name) and getattr(other, name) == "hitl:ws:E0ORG:" + getattr(
            root, name).removeprefix("hitl:"), name
    assert other.api_key("d") == root.api_key("d") and other.heartbeat("w") == root.heartbeat("w")
    assert other.claim("x") == root.claim("x") and other.model_cache("m") == root.model_cache("m")
    assert other.migrated("m") == root.migrated("m") and other.command("t") == root.command("t")
    cluster = Keys("{hitl}").for_tenant("T0B", home="T0A")  # the hash tag stays in front: one slot
    assert cluster.approval("x1") == "{hitl}:ws:T0B:approval:{x1}"
    for wrong in ("", "T0B:x", "t0b", "U0ALICE", "T" * 30):
        with pytest.raises(ValueError):
            root.for_tenant(wrong, home="T0HOME")


async def test_a_tenants_store_runs_the_lua_steps_on_its_keys_and_audits_in_its_own_chain(store: Store) -> None:
    other = store.for_tenant("T0OTHER", home="T0HOME")
    assert store.for_tenant("T0HOME", home="T0HOME") is store and store.for_tenant("T0OTHER", home="T0HOME") is other
    mine, theirs = approval("home-0000-a"), replace(approval("tenant-000-a"), team="T0OTHER")
    await store.approvals.create(mine)
    await other.approvals.create(theirs)
    assert await store.approvals.get(theirs.id) is None and await other.approvals.get(mine.id) is None
    assert await store.redis.exists(f"{store.keys.prefix}:ws:T0OTHER:approval:{{{theirs.id}}}")
    decided = await other.approvals.decide(theirs.id, outcome="approved", by="U0BOB")
    assert decided.status == "ok" and decided.approval is not None and decided.approval.team == "T0OTHER"
    assert await other.approvals.next_deadline() is None and await store.approvals.next_deadline() is not None
    events = [(e["event"], e["approval"], e["seq"]) for e in await store.audit.entries()]
    assert events == [("requested", mine.id, "1")]
    events = [(e["event"], e["approval"], e["seq"]) for e in await other.audit.entries()]
    assert events == [("requested", theirs.id, "1"), ("decision", theirs.id, "2")]  # its own chain (#89)


async def test_the_home_tenant_is_recorded_once_by_the_first_worker_that_learns_its_team(store: Store) -> None:
    assert await store.tenants.home() is None
    first = WorkspaceRef("T0HOME", "E0ORG")
    assert await store.tenants.learn_home(first) == first
    assert await store.tenants.learn_home(WorkspaceRef("T0LATER")) == first  # never changes after
    assert await store.tenants.home() == first and first.tenant == "E0ORG"
    await store.redis.set(store.keys.workspaces_home, "[[[")  # nothing that reads as one: none, never a crash
    assert await Store(store.redis).tenants.home() is None


async def test_how_a_grid_workspace_is_installed_is_kept_with_it(store: Store) -> None:
    alone = WorkspaceRef("T0HOME", "E0ORG", org_wide=False)  # a Grid workspace installed on its own
    await store.tenants.learn_home(alone)
    assert (await Store(store.redis).tenants.home() or WorkspaceRef("")).tenant == "T0HOME"
    await store.tenants.remember(WorkspaceRef("T0B", "E0ORG", org_wide=False))
    await store.tenants.remember(WorkspaceRef("T0C", "E0OTHER", org_wide=True))
    assert sorted((r.tenant, r.org_wide) for r in await store.tenants.known()) == [("E0OTHER", True), ("T0B", False)]
    # written before it was said: the tenant it was kept under tells
    await store.redis.set(store.keys.workspaces_home, '{"team":"T0X","enterprise":"E0X","tenant":"E0X"}')
    assert (await Store(store.redis).tenants.home() or WorkspaceRef("")).tenant == "E0X"
    await store.redis.hset(store.keys.workspaces_known, "E0Y", '{"team":"T0Y","enterprise":"E0Y"}')
    assert "E0Y" in {r.tenant for r in await store.tenants.known()}
