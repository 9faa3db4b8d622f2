"""Two workers on a real Redis 7 Cluster of three primaries and three replicas (issue 89): a decision made on one
worker reaches the other's waiting run by sharded pub/sub (`SPUBLISH` on the channel's primary, no `PUBLISH`
relayed to every node), and with `REDIS_SHARDED_PUBSUB=false` (a release before still running) by plain pub/sub;
the primary holding the approvals killed (-9) while they wait: each decided once, every run goes on."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from bot.store.slots import key_slot
from tests.conftest import APPROVALS, BOB, block_texts, bot_env, has_buttons, start_worker
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


RUNS = 8  # (the 200 in flight, scaled down: two cores shared by eight engineers)


@pytest.mark.slow
async def test_a_primary_killed_while_approvals_wait_loses_no_decision_and_decides_none_twice(
        slack: SlackStandIn, tmp_path: Path) -> None:
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    with LocalCluster(tmp_path) as cluster:
        env = bot_env(slack=slack, redis_url=cluster.url, model_config=model, MAX_RUNS_PER_USER=str(RUNS))
        workers = [await start_worker(env), await start_worker(env)]
        store = Store(connect(cluster.url), prefix="{hitl}")
        try:
            runs = []
            for n in range(RUNS):
                slack.events_url = workers[n % 2].url + "/slack/events"
                runs.append(await start_run(slack))
            cards = await slack.wait_for(lambda: (found := [m for m in slack.messages(APPROVALS)
                                                            if has_buttons(m) and not m.get("thread_ts")])
                                         and len(found) >= RUNS and found, timeout=60)
            primary = cluster.primary_of(key_slot("{hitl}:changes"))
            cluster.kill(primary)  # every approval's keys are on it: its replica takes over
            for n, card in enumerate(cards):
                deadline = time.monotonic() + 60
                while f"*Approved* by <@{BOB}>" not in block_texts(card_now(slack, card)):
                    assert time.monotonic() < deadline, f"card {n} never decided"
                    slack.events_url = workers[(n + 1) % 2].url + "/slack/events"  # on the other worker
                    try:
                        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
                    except ValueError:  # no button left: decided since it was read (read again)
                        continue
                    with contextlib.suppress(TimeoutError):  # (what the click said is on the card: read again)
                        await slack.wait_for(approved_on(slack, card), timeout=2)  # (else clicked again)
            assert cluster.primary_of(key_slot("{hitl}:changes")) != primary
            for run_id in runs:
                await run_status(store, run_id, "completed", within=60)
            decided = [e["approval"] for e in await store.audit.entries() if e["event"] == "decision"]
            assert len(decided) == len(set(decided)) == RUNS  # each decided once
            ridden = sum(worker.services.metrics.redis_cluster_retries.labels(reason)._value.get()
                         for worker in workers for reason in ("moved", "clusterdown", "connection"))
            assert ridden > 0  # the workers say they rode the failover (hitl_redis_cluster_retries_total)
        finally:
            await store.close()
            for worker in workers:
                await worker.stop()
