"""The workspaces the move's tests (tests/store/test_move.py, test_move_cluster.py) seed in a single-tag store before
they move it (issue 89 item 4): each one a key of its own, an approval it asked and one decided, and an audit entry."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.core.workspaces import WorkspaceRef
from bot.store import Store
from bot.store.opening import Once, Opening
from tests.conftest import SALES
from tests.support.records import approval


@dataclass(frozen=True)
class SeededWorkspace:
    pending: str  # its pending approval, asked with its key (its Idempotency-Key `idempotency(n)` kept)
    decided: str  # its approval decided (approved by U0BOB)
    key_id: str  # its API key's id


def idempotency(n: int) -> str:
    """The Idempotency-Key the `n`th workspace's pending approval was asked with."""
    return f"idem-{n}"


async def seed_workspace(home: Store, home_team: str, n: int, team: str, *, tag: str) -> SeededWorkspace:
    """The `n`th workspace `team` of the store whose home is `home_team`: known to it, an API key of its own
    (`key-<n>`), an approval that key asked (pending, `<tag>-<n>-p`) and one decided (`<tag>-<n>-d`), an audit entry,
    its due index noted."""
    await home.tenants.remember(WorkspaceRef(team))
    made = await home.api_keys.create(f"key-{n}", (SALES,), by="test", workspace=WorkspaceRef(team))
    assert made is not None
    ws = home.for_tenant(team, home=home_team)
    asked = replace(approval(f"{tag}-{n:04d}-p"), team=team, key_id=made.record.id)
    opening = Opening(asked, max_pending=5, once=Once(made.record.id, idempotency(n), "d"))
    assert await ws.approvals.open(opening) == ("ok", asked.id)
    done = replace(approval(f"{tag}-{n:04d}-d"), team=team)
    assert await ws.approvals.create(done) == "ok"
    assert (await ws.approvals.decide(done.id, outcome="approved", by="U0BOB")).status == "ok"
    await ws.audit.append("settings", by="U0ADMIN", after=str(n))
    await ws.due.note()
    return SeededWorkspace(asked.id, done.id, made.record.id)
