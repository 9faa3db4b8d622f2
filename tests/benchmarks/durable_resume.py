"""A decision in Slack -> the Temporal workflow that waited for it resumed, against the engine's own floor.

One bot worker in this process (the Approvals API, its webhook sender), the Slack stand-in, one redis-server,
the Temporal CLI's dev server (offline), the relay (`agent_approvals.durable.relay`) and a Temporal worker in this
process running `Refund` (tests/support/temporal_workflows.py: asks with `approval(tool_call(...))`, then runs a
refund activity) and `Floor` (waits for a plain Update, then runs the same activity).

* resumed: once `Refund`'s card is posted and its ask recorded, a signed Approve click reaches the worker; timed
  from the click to the workflow's result (the decide step, the webhook, the relay's Update, the settle activity:
  read and used once, the refund activity);
* floor: once `Floor` waits, `execute_update` from a client; timed from the Update to the workflow's result.

Interleaved, one of each per round. `ratio_p50`: resumed / floor. The key allows 100,000 requests a minute (the
default 120 is passed by a default-size run): no 429 is retried inside the timings.

    python tests/benchmarks/durable_resume.py [--decisions 40] [--out FILE]
    python tests/benchmarks/durable_resume.py --small      # CI: 5 decisions
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent_approvals import ApprovalsClient
from agent_approvals.durable.temporal.activities import ApprovalActivities
from agent_approvals.durable.temporal.delivery import TemporalDelivery
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker as TemporalWorker

from bot.devslack.server import SlackStandIn
from tests.benchmarks.common import machine_info, summary_ms, write_json
from tests.conftest import APPROVALS, BOB, BOT_TOKEN, SALES, SIGNING_SECRET, bot_env, card_of, start_redis, start_worker
from tests.support.durable import RelayServer, temporal_dev_server
from tests.support.hitl import until
from tests.support.temporal_workflows import Floor, Refund, RefundOrder, refund


async def waiting(handle: WorkflowHandle[Any, Any], events: int) -> None:
    """Until the workflow's history has `events` completed workflow tasks (it waits, nothing running)."""

    async def done() -> bool:
        return sum([e.HasField("workflow_task_completed_event_attributes")
                    async for e in handle.fetch_history_events()]) >= events

    await until(done, within=60, what=f"{events} workflow tasks completed")


async def measure(decisions: int, temporal_address: str, outbox: Path) -> dict[str, Any]:
    redis = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    bot = await start_worker(bot_env(slack=slack, redis_url=redis.url, model_config=None,
                                     API_ALLOW_PRIVATE_CALLBACKS="1"))
    slack.events_url = bot.url + "/slack/events"
    made = await bot.services.store.api_keys.create("refunds", [SALES], by=BOB, per_minute=100_000)
    assert made is not None
    temporal = await Client.connect(temporal_address)
    relay = RelayServer(made.record.webhook_secret, "temporal", TemporalDelivery(temporal))
    await relay.start()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    resumed: list[float] = []
    floor: list[float] = []
    try:
        async with ApprovalsClient(bot.url, made.key, title="refunds") as approvals:
            activities = ApprovalActivities(approvals, relay_url=relay.url)
            async with TemporalWorker(temporal, task_queue=queue, workflows=[Refund, Floor],
                                      activities=[refund, *activities.all()]):
                for n in range(decisions + 1):  # the first of each: a warm-up, not counted
                    order = RefundOrder(f"A-{n}", 100 + n, str(outbox))
                    handle = await temporal.start_workflow(Refund.run, order, id=f"refund-{uuid.uuid4().hex[:8]}",
                                                           task_queue=queue)
                    card = await slack.wait_for(lambda n=n: len(card_of(slack)) > n and card_of(slack)[n],
                                                timeout=60)
                    await waiting(handle, 2)  # started, then the ask's answer recorded: it waits
                    began = time.perf_counter()
                    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
                    await handle.result()
                    took = time.perf_counter() - began
                    plain = await temporal.start_workflow(Floor.run, order, id=f"floor-{uuid.uuid4().hex[:8]}",
                                                          task_queue=queue)
                    await waiting(plain, 1)
                    began = time.perf_counter()
                    await plain.execute_update(Floor.decide)
                    await plain.result()
                    if n:
                        resumed.append(took)
                        floor.append(time.perf_counter() - began)
    finally:
        await relay.stop()
        await bot.stop()
        await slack.stop()
        redis.process.terminate()
        redis.process.wait(10)
    result: dict[str, Any] = {"decisions": decisions, "resumed": summary_ms(resumed), "floor": summary_ms(floor)}
    result["ratio_p50"] = result["resumed"]["p50_ms"] / result["floor"]["p50_ms"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=40)
    parser.add_argument("--small", action="store_true", help="5 decisions (CI)")
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    decisions = 5 if options.small else options.decisions
    with temporal_dev_server() as address, tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(decisions, address, Path(tmp) / "refunds.jsonl"))
    result["machine"] = machine_info()
    for series in ("resumed", "floor"):
        print(f"{series:8} p50 {result[series]['p50_ms']:7.1f} ms  p90 {result[series]['p90_ms']:7.1f} ms")
    print(f"resumed / floor p50: {result['ratio_p50']:.2f}x")
    write_json(result, options.out)


if __name__ == "__main__":
    main()
