"""A reviewer's feedback -> the next card, with Slack answering at once, against floor bots in the same run (#52).

One bot worker in its own process (`procs.py worker`: the real Bolt app over aiohttp, uvloop, logging at INFO like
`python -m bot`), running a real `/agent` run (AutoGen's writer team with its replay model); the Slack stand-in and
the reviewer in this process, answering every Web API call at once and noting when each came in.

* ours: once the run's card waits, a reviewer clicks Revise and, its modal open and what the card set off settled,
  the feedback's `view_submission` is delivered by the stand-in, signed, to the worker's `/slack/events`. Timed from
  the POST leaving the stand-in to the next card's `chat.postMessage` coming in: Bolt and the signature, the decide
  step, the run woken, the agent's next turn, the decision chain and the card.
* floor: the least any bot can do between the same two events (`floor_bots.FloorBot`, in the worker's process, on
  its event loop): it receives the same submission (the bytes the worker got last, signed again), verifies its
  signature, reads the feedback and posts a card of the same blocks with the worker's own Slack client. Timed the
  same way, to its `chat.postMessage` coming in.
* agent floor: the floor with the agent's turn (`floor_bots.AgentFloorBot`): the same submission answers the
  human's turn of the same AutoGen team (its own replay model), whose next draft's card it posts. What any bot
  hosting this team must do; what ours adds beyond it is the plane's own (the decision stored and taken once, the
  checkpoint, the chain, the audit).
* Bolt floor: the agent floor as a Slack developer writes the bot (`floor_bots.BoltFloorBot`): slack-bolt's
  `AsyncApp` on its own aiohttp server (`AsyncApp.web_app`), in a process of its own with its own Slack client,
  the same team; a `view` listener acks the submission and answers the human's turn. Still no Redis, checkpoint,
  record or audit.

One of each per round, in a rotated order (`common.interleaved`), after warm-up rounds. The stand-in stamps a call
with `time.perf_counter()` (CLOCK_MONOTONIC on Linux: one clock across processes) before it reads it, so its own
Block Kit checks do not count. `p50_x_floor`: ours p50 / floor p50; `p99_x_floor` the same at p99;
`p50_x_agent_floor`, `p99_x_agent_floor` against the agent floor, `p50_x_bolt_floor`, `p99_x_bolt_floor` against
the Bolt floor, the one that reproduces the issue's "floor bot" (#52's goal: well under 2x;
`goal_p50_under_2x_bolt_floor`). `worker_cpu_ms_p50`: the CPU time of the process that served each
(`time.process_time`, read just before and after each timed part: each includes one control request) per round,
what a busy machine's waits do not inflate (the worker's; the Bolt floor's own process's). `--trace`: the medians
of ours' stages (path_trace.py), in a run of its own (its stamps cost a little).

`--profile-windows DIR`: the worker's CPU (cProfile) while ours' rounds are timed, and only then.

    python tests/benchmarks/feedback_floor.py [--revisions 40] [--profile DIR] [--profile-windows DIR] [--trace]
                                              [--out FILE]
    python tests/benchmarks/feedback_floor.py --small      # CI: 6 rounds after 2 of warm-up (~6 s)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks import path_trace
from tests.benchmarks.common import Proc, interleaved, machine_info, start_redis, stop_redis, summary_ms, write_json
from tests.benchmarks.slack_calls import SlowSlack, kind_of
from tests.conftest import ALICE, APPROVALS, BOB, BOT_TOKEN, SALES, SIGNING_SECRET, card_of, replay_config, reply_text

FLOOR_CHANNEL = "C0RANDOM"  # where the floor bot posts (not #approvals, where the run's cards are counted)
AGENT_FLOOR_CHANNEL = "C0GENERAL"  # and the agent floor
BOLT_FLOOR_CHANNEL = "D0CAROL"  # and the Bolt floor (Carol's DM with the bot: she has no part in the run)
TASK = "Draft an email to our vendor asking for 10% off the Q2 order"
WARMUP = 2
PROFILER = "pyinstrument"  # or "cprofile" (CPU time, by function)
Call = dict[str, Any]  # a Web API call as `SlowSlack` notes it: method, channel, threaded, came, answered


class StampedSlack(SlowSlack):
    """The stand-in answering at once, noting when each Web API call came in (`SlowSlack`) and waking who waits for
    one; and the body and time of each delivery to a bot (what the floors are sent again)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(0.0, **options)
        self.delivered: list[tuple[float, bytes]] = []
        self._waiting: list[tuple[Callable[[Call], bool], asyncio.Future[float]]] = []
        delivery = self._delivery  # (the benchmark's view of the stand-in's delivery: the bytes it sends)
        post = delivery._post

        async def recorded(body: bytes, content_type: str) -> Any:
            self.delivered.append((time.perf_counter(), body))
            return await post(body, content_type)

        delivery._post = recorded  # type: ignore[method-assign]

    def came_in(self, call: Call) -> None:
        for entry in list(self._waiting):
            if entry[0](call) and not entry[1].done():
                entry[1].set_result(call["came"])
                self._waiting.remove(entry)

    def expect(self, wanted: Callable[[Call], bool]) -> asyncio.Future[float]:
        """When the next call `wanted` comes in (a future of its `came`)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((wanted, future))
        return future

    async def settled(self, quiet: float = 0.03) -> None:
        """Until every call is answered and none came for `quiet` seconds (what the last round set off is done)."""
        while True:
            seen = len(self.timeline)
            await asyncio.sleep(quiet)
            if len(self.timeline) == seen and all(call["answered"] for call in self.timeline):
                return


def card_posted(call: Call) -> bool:
    return kind_of(call) == "approval card posted"


def posted_in(channel: str) -> Callable[[Call], bool]:
    return lambda call: call["method"] == "chat.postMessage" and call["channel"] == channel


async def measure(revisions: int, profile: Path | None, trace: bool = False,
                  profile_windows: Path | None = None) -> dict[str, Any]:
    redis_server = start_redis()
    tmp = Path(tempfile.mkdtemp(prefix="bench-feedback-floor-"))
    model = tmp / "model.json"
    drafts = replay_config(*(f"Draft v{n}: Dear vendor, 10% off the Q2 order?" for n in range(revisions + WARMUP + 2)))
    model.write_text(json.dumps(drafts))
    slack = StampedSlack(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    http = aiohttp.ClientSession()
    worker = await Proc.start("worker", {"api_url": slack.api_url, "redis_url": redis_server.url,
                                         "model_config": str(model), "floor_bot_channel": FLOOR_CHANNEL,
                                         "agent_floor_channel": AGENT_FLOOR_CHANNEL, "trace": trace},
                              log_dir=tmp)
    bolt = await Proc.start("floor_bot", {"api_url": slack.api_url, "channel": BOLT_FLOOR_CHANNEL}, log_dir=tmp)
    slack.events_url = worker.info["events_url"]
    floor_bot_url, agent_floor_url = str(worker.info["floor_bot_url"]), str(worker.info["agent_floor_url"])
    bolt_floor_url = str(bolt.info["url"])
    cards = 0
    timed: list[tuple[float, float]] = []  # (sent, came) of ours, for the trace

    def pending(seen: int) -> Callable[[], dict[str, Any] | None]:
        def found() -> dict[str, Any] | None:
            posted = card_of(slack)
            return posted[-1] if len(posted) > seen and posted[-1] in card_of(slack, pending=True) else None
        return found

    # the CPU seconds per round of the process that served it (the worker; the Bolt floor's own)
    cpu: dict[str, list[float]] = {"ours": [], "floor": [], "agent_floor": [], "bolt_floor": []}

    async def cpu_now(process: Proc = worker) -> float:
        return float(await process.call(http, "/cpu"))

    async def ours() -> float:
        nonlocal cards
        card = await slack.wait_for(pending(cards), timeout=30)
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
        view: dict[str, Any] = await slack.wait_for(lambda: (v := slack.open_views(BOB)) and v[-1])
        await slack.settled()
        cpu_before = await cpu_now()
        if profile_windows is not None:
            await worker.call(http, "/profile/resume", {})
        arrived = slack.expect(card_posted)
        answer = await slack.submit_view(user=BOB, view_id=view["id"],
                                         values={"feedback": {"feedback_input": f"More formal, please ({cards})."}})
        assert answer.status == 200, answer
        came = await asyncio.wait_for(arrived, 30)
        if profile_windows is not None:
            await worker.call(http, "/profile/pause", {})
        cpu["ours"].append(await cpu_now() - cpu_before)
        cards += 1
        timed.append((slack.delivered[-1][0], came))
        return came - slack.delivered[-1][0]

    async def floor_round(url: str, channel: str, series: str, process: Proc = worker) -> float:
        async with http.post(url + "/card", json={"blocks": card_of(slack)[-1].get("blocks") or []}):
            pass
        body = slack.delivered[-1][1]  # the submission the worker got last
        await slack.settled()
        cpu_before = await cpu_now(process)
        arrived = slack.expect(posted_in(channel))
        started = time.perf_counter()
        async with http.post(url + "/slack/events", data=body, headers=slack.sign(body)) as response:
            assert response.status == 200, response.status
        came = await asyncio.wait_for(arrived, 30)
        cpu[series].append(await cpu_now(process) - cpu_before)
        return came - started

    async def floor() -> float:
        return await floor_round(floor_bot_url, FLOOR_CHANNEL, "floor")

    async def agent_floor() -> float:
        return await floor_round(agent_floor_url, AGENT_FLOOR_CHANNEL, "agent_floor")

    async def bolt_floor() -> float:
        return await floor_round(bolt_floor_url, BOLT_FLOOR_CHANNEL, "bolt_floor", bolt)

    steps: dict[str, Callable[[], Awaitable[float]]] = {"ours": ours, "floor": floor, "agent_floor": agent_floor,
                                                        "bolt_floor": bolt_floor}
    try:
        started = await slack.send_command(user=ALICE, channel=SALES, text=TASK)
        assert "Started run `" in reply_text(started), reply_text(started)
        await slack.wait_for(pending(0), timeout=30)
        for url, channel in ((agent_floor_url, AGENT_FLOOR_CHANNEL), (bolt_floor_url, BOLT_FLOOR_CHANNEL)):
            first = slack.expect(posted_in(channel))
            async with http.post(url + "/start", json={"config": drafts}):
                pass
            await asyncio.wait_for(first, 30)
        if profile is not None:
            await worker.call(http, "/profile/start", {"kind": PROFILER, "interval": 0.0005})
        if profile_windows is not None:
            await worker.call(http, "/profile/start", {"kind": "cprofile"})
            await worker.call(http, "/profile/pause", {})
        series = await interleaved(steps, revisions, warmup=WARMUP)
        if profile is not None:
            await worker.call(http, "/profile/stop", {"path": str(profile / "worker.txt")})
        if profile_windows is not None:
            await worker.call(http, "/profile/stop", {"path": str(profile_windows / "windows.txt")})
        await slack.wait_for(pending(cards), timeout=30)  # the last revision's card came whole
        stamps = await worker.call(http, "/trace") if trace else []
    finally:
        await bolt.stop()
        await worker.stop()
        await http.close()
        await slack.stop()
        stop_redis(redis_server)
    ours_ms, floor_ms, agent_ms, bolt_ms = (summary_ms(series[name])
                                            for name in ("ours", "floor", "agent_floor", "bolt_floor"))
    return {
        "benchmark": "feedback_floor",
        "machine": machine_info(),
        "revisions": revisions,
        "warmup_rounds": WARMUP,
        "feedback_to_next_card_ms": ours_ms,
        "floor_bot_ms": floor_ms,
        "agent_floor_ms": agent_ms,
        "bolt_floor_ms": bolt_ms,
        "p50_x_floor": ours_ms["p50_ms"] / floor_ms["p50_ms"],
        "p99_x_floor": ours_ms["p99_ms"] / floor_ms["p99_ms"],
        "p50_x_agent_floor": ours_ms["p50_ms"] / agent_ms["p50_ms"],
        "p99_x_agent_floor": ours_ms["p99_ms"] / agent_ms["p99_ms"],
        "p50_x_bolt_floor": ours_ms["p50_ms"] / bolt_ms["p50_ms"],
        "p99_x_bolt_floor": ours_ms["p99_ms"] / bolt_ms["p99_ms"],
        "worker_cpu_ms_p50": {name: round(statistics.median(kept[WARMUP:]) * 1000, 3) for name, kept in cpu.items()},
        "samples_ms": {name: [round(s * 1000, 3) for s in values] for name, values in series.items()},
        **({"stages_p50_ms": path_trace.stages([tuple(s) for s in stamps], timed[WARMUP:])} if trace else {}),
        "goal_p50_under_2x_bolt_floor": ours_ms["p50_ms"] < 2 * bolt_ms["p50_ms"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--revisions", type=int, default=40, help="rounds: one Revise and one floor submission each")
    parser.add_argument("--small", action="store_true", help="CI size: 6 rounds")
    parser.add_argument("--profile", type=Path, default=None, help="a folder for the worker's pyinstrument profile")
    parser.add_argument("--profile-windows", type=Path, default=None,
                        help="a folder for the worker's cProfile of ours' timed rounds alone")
    parser.add_argument("--trace", action="store_true", help="where ours spends its time (path_trace.py), apart")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(measure(6 if args.small else args.revisions, args.profile, args.trace, args.profile_windows))
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    ours, floor, agent = result["feedback_to_next_card_ms"], result["floor_bot_ms"], result["agent_floor_ms"]
    bolt = result["bolt_floor_ms"]
    print(f"\nfeedback -> next card, Slack answering at once, {result['revisions']} rounds:"
          f" p50 {ours['p50_ms']:.2f} ms, p99 {ours['p99_ms']:.2f} ms;"
          f" floor bot p50 {floor['p50_ms']:.2f} ms, p99 {floor['p99_ms']:.2f} ms:"
          f" {result['p50_x_floor']:.2f}x at p50, {result['p99_x_floor']:.2f}x at p99;"
          f" agent floor p50 {agent['p50_ms']:.2f} ms, p99 {agent['p99_ms']:.2f} ms:"
          f" {result['p50_x_agent_floor']:.2f}x at p50, {result['p99_x_agent_floor']:.2f}x at p99;"
          f" Bolt floor p50 {bolt['p50_ms']:.2f} ms, p99 {bolt['p99_ms']:.2f} ms:"
          f" {result['p50_x_bolt_floor']:.2f}x at p50, {result['p99_x_bolt_floor']:.2f}x at p99")
    used = result["worker_cpu_ms_p50"]
    print("worker CPU per round, p50: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in used.items()))
    for stage, ms in (result.get("stages_p50_ms") or {}).items():
        print(f"  {stage:55} p50 {ms:7.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
