"""Two workers on a real Redis 7 Cluster of three primaries and three replicas (issue 89): a decision made on one
worker reaches the other's waiting run by sharded pub/sub (`SPUBLISH` on the channel's primary, no `PUBLISH`
relayed to every node), and with `REDIS_SHARDED_PUBSUB=false` (a release before still running) by plain pub/sub;
the primary holding 200 approvals killed (-9) while they wait: each decided once, each tool run once, every run goes
on, the audit chains verify and the global checkpoint proves the population."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.audit.verify import walk_chains
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from bot.store.slots import key_slot
from tests.conftest import APPROVALS, BOB, block_texts, bot_env, has_buttons, start_worker
from tests.support.audit_log import signing_keys, verifier
from tests.support.cluster import DEMO, card_now, run_status
from tests.support.flow import start_run
from tests.support.redis_cluster import LocalCluster

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sharded", [True, False])
async def test_a_click_on_one_worker_resumes_the_run_on_another_by_sharded_pubsub(
        slack: SlackStandIn, tmp_path: Path, redis_cluster: LocalCluster, sharded: bool) -> None:
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    cluster = redis_cluster  # (the process's, empty, its counts reset)
    env = bot_env(slack=slack, redis_url=cluster.url, model_config=model,
                  REDIS_SHARDED_PUBSUB="true" if sharded else "false")
    worker = await start_worker(env)
    other = await start_worker(env)
    try:
        assert worker.services.store.shared.publish == ("SPUBLISH" if sharded else "PUBLISH")
        slack.events_url = worker.url + "/slack/events"
        run_id = await start_run(slack)
        card = await slack.wait_for(lambda: next((m for m in slack.messages(APPROVALS) if has_buttons(m)), None))
        slack.events_url = other.url + "/slack/events"  # decided on the other worker
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        await run_status(worker.services.store, run_id, "completed")
        await slack.wait_for(lambda: f"*Approved* by <@{BOB}>" in block_texts(card_now(slack, card)))
        channel = worker.services.store.keys.worker_channel(worker.services.worker_id)
        said = {port: cluster.ask(port, "INFO", "commandstats") for port in cluster.primaries()}
        on_its_primary = said[cluster.primary_of(key_slot(channel))]
        if sharded:
            assert on_its_primary["cmdstat_spublish"]["calls"] >= 1
            assert not any("cmdstat_publish" in stats for stats in said.values())
        else:
            assert not any("cmdstat_spublish" in stats for stats in said.values())
            assert any("cmdstat_publish" in stats for stats in said.values())
    finally:
        await other.stop()
        await worker.stop()


def approved_on(slack: SlackStandIn, card: dict[str, Any]) -> Callable[[], bool]:
    """A check: the card as shown now says Bob approved it."""
    return lambda: f"*Approved* by <@{BOB}>" in block_texts(card_now(slack, card))


RUNS = 200  # the 200 approvals in flight when the primary is killed
AT_ONCE = 8  # asks and clicks sent at once (concurrency, not waits; more, and a command may wait past the 3 s
# Slack gives it on two shared cores: its retry is answered "already received")


async def _clicked_until_approved(slack: SlackStandIn, n: int, card: dict[str, Any]) -> None:
    """Approve `card` (the `n`th), again until the card says so (a click in the failover's window may be answered
    before its decision is kept: the card shows what was)."""
    deadline = time.monotonic() + 90
    while f"*Approved* by <@{BOB}>" not in block_texts(card_now(slack, card)):
        assert time.monotonic() < deadline, f"card {n} never decided"
        try:
            await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        except ValueError:  # no button left: decided since it was read (read again)
            continue
        with contextlib.suppress(TimeoutError):  # (what the click said is on the card: read again)
            await slack.wait_for(approved_on(slack, card), timeout=3)  # (else clicked again)


@pytest.mark.slow
async def test_a_primary_killed_while_approvals_wait_loses_no_decision_and_decides_none_twice(
        slack: SlackStandIn, tmp_path: Path) -> None:
    """200 approvals in flight (asked by runs started on two workers, REDIS_WORKSPACE_TAGS on), the primary holding
    them killed (-9), every card clicked meanwhile on the other worker: each decided once, each run's tool run once,
    the audit chain verifies and the global checkpoint proves the population."""
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    keys = signing_keys(tmp_path / "keys.json")  # the workers sign the checkpoints (every second)
    with LocalCluster(tmp_path) as cluster:
        env = bot_env(slack=slack, redis_url=cluster.url, model_config=model, MAX_RUNS_PER_USER=str(RUNS),
                      MAX_RUNS_PER_CHANNEL=str(RUNS), REDIS_WORKSPACE_TAGS="true",
                      SIGNING_KEYS_FILE=str(tmp_path / "keys.json"), AUDIT_CHECKPOINT_INTERVAL="1")
        workers = [await start_worker(env), await start_worker(env)]
        store = Store(connect(cluster.url), prefix="{hitl}", sharded=True)
        at_once = asyncio.Semaphore(AT_ONCE)
        try:
            began = time.monotonic()

            async def started() -> str:
                async with at_once:
                    return await start_run(slack)

            runs = []
            for worker in workers:  # half the runs started on each worker (the stand-in's one events_url at a time)
                slack.events_url = worker.url + "/slack/events"
                runs += await asyncio.gather(*(started() for _ in range(RUNS // 2)))
            cards = await slack.wait_for(lambda: (found := [m for m in slack.messages(APPROVALS)
                                                            if has_buttons(m) and not m.get("thread_ts")])
                                         and len(found) >= RUNS and found, timeout=120)
            primary = cluster.primary_of(key_slot("{hitl}:changes"))
            cluster.kill(primary)  # every approval's keys are on it: its replica takes over

            async def clicked(n: int, card: dict[str, Any]) -> None:
                async with at_once:
                    await _clicked_until_approved(slack, n, card)

            for half, worker in enumerate(reversed(workers)):  # clicked on both workers, half each
                slack.events_url = worker.url + "/slack/events"
                await asyncio.gather(*(clicked(n, card) for n, card in enumerate(cards) if n % 2 == half))
            assert cluster.primary_of(key_slot("{hitl}:changes")) != primary
            for run_id in runs:
                await run_status(store, run_id, "completed", within=60)
            took = time.monotonic() - began
            decided = [e["approval"] for e in await store.audit.entries() if e["event"] == "decision"]
            assert len(decided) == len(set(decided)) == RUNS  # each decided once
            finished = [e["run"] for e in await store.audit.entries() if e["event"] == "run_finished"]
            assert sorted(finished) == sorted(set(finished)) == sorted(runs)  # each run (its tool) once
            ridden = sum(worker.services.metrics.redis_cluster_retries.labels(reason)._value.get()
                         for worker in workers for reason in ("moved", "clusterdown", "connection"))
            assert ridden > 0  # the workers say they rode the failover (hitl_redis_cluster_retries_total)
            deadline = time.monotonic() + 30
            while True:  # the workers' next checkpoints cover every entry, and a global one signs the chains' heads
                said, code = await walk_chains(store, None, verifier(keys), retention=10**9)
                if "covered by no signature" not in said and "Global checkpoint" in said:
                    break
                assert time.monotonic() < deadline, said
                await asyncio.sleep(0.2)
            assert code == 0, said
            print(f"{RUNS} approvals through a primary killed in {took:.1f} s (load {os.getloadavg()[0]:.1f})")
        finally:
            await store.close()
            for worker in workers:
                await worker.stop()
