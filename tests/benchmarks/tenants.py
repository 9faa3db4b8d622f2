"""Click -> resume with two workspaces against one (issue 65: no cost for the dimension), side by side in one run.

Two workers on one redis-server and one Slack stand-in (this process): `one` serves the home workspace alone, as a
deployment did before workspaces (REDIS_KEY_PREFIX `one`); `two` serves the home workspace and a second plain one
(T0OTHER, SLACK_WORKSPACES_FILE; prefix `two`), whose approvals live under its tenant's keys and whose requests go to
its own Bolt app and parts (bot/tenancy.py). Each decision: a program asks with an API key, its card is posted, the
program long-polls (`GET /api/v1/approvals/{id}?wait=10`, the resume of a program), and a person clicks Approve (a
signed `block_actions` POST to the worker's `/slack/events`); timed from just before the click until the long-poll
answers "approved". Rounds are interleaved: `one` (home), `two` (home), `two` (other workspace).

    python tests/benchmarks/tenants.py [--decisions 300] [--out FILE]
    python tests/benchmarks/tenants.py --small      # CI: 40 decisions per series
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
from bot.devslack.model import OTHER_TEAM
from bot.devslack.server import SlackStandIn
from tests.benchmarks.common import machine_info, start_redis, stop_redis, summary_ms, write_json
from tests.conftest import ALICE, APPROVALS, BOB, BOT_TOKEN, SALES, SIGNING_SECRET, Worker, bot_env, start_worker
from tests.support.api import Client, tool_ask

DAN, ERIN, OTHER_CHANNEL = "U1DAN", "U1ERIN", "C1APPROVALS"


async def decision(slack: SlackStandIn, worker: Worker, client: Client, *, channel: str, requester: str,
                   approver: str) -> float:
    """One ask, its card, the long-poll waiting, a click: seconds from the click to the long-poll's answer."""
    status, asked = await client.ask(tool_ask(requester=requester))
    assert status == 201, asked
    approval_id = asked["id"]

    def card() -> dict[str, Any] | None:
        return next((m for m in slack.messages(channel) if approval_id in json.dumps(m.get("blocks") or [])), None)

    posted = await slack.wait_for(card, description=f"the card of {approval_id}")
    polling = asyncio.create_task(client.wait(approval_id, wait=10))
    await asyncio.sleep(0.02)  # the long-poll is in: what is timed is the decision reaching it
    slack.events_url = worker.url + "/slack/events"
    started = time.perf_counter()
    clicked = await slack.click(user=approver, channel=channel, ts=posted["ts"], action_id="approval_approve")
    answer = await polling
    took = time.perf_counter() - started
    assert clicked.status == 200 and answer["status"] == "approved", answer
    return took


async def key(worker: Worker, name: str, channel: str, workspace: WorkspaceRef | None) -> Client:
    made = await worker.services.store.api_keys.create(name, (channel,), by="bench", workspace=workspace,
                                                       per_minute=100_000, max_pending=100_000)
    assert made is not None
    return Client(worker, made.key)


async def run(decisions: int) -> dict[str, Any]:
    server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    tokens = slack.several_workspaces()
    workers: list[Worker] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            listed = Path(folder) / "workspaces.json"
            listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": "env:OTHER_TOKEN"}]))
            one = await start_worker(bot_env(slack=slack, redis_url=server.url, model_config=None,
                                             REDIS_KEY_PREFIX="one"))
            workers.append(one)
            two = await start_worker(bot_env(slack=slack, redis_url=server.url, model_config=None,
                                             REDIS_KEY_PREFIX="two", SLACK_WORKSPACES_FILE=str(listed),
                                             OTHER_TOKEN=tokens[OTHER_TEAM]))
            workers.append(two)
            series = {
                "one": (one, await key(one, "one", SALES, None), APPROVALS, ALICE, BOB),
                "two_home": (two, await key(two, "home", SALES, None), APPROVALS, ALICE, BOB),
                "two_other": (two, await key(two, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM)), OTHER_CHANNEL,
                              ERIN, DAN),
            }
            times: dict[str, list[float]] = {name: [] for name in series}
            for worker, client, channel, requester, approver in series.values():  # warm up: parts built
                await decision(slack, worker, client, channel=channel, requester=requester, approver=approver)
            for _ in range(decisions):
                for name, (worker, client, channel, requester, approver) in series.items():
                    times[name].append(await decision(slack, worker, client, channel=channel, requester=requester,
                                                      approver=approver))
    finally:
        for worker in workers:
            await worker.stop()
        await slack.stop()
        stop_redis(server)
    resumed = {name: summary_ms(values) for name, values in times.items()}
    both = times["two_home"] + times["two_other"]
    resumed["two"] = summary_ms(both)
    ratios = {f"{name} / one": {q: round(resumed[name][f"{q}_ms"] / resumed["one"][f"{q}_ms"], 3)
                                for q in ("p50", "p99")} for name in ("two", "two_home", "two_other")}
    return {"benchmark": "tenants", "decisions_per_series": decisions, "resumed": resumed, "ratios": ratios,
            "machine": machine_info()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--small", action="store_true", help="40 decisions per series")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(40 if args.small else args.decisions))
    write_json(result, args.out)
    print(json.dumps({"resumed": {k: {q: v.get(f"{q}_ms") for q in ("p50", "p99")}
                                  for k, v in result["resumed"].items()}, "ratios": result["ratios"]}, indent=2))


if __name__ == "__main__":
    main()
