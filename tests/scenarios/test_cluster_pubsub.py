"""Two workers on a real Redis 7 Cluster of three primaries and three replicas (issue 89): a decision made on one
worker reaches the other's waiting run by sharded pub/sub (`SPUBLISH` on the channel's primary, no `PUBLISH`
relayed to every node), and with `REDIS_SHARDED_PUBSUB=false` (a release before still running) by plain pub/sub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from bot.store.slots import key_slot
from tests.conftest import APPROVALS, BOB, block_texts, bot_env, has_buttons, start_worker
from tests.support.cluster import DEMO, card_now, run_status
from tests.support.flow import start_run
from tests.support.redis_cluster import LocalCluster

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sharded", [True, False])
async def test_a_click_on_one_worker_resumes_the_run_on_another_by_sharded_pubsub(
        slack: SlackStandIn, tmp_path: Path, sharded: bool) -> None:
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    with LocalCluster(tmp_path) as cluster:
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
