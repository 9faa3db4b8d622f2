"""Past one Redis node (issue 89): a hash tag per workspace (a workspace's keys share its own slot, the global ones
the root's, workspaces spread over the primaries of a real cluster of three primaries and three replicas, our slot
is Redis's `CLUSTER KEYSLOT`, and which Lua steps of a workspace still name a global key: the work left), and
decisions heard by sharded pub/sub (Redis 7), through a primary killed."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from bot.store import Store, StoreUnavailable, Subscription, connect
from bot.store.key_names import Family, Named
from bot.store.keys import Keys
from bot.store.slots import hash_tag, key_slot, tenant_of_prefix, workspace_prefix
from tests.support.records import approval
from tests.support.redis_cluster import LocalCluster

# The keys a workspace's `Keys` names on the root (global, the root's tag), each for the reason the table gives:
# the audit log's global checkpoints, leases, floor and findings (each workspace's chain is its own), on-call
# schedules' answers (one provider for the deployment), the API keys' index, step-up links, workers' heartbeats,
# channels, claims and commands, the freeze, the
# workspaces known, the stored format, the sealed check, the due indexes and who holds an approval, the oversight
# signals every worker's metrics read at a scrape, the model cache, the one-off rebuilds.
GLOBAL = frozenset({
    "workspaces_home", "workspaces_known", "workspaces_added", "format", "secrets_check", "audit_global",
    "audit_lease", "audit_lease_seen", "audit_writers_lost", "audit_floor", "audit_archive_lease", "audit_watch_lease",
    "audit_findings", "audit_siem_lease", "oncall", "worker_channels", "api_key_names", "api_key_used",
    "frozen", "unfreeze_asks", "freeze_drill", "oversight_people", "oversight_times", "api_key", "api_pending",
    "stepup_token", "migrated", "heartbeat", "due", "held_by", "claim", "command", "session_stop", "model_cache",
    "api_rate", "api_run", "api_idempotency", "worker_channel",
})


def named_keys(keys: Keys) -> dict[str, str]:
    """Every key `keys` names, by its attribute (a family's with a sample part)."""
    found = {name: value for name, value in vars(keys).items()
             if isinstance(value, str) and name not in ("prefix", "root", "tenant")}
    for name, kind in vars(Keys).items():
        if isinstance(kind, Named):
            found[name] = getattr(keys, name)
        elif isinstance(kind, Family):
            found[name] = getattr(keys, name)("part1")
    found.update(api_rate=keys.api_rate("k1", 1), api_run=keys.api_run("k1", "C1"), edit=keys.edit("r1", "d"),
                 api_idempotency=keys.api_idempotency("k1", "i"), run_thread=keys.run_thread("C1", "1.2"),
                 refused=keys.refused("a1", "U1"), policy_counts=keys.policy_counts("b"), asks=keys.asks(1),
                 draw_due=keys.draw_due("email"), worker_channel=keys.worker_channel("w1"))
    return found


def test_the_slot_is_redis_cluster_s() -> None:
    assert key_slot("123456789") == 0x31C3 % 16384 and key_slot("foo") == 12182
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers")
    assert hash_tag("a{}b{c}") == "a{}b{c}" and hash_tag("x{ws:T1}:y:{a1}") == "ws:T1"


def test_on_cluster_a_workspace_has_its_own_tag_its_approvals_in_it_and_one_node_keeps_todays_names() -> None:
    sharded = Keys("{hitl}", sharded=True)
    other = sharded.for_tenant("T0B", home="T0A")
    assert other.prefix == workspace_prefix("{hitl}", "T0B", sharded=True) == "hitl:{ws:T0B}"
    assert other.approval("x1") == "hitl:{ws:T0B}:approval:{x1}" and other.tenant == "T0B" and other.sharded
    assert sharded.for_tenant("T0A", home="T0A").prefix == "{hitl}"  # home keeps its names (nothing to move)
    assert tenant_of_prefix("{hitl}", "{hitl}:ws:T0B") == "T0B" and tenant_of_prefix("{hitl}", "{hitl}") == ""
    # not sharded (today's Cluster, and one node whatever): today's names
    assert Keys("{hitl}").for_tenant("T0B", home="T0A").approval("x1") == "{hitl}:ws:T0B:approval:{x1}"
    assert Keys("hitl", sharded=True).for_tenant("T0B", home="T0A").approval("x1") == "hitl:ws:T0B:approval:{x1}"


def test_every_key_of_a_workspace_is_in_its_slot_but_the_global_ones_in_the_roots() -> None:
    root = Keys("{hitl}", sharded=True)
    for tenant in ("T0B", "E0ORG", "T0ZZZZZZZZ"):
        keys = root.for_tenant(tenant, home="T0A")
        mine, on_root = key_slot(keys.changes), key_slot("{hitl}:x")
        assert mine != on_root
        named = named_keys(keys)
        assert {name for name, key in named.items() if key_slot(key) == on_root} == GLOBAL
        assert {name for name, key in named.items() if key_slot(key) not in (mine, on_root)} == set()


@pytest.fixture
def local_cluster(redis_cluster: LocalCluster) -> LocalCluster:
    """The test process's cluster (tests/support/redis_cluster.py), shared with tests/scenarios: whole again after a
    primary killed, empty, its command counts reset."""
    return redis_cluster


@pytest.mark.slow
async def test_our_slot_is_the_clusters_and_300_workspaces_spread_over_the_three_primaries(
        local_cluster: LocalCluster) -> None:
    redis = connect(local_cluster.url)
    try:
        await redis.flushall()
        root = Keys("{hitl}", sharded=True)
        for key in [*named_keys(root.for_tenant("T0B", home="T0A")).values(), *named_keys(root).values()]:
            assert await redis.cluster_keyslot(key) == key_slot(key), key  # type: ignore[attr-defined]
        workspaces = [f"T{n:04d}WS" for n in range(300)]
        for start in range(0, 300, 50):  # one key each, written where the cluster puts it
            await asyncio.gather(*(redis.set(root.for_tenant(t, home="T0A").changes, "1")
                                   for t in workspaces[start:start + 50]))
        primaries = local_cluster.primaries()
        assert len(primaries) == 3
        held = {port: local_cluster.dbsize(port) for port in primaries}
        assert sum(held.values()) == 300 and all(0 < n <= 150 for n in held.values()), held
        for t in workspaces[:20]:  # where each is, as the cluster counts it
            slot = key_slot(root.for_tenant(t, home="T0A").changes)
            assert local_cluster.ask(local_cluster.primary_of(slot), "CLUSTER", "COUNTKEYSINSLOT", slot) >= 1
    finally:
        await redis.aclose()


# The global keys a workspace's Lua steps still name beside its own (the steps fail with CROSSSLOT on a sharded
# Cluster until they name none: the work left of issue 89 item 1): the audit log's restore floor (global; each
# chain is the workspace's own), the freeze and the global oversight signals the decide step reads and counts, the API
# key's pending set and idempotency key the open step is given for an ask through the API (on the root: an API key
# is global), and the due indexes (worker-wide, on the root) which `due_note` sets from the workspace's data in one
# step. A step that names only global keys is in one slot, the root's: fine.
CROSSING = {
    "decide": {"{hitl}:audit:floor", "{hitl}:frozen", "{hitl}:oversight:people", "{hitl}:oversight:times"},
    "due_note": {"{hitl}:due:deadlines", "{hitl}:due:digest", "{hitl}:due:email", "{hitl}:due:homes",
                 "{hitl}:due:nudges", "{hitl}:due:push", "{hitl}:due:reach", "{hitl}:due:runs", "{hitl}:due:slack",
                 "{hitl}:due:teams", "{hitl}:due:tickets",
                 "{hitl}:due:webhooks", "{hitl}:held_by:{tenant-000-a}", "{hitl}:held_by:{-}"},
    "open_approval": {"{hitl}:audit:floor"},
}


async def steps_seen(redis: Redis, store: Store, work: object) -> list[tuple[str, set[str]]]:
    """The Lua steps `work` (a coroutine) ran, each with the keys it was given (Redis's MONITOR)."""
    by_sha = {script._script.sha: name for name, script in store.shared._scripts.items()}
    seen: list[tuple[str, set[str]]] = []
    async with redis.monitor() as monitor:
        listening = asyncio.ensure_future(_listen(monitor, by_sha, seen))
        await asyncio.sleep(0)
        await work  # type: ignore[misc]
        await store.redis.set("{hitl}:monitor:end", "1")
        await asyncio.wait_for(listening, timeout=10)
    return seen


async def _listen(monitor: object, by_sha: dict[str, str], seen: list[tuple[str, set[str]]]) -> None:
    async for said in monitor.listen():  # type: ignore[attr-defined]
        words = str(said["command"]).split(" ")  # (keys hold no space; what follows them may)
        if words[:2] == ["SET", "{hitl}:monitor:end"]:
            return
        if words and words[0].upper() == "EVALSHA" and words[1] in by_sha:
            seen.append((by_sha[words[1]], set(words[3:3 + int(words[2])])))


async def test_a_workspaces_steps_name_its_own_keys_but_those_still_global(redis_url: str) -> None:
    redis = connect(redis_url)
    store = Store(redis, prefix="{hitl}", sharded=True)
    other = store.for_tenant("T0OTHER", home="T0HOME")
    mine = replace(approval("tenant-000-a"), team="T0OTHER")

    async def work() -> None:
        await other.approvals.create(mine)
        assert (await other.approvals.decide(mine.id, outcome="approved", by="U0BOB")).status == "ok"

    try:
        seen = await steps_seen(redis, store, work())
        slot = key_slot(other.keys.changes)
        # a step all on the root's slot (the due indexes) is fine: one slot; one on two slots is not
        crossing: dict[str, set[str]] = {}
        for name, keys in seen:
            if len({key_slot(k) for k in keys}) > 1:
                crossing.setdefault(name, set()).update(k for k in keys if key_slot(k) != slot)
        assert crossing == CROSSING
        assert {"decide", "open_approval", "due_note"} <= {name for name, _ in seen}
    finally:
        await redis.aclose()


async def heard(subscription: object, *, within: float = 15) -> dict[str, object]:
    """The next message `subscription` hears (subscribe messages left out), within `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        found = await subscription.get_message(ignore_subscribe_messages=True, timeout=1.0)  # type: ignore[attr-defined]
        if found is not None:
            return dict(found)
    raise AssertionError("nothing heard")


async def subscribed(store: Store, channel: str, *, within: float = 20) -> Subscription:
    """A subscription to `channel`, tried again as the waiter does while the cluster's map is still changing (a node
    it names is gone)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        subscription = None
        try:
            subscription = await store.subscriber()
            await subscription.subscribe(channel)
            return subscription
        except StoreUnavailable:
            if subscription is not None:
                await subscription.aclose()
            assert asyncio.get_running_loop().time() < deadline, "no subscription"
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_decisions_reach_the_worker_by_sharded_pubsub_and_through_a_primary_killed(
        local_cluster: LocalCluster) -> None:
    assert local_cluster.version >= (7,), "sharded pub/sub needs Redis 7 (Debian's redis-server)"
    redis = connect(local_cluster.url)
    store = Store(redis, prefix="{hitl}")
    try:
        await redis.flushall()
        assert await store.use_sharded() and store.shared.publish == "SPUBLISH"
        channel = store.keys.worker_channel("w1")
        subscription = await store.subscriber()
        await subscription.subscribe(channel)
        primary = local_cluster.primary_of(key_slot(channel))
        assert local_cluster.ask(primary, "PUBSUB", "SHARDNUMSUB", channel) == [channel, 1]  # on the slot's primary
        mine = approval("shard-0000-a", owner="w1")
        await store.approvals.create(mine)
        decided = await store.approvals.decide(mine.id, outcome="approved", by="U0BOB")
        assert decided.status == "ok"
        said = await heard(subscription)
        assert said["type"] == "message" and said["channel"] == channel and mine.id in str(said["data"])
        assert await store.workers.publish("w1", {"t": "cancel_run", "run": "r1"}) == 1  # SPUBLISH: the shard's count
        assert "cancel_run" in str((await heard(subscription))["data"])
        sent = {port: local_cluster.ask(port, "INFO", "commandstats") for port in local_cluster.primaries()}
        assert sent[primary]["cmdstat_spublish"]["calls"] == 2  # the decide step's, and the control message's
        assert not any("cmdstat_publish" in said for said in sent.values())  # no PUBLISH relayed to every node
        # a worker of the release before publishes with PUBLISH: heard all the same
        await redis.execute_command("PUBLISH", channel, '{"t": "decision", "id": "old-0000-a"}')  # type: ignore[no-untyped-call]
        assert "old-0000-a" in str((await heard(subscription))["data"])

        local_cluster.kill(primary)  # its replica is promoted: the subscription says so, a new one hears again
        with pytest.raises(StoreUnavailable):
            await heard(subscription, within=30)
        await subscription.aclose()
        local_cluster.wait_ok()
        assert local_cluster.primary_of(key_slot(channel)) != primary
        again = await subscribed(store, channel)
        other = approval("shard-0000-b", owner="w1")
        for _ in range(100):  # the client rides the MOVED window
            try:
                await store.approvals.create(other)
                break
            except StoreUnavailable:
                await asyncio.sleep(0.1)
        assert (await store.approvals.decide(other.id, outcome="approved", by="U0BOB")).status == "ok"
        assert other.id in str((await heard(again))["data"])
        await again.aclose()
    finally:
        await redis.aclose()
