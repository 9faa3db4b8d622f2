"""Click -> resumed on Redis Cluster against one node (issue 89): the decide step (Lua) and the decision heard by the
waiting worker's subscription, timed from just before the step until the message is read, on one redis-server and on
a local Redis 7 Cluster of three primaries and three replicas (sharded pub/sub: `SPUBLISH`, `SSUBSCRIBE` on the
channel's primary), interleaved; and the Redis commands each approval costs (INFO commandstats, summed over the
nodes: opened, decided, heard).

    python tests/benchmarks/cluster_click.py [--decisions 500] [--out FILE]
    python tests/benchmarks/cluster_click.py --small      # CI: 10 decisions (one a round; every path, no figure)
    python tests/benchmarks/cluster_click.py --workspace T0OTHER   # the cluster side as a workspace's own tag
                                      # (REDIS_WORKSPACE_TAGS: its copy of the freeze checked; plain pub/sub)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.core.workspaces import WorkspaceRef
from bot.store import Store, Subscription, connect
from tests.benchmarks.common import machine_info, summary_ms, write_json
from tests.conftest import start_redis
from tests.support.records import approval
from tests.support.redis_cluster import LocalCluster, newest_redis


def calls(stats: list[dict[str, Any]]) -> int:
    """Every command the nodes ran (INFO commandstats), apart from INFO and CONFIG themselves."""
    return sum(int(v["calls"]) for node in stats for k, v in node.items()
               if isinstance(v, dict) and k not in ("cmdstat_info", "cmdstat_config", "cmdstat_cluster"))


async def series(store: Store, subscription: Subscription, n: int, tag: str) -> list[float]:
    times = []
    for i in range(n):
        record = approval(f"{tag}-{i:05d}-a", owner="w1")
        await store.approvals.create(record)
        start = time.perf_counter()
        await store.approvals.decide(record.id, outcome="approved", by="U0BOB")
        while True:
            said = await subscription.get_message(ignore_subscribe_messages=True, timeout=5.0)
            if said is not None and record.id in str(said.get("data")):
                break
        times.append(time.perf_counter() - start)
    return times


async def workspace_store(url: str, workspace: str) -> Store:
    """A workspace's store with its own hash tag (REDIS_WORKSPACE_TAGS), a home workspace known beside it; plain
    pub/sub (its decide step runs in its own slot, the workers' channels are the root's)."""
    root = Store(connect(url), prefix="{hitl}", sharded=True)
    await root.tenants.learn_home(WorkspaceRef(team="T0HOME"))
    await root.tenants.remember(WorkspaceRef(team=workspace))
    return root.for_tenant(workspace, home="T0HOME")


async def measure(decisions: int, workspace: str = "") -> dict[str, Any]:
    binary, version = newest_redis()
    assert version >= (7,), "sharded pub/sub needs Redis 7"
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp)) as cluster:
        server = start_redis()
        try:
            single = Store(connect(f"redis://127.0.0.1:{server.port}/0"), prefix="{hitl}")
            sharded = await workspace_store(cluster.url, workspace) if workspace else Store(
                connect(cluster.url), prefix="{hitl}")
            assert workspace or await sharded.use_sharded()
            subs = []
            for store in (single, sharded):
                sub = await store.subscriber()
                await sub.subscribe(store.keys.worker_channel("w1"))
                await series(store, sub, 5, "warm")  # (scripts loaded, connections made)
                subs.append(sub)
            before = [await single.redis.info("commandstats")], [
                cluster.ask(p, "INFO", "commandstats") for p in cluster.primaries()]
            times: dict[str, list[float]] = {"single": [], "cluster": []}
            for round_ in range(10):  # interleaved, in turn first
                order = [("single", single, subs[0]), ("cluster", sharded, subs[1])]
                for name, store, sub in order if round_ % 2 == 0 else order[::-1]:
                    times[name] += await series(store, sub, decisions // 10, f"{name[0]}{round_}")
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
    single_p50 = summary_ms(times["single"])["p50_ms"]
    cluster_p50 = summary_ms(times["cluster"])["p50_ms"]
    return {"benchmark": "cluster_click", "redis": ".".join(map(str, version)), "binary": binary,
            "machine": machine_info(), "single": summary_ms(times["single"]),
            "cluster": summary_ms(times["cluster"]), "p50_ratio": cluster_p50 / single_p50,
            "commands_per_approval": per_approval, "workspace": workspace}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=500)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workspace", default="", help="the cluster side as this workspace's own tag (T…)")
    args = parser.parse_args()
    result = asyncio.run(measure(10 if args.small else max(args.decisions, 10), args.workspace))
    write_json(result, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
