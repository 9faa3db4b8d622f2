"""Revoking an API key of a workspace other than home (issue 89): its pending approvals, in that workspace's data, are
withdrawn whichever store revokes it (`python -m bot keys revoke` runs on home's), in today's single-tag layout and
with a hash tag per workspace; the key is refused from the first step on, and a revoke interrupted between its two
steps is finished by the next."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.core.workspaces import WorkspaceRef
from bot.store import Store, connect
from bot.store.connection import aw
from bot.store.opening import Once, Opening
from tests.conftest import SALES
from tests.support.records import approval


async def _workspace_key_with_one_pending(home: Store, tag: str) -> tuple[Store, str, str, str]:
    """Home T0HOME, workspace T0OTHER; a key of T0OTHER and an approval it asked there, pending: (T0OTHER's store,
    the key, its id, the approval's id)."""
    await home.tenants.learn_home(WorkspaceRef("T0HOME"))
    await home.tenants.remember(WorkspaceRef("T0OTHER"))
    made = await home.api_keys.create(f"eu-{tag}", (SALES,), by="test", workspace=WorkspaceRef("T0OTHER"))
    assert made is not None
    other = home.for_tenant("T0OTHER", home="T0HOME")
    asked = replace(approval(f"revoke-{tag}-0001"), team="T0OTHER", key_id=made.record.id)
    assert await other.approvals.open(Opening(asked, max_pending=5, once=Once(made.record.id, tag, "d"))) == (
        "ok", asked.id)
    return other, made.key, made.record.id, asked.id


@pytest.mark.parametrize(("prefix", "sharded"), [("hitl", False), ("{hitl}", False), ("{hitl}", True)])
async def test_a_workspace_keys_pending_approvals_are_withdrawn_in_its_data_and_the_key_refused(
        redis_url: str, prefix: str, sharded: bool) -> None:
    redis = connect(redis_url)
    home = Store(redis, prefix=prefix, sharded=sharded)
    try:
        tag = f"{prefix.strip('{}')}{int(sharded)}"
        other, key, key_id, asked = await _workspace_key_with_one_pending(home, tag)
        revoked = await home.api_keys.revoke(f"eu-{tag}", by="cli:ops")
        assert revoked is not None and [a.id for a in revoked.withdrawn] == [asked]
        ended = await other.approvals.get(asked)
        assert ended is not None and (ended.status, ended.decided_by, ended.feedback) == (
            "cancelled", "system", f"withdrawn: key eu-{tag} revoked")
        assert await home.api_keys.get(f"eu-{tag}") is None
        refused = await home.api_keys.refusal(key)
        assert refused is not None and refused.reason == "key_revoked"
        assert not await aw(redis.hgetall(home.keys.api_key_revoking))  # (nothing owed)
        assert not await redis.exists(other.keys.api_pending(key_id))
        assert await home.api_keys.revoke(f"eu-{tag}", by="cli:ops") is None  # (again: no such key)
    finally:
        await redis.aclose()


async def test_a_revoke_interrupted_after_its_first_step_refuses_the_key_and_the_next_finishes_it(
        redis_url: str) -> None:
    redis = connect(redis_url)
    home = Store(redis, prefix="{hitl}", sharded=True)
    try:
        other, key, key_id, asked = await _workspace_key_with_one_pending(home, "cut")
        digest = str(await aw(redis.hget(home.keys.api_key_names, "eu-cut")))
        k = home.keys  # the first step alone, as a revoke whose process died right after it leaves it
        assert list(await home.shared.script("revoke_api_key")(
            keys={"names": k.api_key_names, "record": k.api_key(digest), "previous": k.api_key(digest),
                  "revoking": k.api_key_revoking, "audit": k.audit, "audit_seq": k.audit_seq,
                  "audit_shards": k.audit_shards},
            args={"name": "eu-cut", "digest": digest, "by": "cli:ops", "now": "1.0", "key_id": key_id,
                  "owed": json.dumps({"name": "eu-cut", "tenant": "T0OTHER"}), "retention": "600",
                  "audit": {"event": "api_key_revoked", "key": "eu-cut", "key_id": key_id, "by": "cli:ops"}},
        )) == ["ok"]
        refused = await home.api_keys.refusal(key)
        assert refused is not None and refused.reason == "key_revoked"  # refused already
        assert (await other.approvals.get(asked)).status == "pending"  # type: ignore[union-attr]
        revoked = await home.api_keys.revoke("eu-cut", by="cli:ops")  # run again: finished
        assert revoked is not None and [a.id for a in revoked.withdrawn] == [asked]
        assert (await other.approvals.get(asked)).status == "cancelled"  # type: ignore[union-attr]
        assert not await aw(redis.hgetall(home.keys.api_key_revoking))
        assert await home.api_keys.revoke("eu-cut", by="cli:ops") is None
    finally:
        await redis.aclose()
