"""A Lua step of one workspace's keys routed by its first key's slot alone on Redis Cluster (issue 89: redis-py 6.4
hashed each of a decide step's ~23 keys on every click, bot/store/cluster_mends.py `one_tag_steps`): the shortcut
agrees with Redis Cluster's rule on every shape of key, a step of two slots is still refused before anything is
sent, and a workspace's steps run on its slot's node. Real parts: the test process's Redis Cluster
(tests/support/redis_cluster.py)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest
from redis.exceptions import RedisClusterException

from bot.store import Store, connect
from bot.store.cluster_mends import one_tag
from bot.store.connection import aw
from bot.store.keys import Keys
from bot.store.slots import key_slot
from tests.support.records import approval
from tests.support.redis_cluster import LocalCluster

SHAPES = ["hitl:{ws:T0B}:approval:{a1}", "hitl:{ws:T0B}:audit", "hitl:{ws:T0B}", "hitl:{ws:T0C}:audit",
          "{hitl}:frozen:at", "{hitl}", "{}x", "{}x{y}", "a{b}c", "a{b}d", "a{b", "a}b{c}", "{a{b}c", "{a{b}d",
          "{ws:é}:x", "{ws:é}:y", "plain", "plain:other", "x{}", "{b}}", "{b}"]


def test_one_tag_says_one_slot_only_when_redis_cluster_s_rule_does() -> None:
    for shapes in itertools.chain(itertools.permutations(SHAPES, 2), itertools.permutations(SHAPES[:8], 3)):
        if one_tag(shapes):
            assert len({key_slot(key) for key in shapes}) == 1, shapes
    # a workspace's decide step's keys: one tag; with a global key, or another workspace's: hashed each
    k = Keys("{hitl}", sharded=True).for_tenant("T0B", home="T0A")
    mine = [k.approval("a1"), k.texts("a1"), k.votes("a1"), k.deadlines, k.nudges, k.waiting, k.outbox, k.audit,
            k.audit_seq, k.audit_shards, k.refused("a1", "U1"), k.refusals_due, k.attested("U1"), k.changes,
            k.decided_by("U1"), k.webhooks, k.run("r1"), k.frozen_here, k.frozen_here_seq, k.oversight_people,
            k.oversight_times, k.oversight_week, k.digest_due]
    assert len({key_slot(key) for key in mine}) == 1 and one_tag(mine)
    assert not one_tag([*mine, k.frozen_at]) and not one_tag([*mine, "hitl:{ws:T0C}:audit"])
    assert not one_tag(["plain", "plain"]) and not one_tag([b"{a}x", b"{a}y"]) and not one_tag(["{}a", "{}a"])


def counting_hashes(redis: Any) -> list[object]:
    """The keys `redis` (a cluster client) hashes from now on, in order: redis-py's own `keyslot`, counted."""
    hashed: list[object] = []
    keyslot = redis.keyslot

    def counted(key: object) -> int:
        hashed.append(key)
        return int(keyslot(key))

    redis.keyslot = counted
    return hashed


@pytest.mark.slow
async def test_a_workspaces_step_is_hashed_once_runs_on_its_node_and_two_slots_are_still_refused(
        redis_cluster: LocalCluster) -> None:
    redis: Any = connect(redis_cluster.url)
    hashed = counting_hashes(redis)
    try:
        keys = [f"hitl:{{ws:T0ONE}}:k{n}" for n in range(23)]
        written = await aw(redis.eval("for i, k in ipairs(KEYS) do redis.call('SET', k, i) end return #KEYS",
                                      len(keys), *keys))
        assert written == 23 and len(hashed) == 1  # (redis-py 6.4 alone: 23)
        node = redis_cluster.primary_of(key_slot(keys[0]))
        assert redis_cluster.ask(node, "GET", keys[22]) == "23"  # (on its slot's primary)
        hashed.clear()
        with pytest.raises(RedisClusterException, match="same key slot"):
            await aw(redis.eval("return redis.call('SET', KEYS[2], 'x')", 2, keys[0], "hitl:{ws:T0TWO}:k0"))
        assert len(hashed) == 2  # (hashed each: refused)
        assert await aw(redis.get("hitl:{ws:T0TWO}:k0")) is None
    finally:
        await redis.aclose()


@pytest.mark.slow
async def test_a_workspaces_decide_step_is_hashed_once_and_decides(redis_cluster: LocalCluster) -> None:
    store = Store(connect(redis_cluster.url), prefix="{hitl}", sharded=True)
    try:
        here = store.for_tenant("T0STEP", home="T0HOME")
        first, record = (replace(approval(f"one-tag-a{n}", owner="w1"), team=here.keys.tenant) for n in (1, 2))
        for each in (first, record):
            await here.approvals.create(each)
        await here.approvals.decide(first.id, outcome="approved", by="U0BOB")  # (its steps loaded on the nodes)
        hashed = counting_hashes(store.redis)
        decided = await here.approvals.decide(record.id, outcome="approved", by="U0BOB")
        assert decided.status == "ok" and decided.approval is not None and decided.approval.status == "approved"
        steps = [key for key in hashed if str(key).startswith(here.keys.prefix)]
        assert len(steps) == 2, steps  # the decide step's first key, the due note's (redis-py 6.4 alone: each key, 64)
    finally:
        await store.close()
