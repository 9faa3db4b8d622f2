"""Past one Redis node (issue 89): a hash tag per workspace (a workspace's keys share its own slot, the global ones
the root's, workspaces spread over the primaries of a real cluster of three primaries and three replicas, our slot
is Redis's `CLUSTER KEYSLOT`, and which Lua steps of a workspace still name a global key: the work left), and
decisions heard by sharded pub/sub (Redis 7), through a primary killed."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.verify import walk_chains
from bot.core.settings import StoreSettings
from bot.core.workspaces import WorkspaceRef
from bot.store import Store, StoreUnavailable, Subscription, connect, scripts
from bot.store.connection import aw
from bot.store.key_names import Family, Named
from bot.store.keys import Keys
from bot.store.opening import Once, Opening
from bot.store.slots import hash_tag, key_slot, tenant_of_prefix, workspace_prefix
from tests.support.audit_log import signing_keys, verifier
from tests.support.hitl import heard
from tests.support.records import approval
from tests.support.redis_cluster import LocalCluster

# The keys a workspace's `Keys` names on the root (global, the root's tag), each for the reason the table gives: the
# audit log's global checkpoints, leases and findings (each workspace's chain is its own, and so is its floor), on-call
# schedules' answers (one provider for the deployment), the API keys' index, step-up links, workers' heartbeats,
# channels, claims and commands, the freeze (each workspace's steps read its copy), the workspaces known, the stored
# format, the sealed check, the due indexes and who holds an approval, the model cache, the one-off rebuilds.
GLOBAL = frozenset({
    "workspaces_home", "workspaces_known", "workspaces_added", "format", "secrets_check", "audit_global",
    "audit_lease", "audit_lease_seen", "audit_writers_lost", "audit_archive_lease", "audit_watch_lease",
    "audit_findings", "audit_siem_lease", "oncall", "worker_channels", "api_key_names", "api_key_used",
    "api_key_revoking", "frozen", "frozen_spread", "frozen_at", "frozen_changed", "frozen_spread_done", "frozen_told",
    "unfreeze_asks", "freeze_drill", "api_key",
    "stepup_token", "migrated", "heartbeat", "due", "held_by", "claim", "command", "session_stop", "model_cache",
    "api_rate", "api_run", "worker_channel",
})


def named_keys(keys: Keys) -> dict[str, str]:
    """Every key `keys` names, by its attribute (a family's with a sample part)."""
    found = {name: value for name, value in vars(keys).items()
             if isinstance(value, str) and name not in ("prefix", "root", "tenant", "here")}
    for name, kind in vars(Keys).items():
        if isinstance(kind, Named):
            found[name] = getattr(keys, name)
        elif isinstance(kind, Family):
            found[name] = getattr(keys, name)("part1")
    found.update(api_rate=keys.api_rate("k1", 1), api_run=keys.api_run("k1", "C1"), edit=keys.edit("r1", "d"),
                 api_idempotency=keys.api_idempotency("k1", "i"), api_pending=keys.api_pending("k1"),
                 run_thread=keys.run_thread("C1", "1.2"),
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


@pytest.mark.slow
async def test_a_transaction_reads_on_the_cluster_as_on_one_node_and_the_audit_watchers_census_with_it(
        local_cluster: LocalCluster) -> None:
    """redis-py 6.4's cluster transactions handed each reply's callback a `keys` it does not take (a TypeError for
    HGETALL, SMEMBERS, ZSCORE, XRANGE): the audit watcher's census, one transaction, failed on Cluster alone."""
    redis = connect(local_cluster.url)
    try:
        store = Store(redis, prefix="{hitl}")
        k = store.keys
        await redis.xadd(k.audit, {"event": "approved"})
        await redis.hset("{hitl}:h", mapping={"a": "1"})
        await redis.sadd("{hitl}:s", "x")
        await redis.zadd("{hitl}:z", {"m": 2})
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hgetall("{hitl}:h")
            pipe.smembers("{hitl}:s")
            pipe.zscore("{hitl}:z", "m")
            pipe.zrange("{hitl}:z", 0, -1, withscores=True)
            pipe.xrevrange(k.audit, count=1)
            got = await pipe.execute()
        assert got[:4] == [{"a": "1"}, {"x"}, 2.0, [("m", 2.0)]] and got[4][0][1] == {"event": "approved"}
        census = await store.audit.census()
        assert census.length == 1 and census.first == census.last and census.last is not None
    finally:
        await redis.aclose()


@pytest.mark.slow
async def test_switched_on_asks_and_clicks_in_24_workspaces_on_the_cluster_each_on_its_slot_chains_verify(
        local_cluster: LocalCluster, tmp_path: Path) -> None:
    """REDIS_WORKSPACE_TAGS on a real cluster of three primaries: asks (a program's, through its API key, and a
    run's) and clicks in 24 workspaces; a freeze refuses an Approve in each until unfrozen; every key of a workspace
    is in its slot (as the cluster says), the workspaces on all three primaries; the due work and the oversight
    counts read across them; a workspace's API key revoked; each chain and the global checkpoint verify."""
    settings = StoreSettings.from_env({"REDIS_URL": local_cluster.url, "REDIS_WORKSPACE_TAGS": "true"})
    assert settings.store_sharded and settings.store_prefix == "{hitl}"
    assert not StoreSettings.from_env({"REDIS_URL": local_cluster.url}).store_sharded  # (off: today's names)
    assert not StoreSettings.from_env({"REDIS_URL": "redis://h:6379/0", "REDIS_WORKSPACE_TAGS": "true"}).store_sharded
    redis = connect(local_cluster.url)
    home = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
    try:
        await redis.flushall()
        assert await home.use_sharded()  # (as a worker on Redis 7)
        await home.tenants.learn_home(WorkspaceRef("T0HOME"))
        await home.audit.append("settings", by="U0ADMIN", after="1m")  # (home's chain: the global entries)
        teams = [f"T0C{n:02d}WS" for n in range(24)]
        for team in teams:
            await home.tenants.remember(WorkspaceRef(team))
        stores = {team: home.for_tenant(team, home="T0HOME") for team in teams}
        assert await home.freezes.freeze("all", reason="drill on the cluster", by="cli:ops")

        async def ask_and_click(team: str, store: Store) -> None:
            run = replace(approval(f"c-{team.lower()}-r"), team=team)
            asked = replace(approval(f"c-{team.lower()}-k"), team=team, key_id="k0asker")
            assert await store.approvals.create(run) == "ok"
            assert await store.approvals.open(Opening(asked, max_pending=5, once=Once("k0asker", team, "d"))) == (
                "ok", asked.id)
            assert (await store.approvals.decide(run.id, outcome="approved", by="U0BOB")).status == "frozen"

        await asyncio.gather(*(ask_and_click(team, store) for team, store in stores.items()))
        assert sorted(await home.due.due("deadlines", 1e12, limit=100)) == teams  # (each its own, read in one)
        assert (await home.freezes.unfreeze("all", by="cli:ops", direct=True))[0] == "ok"
        for team, store in stores.items():
            for kind in ("r", "k"):
                decided = await store.approvals.decide(f"c-{team.lower()}-{kind}", outcome="approved", by="U0BOB",
                                                       check_auth=True)
                assert decided.status == "ok", (team, kind)
        assert (await home.oversight.read()).signals["approvals"] == {"U0BOB": 48.0}
        # a key of a workspace not home's revoked (the command line's way, on home's store): refused at once, its
        # pending approvals withdrawn in its workspace's slot, as on one node
        made = await home.api_keys.create("eu", ("C0SALES",), by="test", workspace=WorkspaceRef(teams[7]))
        assert made is not None
        owed = [replace(approval(f"c-{teams[7].lower()}-w{n}"), team=teams[7], key_id=made.record.id) for n in (1, 2)]
        for n, asked in enumerate(owed):
            assert await stores[teams[7]].approvals.open(Opening(asked, max_pending=5, once=Once(
                made.record.id, f"w{n}", "d"))) == ("ok", asked.id)
        revoked = await home.api_keys.revoke("eu", by="cli:ops")
        assert revoked is not None and sorted(a.id for a in revoked.withdrawn) == sorted(a.id for a in owed)
        for asked in owed:
            ended = await stores[teams[7]].approvals.get(asked.id)
            assert ended is not None and (ended.status, ended.feedback) == ("cancelled", "withdrawn: key eu revoked")
        refused = await home.api_keys.refusal(made.key)
        assert refused is not None and refused.reason == "key_revoked"
        subscription = await home.subscriber()  # a worker waiting on a run in a workspace hears its decision
        try:
            await subscription.subscribe(stores[teams[5]].shared.worker_channel("w9"))  # (its own, in its slot)
            waited = replace(approval("c-waited-0001", owner="w9"), team=teams[5])
            assert await stores[teams[5]].approvals.create(waited) == "ok"
            assert (await stores[teams[5]].approvals.decide(waited.id, outcome="approved", by="U0BOB")).status == "ok"
            assert waited.id in str((await heard(subscription))["data"])
        finally:
            await subscription.aclose()

        primaries = set()
        for team, store in stores.items():  # every key of the workspace, wherever it is, on its slot
            slot = key_slot(store.keys.changes)
            primary = local_cluster.primary_of(slot)
            primaries.add(primary)
            mine = {str(k) for port in local_cluster.primaries()
                    for k in local_cluster.ask(port, "KEYS", f"hitl:{{ws:{team}}}:*")}
            on_slot = {str(k) for k in local_cluster.ask(primary, "CLUSTER", "GETKEYSINSLOT", slot, 1000)}
            assert len(mine) >= 10 and mine <= on_slot, team
            assert local_cluster.ask(primary, "CLUSTER", "KEYSLOT", store.keys.audit) == slot
        assert len(primaries) == 3

        keys = signing_keys(tmp_path / "keys.json")
        checkpoints = AuditCheckpoints(home, keys, worker="w1", every=1000, interval=0, retention=10**9)
        while await checkpoints.write_due():
            pass
        said, code = await walk_chains(home, None, verifier(keys), retention=10**9)
        assert code == 0 and "Global checkpoint" in said and "signs the heads of 25 chain(s)" in said, said
    finally:
        await redis.aclose()


# The global keys a workspace's Lua steps name beside its own: none (a step on two slots fails with CROSSSLOT on a
# sharded Cluster). Each workspace's steps read its own copy of the freeze, count its own oversight signals, hold on
# its own chain's floor and write its own index of due work (the worker-wide ones written after, in the root's
# slot), and an API key's revoke is two steps, the key refused on the root's slot, its approvals withdrawn on the
# workspace's (bot/store/key_revocation.py). A step that names only global keys is in one slot, the root's: fine.
CROSSING: dict[str, set[str]] = {}


async def steps_seen(redis: Redis, store: Store, work: object) -> list[tuple[str, set[str]]]:
    """The Lua steps `work` (a coroutine) ran, each with the keys it was given (Redis's MONITOR)."""
    by_sha = {script.sha: name for name, script in store.shared._scripts.items()}
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

    asked = replace(approval("tenant-000-b"), team="T0OTHER", key_id="k0asker")  # an ask through the API
    await store.tenants.learn_home(WorkspaceRef("T0HOME"))
    made = await store.api_keys.create("eu", ("C0SALES",), by="test", workspace=WorkspaceRef("T0OTHER"))
    assert made is not None
    withdrawn = replace(approval("tenant-000-c"), team="T0OTHER", key_id=made.record.id)  # its key revoked

    async def work() -> None:
        await other.approvals.create(mine)
        assert (await other.approvals.decide(mine.id, outcome="approved", by="U0BOB")).status == "ok"
        assert await other.approvals.open(Opening(asked, max_pending=5, once=Once("k0asker", "i1", "d1"))) == (
            "ok", asked.id)
        assert await other.approvals.open(Opening(withdrawn, max_pending=5, once=Once(made.record.id, "i2", "d2")))
        revoked = await store.api_keys.revoke("eu", by="cli:ops")  # (the command line's way: the home store's)
        assert revoked is not None and [a.id for a in revoked.withdrawn] == [withdrawn.id]

    try:
        seen = await steps_seen(redis, store, work())
        slot = key_slot(other.keys.changes)
        # a step all on the root's slot (the due indexes) is fine: one slot; one on two slots is not
        crossing: dict[str, set[str]] = {}
        for name, keys in seen:
            if len({key_slot(k) for k in keys}) > 1:
                crossing.setdefault(name, set()).update(k for k in keys if key_slot(k) != slot)
        assert crossing == CROSSING
        assert {"decide", "open_approval", "due_note", "due_index", "revoke_api_key", "withdraw_key_approvals"} <= {
            name for name, _ in seen}
    finally:
        await redis.aclose()


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
        for port in local_cluster.primaries():  # (the counts of the tests before on this cluster)
            local_cluster.ask(port, "CONFIG", "RESETSTAT")
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


async def test_sharded_each_chain_is_held_by_its_own_floor(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The restore floor is each chain's (its archive's) when sharded: a workspace's steps are held by its floor
    (in its slot), not by home's; home's names are today's."""
    redis = connect(redis_url)
    store = Store(redis, prefix="{hitl}", sharded=True)
    other = store.for_tenant("T0FLOOR", home="T0HOME")
    assert other.keys.audit_floor == "hitl:{ws:T0FLOOR}:audit:floor" and store.keys.audit_floor == "{hitl}:audit:floor"
    try:
        await aw(redis.hset(store.keys.audit_floor, mapping={"seq": "5", "run": "another-run"}))  # home: restarted
        seq, _ = await other.audit.append("decision", by="U0ALICE", approval="A1", outcome="approved")
        assert seq == 1  # the workspace's chain is not held by home's floor
        await redis.delete(store.keys.audit_floor)
        await aw(redis.hset(other.keys.audit_floor, mapping={"seq": "5", "run": "another-run"}))
        monkeypatch.setattr(scripts, "HOLD_SECONDS", 0.2)  # (how long a held step waits for a confirmation)
        with pytest.raises(StoreUnavailable, match="AUDIT_HELD"):
            await other.audit.append("decision", by="U0ALICE", approval="A2", outcome="approved")
        assert (await store.audit.append("decision", by="U0ALICE", approval="A3", outcome="approved"))[0] >= 1
    finally:
        await redis.delete(store.keys.audit_floor, other.keys.audit_floor)
        await redis.aclose()
