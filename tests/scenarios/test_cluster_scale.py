"""Issue 89 at its size, as a user runs it: a real Redis Cluster of three primaries and three replicas, two workers
with REDIS_WORKSPACE_TAGS on, each workspace installed in the local Slack (a workspaces file). 300 workspaces: an ask
through each one's API key and a click on its card, every one decided; their keys spread over the three primaries
(none holds more than half, as CLUSTER COUNTKEYSINSLOT counts them), every primary ran their steps (INFO
commandstats); every chain and the global checkpoint verify. And 200 approvals in flight in 20 workspaces when the
primary holding most of them is killed (-9): each decided once, each run's tool run once, the chains and the global
checkpoint verify."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.audit.verify import walk_chains
from bot.core.signing import SigningKeys
from bot.core.workspaces import WorkspaceRef
from bot.devslack.server import SlackStandIn
from bot.store import Store
from bot.store.slots import key_slot
from tests.conftest import Worker, bot_env, has_buttons, start_worker
from tests.support.api import Client, tool_ask
from tests.support.audit_log import signing_keys, verifier
from tests.support.redis_cluster import LocalCluster
from tests.support.workspaces import Installed, serve_many, workspaces_file

pytestmark = pytest.mark.slow

T = TypeVar("T")
HOME = "T0HOME"  # (a name for the home workspace's tenant in `for_tenant`: home keeps its names)
AT_ONCE = 16  # asks and clicks in flight at once (concurrency, not waits)


async def bounded(items: list[T], step: Callable[[T], Awaitable[Any]], *, at_once: int = AT_ONCE) -> list[Any]:
    """`step` on every item, `at_once` at a time, the answers in order."""
    gate = asyncio.Semaphore(at_once)

    async def one(item: T) -> Any:
        async with gate:
            return await step(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def two_workers(slack: SlackStandIn, cluster: LocalCluster, tmp_path: Path, installed: list[Installed],
                      **extra: str) -> tuple[list[Worker], SigningKeys]:
    """Two workers on the cluster with a hash tag per workspace, serving `installed` (a workspaces file), and the
    keys they sign the audit checkpoints with (every second)."""
    keys = signing_keys(tmp_path / "keys.json")
    env = bot_env(slack=slack, redis_url=cluster.url, model_config=None, REDIS_WORKSPACE_TAGS="true",
                  SLACK_WORKSPACES_FILE=str(workspaces_file(tmp_path / "workspaces.json", installed)),
                  SIGNING_KEYS_FILE=str(tmp_path / "keys.json"), AUDIT_CHECKPOINT_INTERVAL="1", **extra)
    workers = [await start_worker(env)]
    try:
        workers.append(await start_worker(env))
    except BaseException:
        await workers[0].stop()
        raise
    return workers, keys


async def chains_verify(store: Store, keys: SigningKeys, *, chains: int, within: float = 60) -> str:
    """Once the workers' checkpoints cover every entry and a global one signs every chain's head: what `audit
    verify` says (exit code 0)."""
    deadline = time.monotonic() + within
    while True:
        said, code = await walk_chains(store, None, verifier(keys), retention=10**9)
        if "covered by no signature" not in said and f"signs the heads of {chains} chain(s)" in said:
            break
        assert time.monotonic() < deadline, said[-3000:]
        await asyncio.sleep(0.5)
    assert code == 0, said[-3000:]
    return said


def card_of(slack: SlackStandIn, channel: str, approval_id: str) -> dict[str, Any] | None:
    """The card of `approval_id` in `channel`, as shown now."""
    for message in slack.messages(channel):
        if not message.get("thread_ts") and approval_id in json.dumps(message.get("blocks") or []):
            return message
    return None


WORKSPACES = 300  # the issue's


@pytest.mark.slow
async def test_300_workspaces_served_by_two_workers_spread_over_the_three_primaries_every_ask_decided(
        slack: SlackStandIn, redis_cluster: LocalCluster, tmp_path: Path) -> None:
    began = time.monotonic()
    cluster = redis_cluster  # (the process's, empty, its counts reset)
    installed = serve_many(slack, WORKSPACES)
    workers, signing = await two_workers(slack, cluster, tmp_path, installed)
    home = workers[0].services.store
    assert home.keys.sharded
    try:
        async def key_in(each: Installed) -> str:
            made = await home.api_keys.create(f"k-{each.team.lower()}", (each.channel,), by="test",
                                               workspace=WorkspaceRef(each.team))
            assert made is not None
            return made.key

        keys = await bounded(installed, key_in)
        started = time.monotonic()

        async def asked(n: int) -> str:  # half the asks on each worker
            status, answer = await Client(workers[n % 2], keys[n]).ask(tool_ask(requester=installed[n].person))
            assert status == 201, answer
            return str(answer["id"])

        ids = await bounded(list(range(WORKSPACES)), asked)
        asks_took = time.monotonic() - started
        cards = await slack.wait_for(
            lambda: (found := [card_of(slack, i.channel, ids[n]) for n, i in enumerate(installed)])
            and all(c is not None and has_buttons(c) for c in found) and found, timeout=120,
            description="a card in every workspace")
        started = time.monotonic()
        for half, worker in enumerate(workers):  # half the clicks on each worker (the stand-in's one events_url)
            slack.events_url = worker.url + "/slack/events"

            async def clicked(n: int) -> None:
                each = installed[n]
                result = await slack.click(user=each.approver, channel=each.channel, ts=cards[n]["ts"],
                                           action_id="approval_approve")
                assert result.status == 200, (each.team, result.status)

            await bounded([n for n in range(WORKSPACES) if n % 2 == half], clicked)
        stores = [home.for_tenant(each.team, home=HOME) for each in installed]

        async def decided(n: int) -> str:
            deadline = time.monotonic() + 60
            while True:
                record = await stores[n].approvals.get(ids[n])
                if record is not None and record.status != "pending":
                    return f"{record.status} by {record.decided_by}"
                assert time.monotonic() < deadline, f"{installed[n].team}: {ids[n]} never decided"
                await asyncio.sleep(0.05)

        said = await bounded(list(range(WORKSPACES)), decided)
        assert said == [f"approved by {each.approver}" for each in installed]
        clicks_took = time.monotonic() - started

        # the keys: each workspace's in its own slot, counted there by the cluster; none of the primaries more
        # than half of them (nor more than half of all the keys, the global ones with them)
        primaries = cluster.primaries()
        assert len(primaries) == 3
        per_primary = {port: 0 for port in primaries}
        owners = cluster.slot_owners()
        for each, store in zip(installed, stores, strict=True):
            slot = key_slot(store.keys.changes)
            counted = int(cluster.ask(owners[slot], "CLUSTER", "COUNTKEYSINSLOT", slot))
            assert counted >= 5, (each.team, counted)  # (its approval, its audit log, its indexes ...)
            per_primary[owners[slot]] += counted
        total = sum(per_primary.values())
        assert all(0 < n <= total / 2 for n in per_primary.values()), per_primary
        everything = {port: cluster.dbsize(port) for port in primaries}
        assert all(n <= sum(everything.values()) / 2 for n in everything.values()), everything
        # the work: every primary ran the workspaces' Lua steps and reads (INFO commandstats)
        stats = {port: cluster.ask(port, "INFO", "commandstats") for port in primaries}
        steps = {port: int(s.get("cmdstat_evalsha", {}).get("calls", 0)) + int(s.get("cmdstat_eval", {}).get(
            "calls", 0)) for port, s in stats.items()}
        assert all(n >= WORKSPACES // 10 for n in steps.values()), steps

        said_chains = await chains_verify(home, signing, chains=WORKSPACES + 1)
        assert said_chains.count("chain T9W") >= WORKSPACES
        print(f"{WORKSPACES} workspaces: asks {asks_took:.1f} s, clicks {clicks_took:.1f} s, all "
              f"{time.monotonic() - began:.1f} s; keys per primary {per_primary} (all {everything}); Lua steps "
              f"per primary {steps} (load {os.getloadavg()[0]:.1f})")
    finally:
        for worker in workers:
            await worker.stop()
