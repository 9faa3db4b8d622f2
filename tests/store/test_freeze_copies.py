"""Sharded (issue 89), each workspace's steps read the freeze in their own slot (bot/store/freeze_copies.py): a
freeze is in every known workspace's copy before it returns, a workspace known later is copied into when it is
recorded, an unfreeze and a drill's end reach the copies, and copies written out of order end as the newest read.
Against a real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.core.workspaces import WorkspaceRef
from bot.store import Store, connect
from tests.support.records import approval


@pytest.fixture
async def home(redis_url: str) -> AsyncIterator[Store]:
    redis = connect(redis_url)
    store = Store(redis, prefix="{hitl}", sharded=True)
    await store.tenants.learn_home(WorkspaceRef(team="T0HOME"))
    yield store
    await redis.aclose()


async def opened(store: Store, approval_id: str) -> str:
    made = replace(approval(approval_id), team=store.keys.tenant or "T0HOME")
    assert await store.approvals.create(made) == "ok"
    return made.id


async def test_a_freeze_is_in_each_workspaces_copy_before_it_returns_and_refuses_an_approve_there(home: Store) -> None:
    for team in ("T0HOME", "T0WSA"):
        await home.tenants.remember(WorkspaceRef(team=team))
    first = home.for_tenant("T0WSA", home="T0HOME")
    assert first.keys.frozen_here == "hitl:{ws:T0WSA}:frozen" and home.keys.frozen_here == home.keys.frozen
    waiting = await opened(first, "frz-0000-a")
    assert await home.freezes.freeze("all", reason="incident", by="U0ADMIN")
    assert set(await first.freezes.copies.copy_of()) == {"all"}
    assert (await first.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "frozen"

    await home.tenants.remember(WorkspaceRef(team="T0WSB"))  # known after the freeze: copied into as it is recorded
    later = home.for_tenant("T0WSB", home="T0HOME")
    assert set(await later.freezes.copies.copy_of()) == {"all"}
    assert not await home.redis.exists(home.keys.for_tenant("T0HOME", home="").frozen_here)  # home reads the global one
    refused = await later.approvals.decide(await opened(later, "frz-0000-b"), outcome="approved", by="U0BOB")
    assert refused.status == "frozen"

    assert (await home.freezes.unfreeze("all", by="cli:ops", direct=True))[0] == "ok"
    assert await first.freezes.copies.copy_of() == {} == await later.freezes.copies.copy_of()
    assert (await first.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "ok"


async def test_copies_written_out_of_order_end_as_the_newest_read(home: Store) -> None:
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    copy = home.for_tenant("T0WSA", home="T0HOME").keys
    step = home.shared.script("freeze_copy")
    keys = {"copy": copy.frozen_here, "seq": copy.frozen_here_seq}
    assert await step(keys=keys, args={"seq": "100", "scopes": ["all", "{}"]}) == 1
    assert await step(keys=keys, args={"seq": "99", "scopes": []}) == 0  # an older read's (an unfreeze's) comes late
    assert await home.redis.hkeys(copy.frozen_here) == ["all"]  # type: ignore[misc]


async def test_a_drills_end_reaches_the_copies(home: Store) -> None:
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    other = home.for_tenant("T0WSA", home="T0HOME")
    await home.freezes.freeze("channel:C0SALES", reason="drill", by="cli:ops", drill="d1", until=1e12)
    assert set(await other.freezes.copies.copy_of()) == {"channel:C0SALES"}
    assert (await home.freezes.end_drill("channel:C0SALES", drill="d1"))[0] == "lifted"
    assert await other.freezes.copies.copy_of() == {}


async def test_a_freeze_from_a_command_run_without_the_setting_still_reaches_each_workspaces_copy(
        home: Store) -> None:
    """A freeze never fails open for a setting forgotten: a command's store of today's layout on the same Cluster
    prefix (REDIS_WORKSPACE_TAGS unset) still writes every workspace's copy."""
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    command = Store(home.redis, prefix="{hitl}")  # sharded=False
    assert await command.freezes.freeze("channel:C0OPS", reason="incident", by="cli:ops")
    other = home.for_tenant("T0WSA", home="T0HOME")
    assert set(await other.freezes.copies.copy_of()) == {"channel:C0OPS"}
    assert await Store(home.redis, prefix="hitl").freezes.copies.spread() == 0  # one node: no copies
