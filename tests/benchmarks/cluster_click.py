"""Click -> resumed on Redis Cluster against one node (issue 89): the decide step (Lua) and the decision heard by the
waiting worker's subscription, timed from just before the step until the waiting side reads the message (what the
resumed agent sees: a reader of its own, as the owner worker is, so the decide call's bookkeeping after its step, the
due index's note, is not in it; the decide call's own time is given apart, `decide_returned`), on one redis-server
and on a local Redis 7 Cluster of three primaries and three replicas (sharded pub/sub: `SPUBLISH`, `SSUBSCRIBE` on the
channel's primary; REDIS_WORKSPACE_TAGS on: each workspace's approvals in its own slot), interleaved, the approvals
spread over `--workspaces` workspaces (in turn); and the Redis commands each approval costs (INFO commandstats,
summed over the nodes: opened, decided, heard). Like with like: both sides run the same redis-server binary (the
newest found, `newest_redis`: Redis 7 for the cluster's sharded pub/sub), the one node with plain pub/sub.

    python tests/benchmarks/cluster_click.py [--decisions 500] [--workspaces 8] [--out FILE]
    python tests/benchmarks/cluster_click.py --small      # CI: 10 decisions (one a round; every path, no figure)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.store import Store, Subscription, connect
from bot.store.slots import key_slot
from tests.benchmarks.common import machine_info, summary_ms, write_json
from tests.conftest import start_redis
from tests.support.records import approval
from tests.support.redis_cluster import LocalCluster, newest_redis


def by_command(stats: list[dict[str, Any]]) -> dict[str, int]:
    """The commands the nodes ran (INFO commandstats; a Lua step's own commands counted), by name, apart from the
    benchmark's INFO and CONFIG, the client's CLUSTER (its map) and the replicas' REPLCONF (not the approvals')."""
    found: dict[str, int] = {}
    for node in stats:
        for k, v in node.items():
            if isinstance(v, dict) and k.split("|")[0] not in (
                    "cmdstat_info", "cmdstat_config", "cmdstat_cluster", "cmdstat_replconf"):
                found[k.removeprefix("cmdstat_")] = found.get(k.removeprefix("cmdstat_"), 0) + int(v["calls"])
    return found


def calls(stats: list[dict[str, Any]]) -> int:
    """Every command the nodes ran (`by_command`)."""
    return sum(by_command(stats).values())


HOME = "T0HOME"


def workspaces_of(store: Store, count: int) -> list[Store]:
    """`count` workspaces' stores (each its own slot with the tag on), none home's."""
    return [store.for_tenant(f"T0BENCH{n:03d}", home=HOME) for n in range(count)]


async def heard(subscription: Subscription, approval_id: str) -> float:
    """When the subscription read the decision of `approval_id` (perf_counter); raises after 10 s without it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        said = await subscription.get_message(ignore_subscribe_messages=True, timeout=5.0)
        if said is not None and approval_id in str(said.get("data")):
            return time.perf_counter()
    raise TimeoutError(f"the decision of {approval_id} was not heard")


async def series(stores: list[Store], subscription: Subscription, n: int, tag: str,
                 returned: list[float] | None = None) -> list[float]:
    """`n` approvals opened and approved in turn in `stores`: each one's click -> resumed (the reader's time less
    the step's start); `returned` gets each decide call's own."""
    times = []
    for i in range(n):
        store = stores[i % len(stores)]
        record = replace(approval(f"{tag}-{i:05d}-a", owner="w1"), team=store.keys.tenant)
        await store.approvals.create(record)
        reader = asyncio.ensure_future(heard(subscription, record.id))  # (the owner's side, reading already)
        start = time.perf_counter()
        await store.approvals.decide(record.id, outcome="approved", by="U0BOB")
        done = time.perf_counter()
        times.append(await reader - start)
        if returned is not None:
            returned.append(done - start)
    return times


async def measure(decisions: int, workspaces: int) -> dict[str, Any]:
    binary, version = newest_redis()
    assert version >= (7,), "sharded pub/sub needs Redis 7"
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp)) as cluster:
        server = start_redis(binary=binary)  # (the cluster's binary: like with like)
        try:
            single = Store(connect(f"redis://127.0.0.1:{server.port}/0"), prefix="{hitl}")
            sharded = Store(connect(cluster.url), prefix="{hitl}", sharded=True)  # (REDIS_WORKSPACE_TAGS on)
            assert await sharded.use_sharded()
            tenants = {"single": workspaces_of(single, workspaces), "cluster": workspaces_of(sharded, workspaces)}
            spread = sorted({cluster.primary_of(key_slot(s.keys.changes)) for s in tenants["cluster"]})
            subs = []
            for name, store in (("single", single), ("cluster", sharded)):
                sub = await store.subscriber()
                # each workspace's own channel to the worker (its slot's, with the tag on: SPUBLISH from its step)
                await sub.subscribe(*sorted({s.shared.worker_channel("w1") for s in tenants[name]}))
                await store.freezes.copies.watch(sub)  # (sharded: the freeze's number heard, as the worker's waiter)
                await series(tenants[name], sub, 2 * workspaces, "warm")  # (scripts loaded, connections made)
                subs.append(sub)
            before = [await single.redis.info("commandstats")], [
                cluster.ask(p, "INFO", "commandstats") for p in cluster.primaries()]
            times: dict[str, list[float]] = {"single": [], "cluster": []}
            returned: dict[str, list[float]] = {"single": [], "cluster": []}
            for round_ in range(10):  # interleaved, in turn first
                order = [("single", subs[0]), ("cluster", subs[1])]
                for name, sub in order if round_ % 2 == 0 else order[::-1]:
                    times[name] += await series(tenants[name], sub, decisions // 10, f"{name[0]}{round_}",
                                                returned[name])
            after = [await single.redis.info("commandstats")], [
                cluster.ask(p, "INFO", "commandstats") for p in cluster.primaries()]
            for sub in subs:
                await sub.aclose()
            await single.close()
            await sharded.close()
        finally:
            server.process.terminate()
            server.process.wait(timeout=10)
    per_approval = {name: (calls(after[i]) - calls(before[i])) / decisions for i, name in enumerate(times)}
    each = {name: {command: round((n - by_command(before[i]).get(command, 0)) / decisions, 2)
                   for command, n in sorted(by_command(after[i]).items())
                   if n != by_command(before[i]).get(command, 0)} for i, name in enumerate(times)}
    single_p50 = summary_ms(times["single"])["p50_ms"]
    cluster_p50 = summary_ms(times["cluster"])["p50_ms"]
    return {"benchmark": "cluster_click", "redis": ".".join(map(str, version)), "binary": binary,
            "machine": machine_info(), "single": summary_ms(times["single"]),
            "cluster": summary_ms(times["cluster"]), "p50_ratio": cluster_p50 / single_p50,
            "decide_returned": {name: summary_ms(found) for name, found in returned.items()},
            "commands_per_approval": per_approval, "commands_per_approval_by_name": each,
            "workspace_tags": True, "workspaces": workspaces,
            "primaries_holding_them": len(spread)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=500)
    parser.add_argument("--workspaces", type=int, default=8)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(measure(10 if args.small else max(args.decisions, 10), max(args.workspaces, 1)))
    write_json(result, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
