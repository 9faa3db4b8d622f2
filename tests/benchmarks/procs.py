"""Helper processes for the benchmarks (started by `common.Proc`; not run by hand).

    python tests/benchmarks/procs.py worker '{"redis_url": ..., "api_url": ..., "worker_id": ...}'
    python tests/benchmarks/procs.py nudger|floor_bot '{...}'

Each prints one JSON line (its URLs) when ready and exits when its stdin closes.

* `slack`: the Slack stand-in or a stub: in `slack_proc.py`, which imports far less.
* `worker`: one real bot worker (`tests.conftest.start_worker`: the Bolt app over aiohttp, its services, the
  waiter and the deadline sweeper), logging at INFO like `python -m bot`, plus a floor handler (`SET NX` +
  `PUBLISH`) and a control API (`/prepare`, `/wait`, `/stats`, `/gc`, `/start_runs`, `/run_cards`,
  `/wait_runs`, `/profile/start`, `/profile/stop`, `/profile/pause`, `/profile/resume` (cProfile), `/cpu`,
  `/trace`: path_trace.py's stamps, with `"trace": true`) used to create approvals this worker owns and to see
  when the code awaiting them resumes; and feedback_floor.py's
  two floor bots (floor_bots.py: `floor_bot_url`, `agent_floor_url`).
* `nudger`: one worker's reminder sender alone (`bot.services.create_services` wires it as a worker does: the
  store, the Slack client with its retries and one HTTP session, the directory and the card service; only its
  `Nudger` is started), sweeping the `nudges` of the Redis at `redis_url` and posting to `api_url` (`concurrency`
  and `batch`, when given, replace the Nudger's defaults: for experiments). Control API: the worker's `/stats`,
  `/profile/start`, `/profile/stop` (cProfile: `{"kind": "cprofile"}`), and `/slack_problems` (its Slack client's
  retries and errors so far).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import time
import uuid
from pathlib import Path
from typing import Any, NoReturn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent_approvals.approver import ApprovalRequest
from aiohttp import web
from autogen_core import CancellationToken
from slack_sdk.web.async_client import AsyncWebClient

from bot.__main__ import use_event_loop
from bot.core.logs import configure_logging
from bot.core.records import RunRecord
from bot.runs.run_state import RunState
from bot.services import Services
from tests.benchmarks import path_trace
from tests.benchmarks.common import (
    CARD_CHANNEL,
    DRAFT,
    ORIGIN_CHANNEL,
    TASK,
    bench_run,
    new_approval,
    proc_cpu_seconds,
    proc_rss_bytes,
    start_floor_server,
    worker_env,
)
from tests.benchmarks.floor_bots import AgentFloorBot, BoltFloorBot, FloorBot
from tests.benchmarks.slack_proc import finish, ready, serve, stdin_closed
from tests.conftest import (
    BOT_TOKEN,
    start_worker,
)

# ------------------------------------------------------------------------------------------------ worker


class Bench:
    """Creates approvals owned by this worker and records when the code awaiting each one resumes."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.resolved: dict[str, float] = {}  # approval id -> time.time() when the awaiting code resumed
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.woken: list[str] = []  # mode `expect`: woken, outcome not read yet
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.run_ids: list[str] = []
        self.profiler: Any = None
        self._run: RunRecord | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/prepare", self.prepare)
        app.router.add_post("/wait", self.wait)
        app.router.add_get("/stats", self.stats)
        app.router.add_post("/gc", self.collect)
        app.router.add_post("/reset", self.reset)
        app.router.add_post("/start_runs", self.start_runs)
        app.router.add_post("/run_cards", self.run_cards)
        app.router.add_post("/wait_runs", self.wait_runs)
        app.router.add_post("/profile/start", self.profile_start)
        app.router.add_post("/profile/stop", self.profile_stop)
        app.router.add_post("/profile/pause", self.profile_pause)
        app.router.add_post("/profile/resume", self.profile_resume)
        return app

    # approvals ----------------------------------------------------------------------------
    async def _await_expected(self, approval_id: str, future: asyncio.Future[None]) -> None:
        """Await the wake-up the way `ApprovalService.ask` does (the future is linked to a cancellation token),
        then forget it. The outcomes are read from the records once everything resumed (`wait`), so that
        reading them adds no load while decisions are timed."""
        token = CancellationToken()
        token.link_future(future)
        try:
            await future
        finally:
            self.services.waiter.forget(approval_id)
        self.resolved[approval_id] = time.time()
        self.woken.append(approval_id)

    async def _request(self, state: RunState, request: ApprovalRequest) -> None:
        """The real waiting end: `RunManager.request_approval`, which `input_func` awaits."""
        decision = await self.services.runs.request_approval(state, request, None)
        self.services.approvals.runs_first.arrived(state.run.id)  # no next step follows (a run's would)
        self.resolved[request.approval_id] = time.time()
        self.outcomes[decision.outcome] += 1

    async def _bench_run(self) -> RunRecord:
        if self._run is None:
            self._run = await bench_run(self.services)
        return self._run

    async def prepare(self, request: web.Request) -> web.Response:
        """Create `n` approvals owned by this worker, with cards, and a task awaiting each one.

        mode `expect`: `store.approvals.create` + `cards.post` + `attach_card` + `waiter.expect`, awaited like
        linked to a token (what click_to_resume.py always did). mode `request_approval`: a task per approval running
        the real `RunManager.request_approval` (what `input_func` awaits; it also posts a thread message before
        and after the decision). Deadlines: `deadline_base` + `deadline_spread` * i / n, else 10 minutes.
        """
        body = await request.json()
        n = int(body["n"])
        mode = str(body.get("mode", "expect"))
        checkpoint: str | None = body.get("checkpoint")
        proposal = str(body.get("proposal") or DRAFT)
        base = body.get("deadline_base")
        spread = float(body.get("deadline_spread", 0.0))
        post_cards = bool(body.get("post_cards", True))
        semaphore = asyncio.Semaphore(int(body.get("concurrency", 32)))
        services = self.services
        created: list[list[str]] = [[] for _ in range(n)]
        run = await self._bench_run() if mode == "request_approval" else None

        def unique(i: int) -> str | None:  # every real checkpoint differs (ids, timestamps): no shared strings
            return None if checkpoint is None else f'{checkpoint[:-1]}, "bench": {i}}}'

        async def one(i: int) -> None:
            async with semaphore:
                text = f"{proposal}\n(#{i} {uuid.uuid4().hex[:8]})"
                if mode == "expect":
                    deadline = None if base is None else float(base) + spread * i / n
                    approval = new_approval(services.worker_id, proposal=text, deadline=deadline)
                    future = services.waiter.expect(approval.id)
                    await services.store.approvals.create(approval, checkpoint=unique(i))
                    if post_cards:
                        channel, ts = await services.cards.post(approval)
                    else:
                        channel, ts = CARD_CHANNEL, f"{1_700_000_000 + i}.{uuid.uuid4().int % 1_000_000:06d}"
                    await services.store.approvals.attach_card(approval.id, channel=channel, ts=ts)
                    self.tasks[approval.id] = asyncio.create_task(self._await_expected(approval.id, future))
                    created[i] = [approval.id, channel, ts]
                    return
                assert run is not None
                approval_id = str(uuid.uuid4())
                state = RunState(run=run)
                ask = ApprovalRequest(approval_id=approval_id, proposal=text, author="assistant", checkpoint=unique(i))
                self.tasks[approval_id] = asyncio.create_task(self._request(state, ask))
                while True:  # until its card is posted and attached
                    stored = await services.store.approvals.get(approval_id)
                    if stored is not None and stored.card_ts:  # expect() came before store.approvals.create()
                        created[i] = [approval_id, stored.card_channel, stored.card_ts]
                        return
                    await asyncio.sleep(0.002)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return web.json_response({"approvals": created, "seconds": time.perf_counter() - started})

    async def wait(self, request: web.Request) -> web.Response:
        """Wait (up to `timeout` s) until every prepared approval's awaiting code has resumed."""
        body = await request.json()
        timeout = float(body.get("timeout", 60))
        tasks = list(self.tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        missing = [approval_id for approval_id, task in self.tasks.items() if not task.done()]
        failed = [repr(t.exception()) for t in self.tasks.values() if t.done() and not t.cancelled() and t.exception()]
        woken, self.woken = self.woken, []
        for start in range(0, len(woken), 1000):
            found = await self.services.store.approvals.get_many(woken[start : start + 1000])
            self.outcomes.update(approval.status for approval in found)
            gone = min(1000, len(woken) - start) - len(found)
            if gone:
                self.outcomes["missing"] += gone
        return web.json_response(
            {"resolved": self.resolved, "missing": missing, "failed": failed[:5], "outcomes": dict(self.outcomes)}
        )

    async def reset(self, request: web.Request) -> web.Response:
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()
        self.resolved.clear()
        self.outcomes.clear()
        self.woken.clear()
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        pid = os.getpid()
        return web.json_response(
            {
                "rss": proc_rss_bytes(pid),
                "cpu_seconds": proc_cpu_seconds(pid),
                "waiting": self.services.waiter.waiting,
                "resolved": len(self.resolved),
                "tasks": len(self.tasks),
                "active_runs": self.services.runs.active_runs,
            }
        )

    async def collect(self, request: web.Request) -> web.Response:
        gc.collect()
        return web.json_response({"rss": proc_rss_bytes(os.getpid())})

    # whole runs (real AutoGen teams) --------------------------------------------------------
    async def start_runs(self, request: web.Request) -> web.Response:
        """Start `n` runs (`RunManager.start_run`: real writer teams with the replay model) and wait until every
        one of them waits for a human (its card posted, its future in the waiter)."""
        body = await request.json()
        n = int(body["n"])
        timeout = float(body.get("timeout", 300))
        started = time.perf_counter()
        base = self.services.waiter.waiting
        channels = [str(c) for c in body.get("channels") or [ORIGIN_CHANNEL]]
        refused: collections.Counter[str] = collections.Counter()
        for i in range(n):  # requesters rotate over 100 people (the worker runs with high limits of active runs)
            requester = f"U0BENCH{i % 100:03d}"
            run = await self.services.runs.start_run(
                task=TASK, requester=requester, channel=channels[i % len(channels)]
            )
            if isinstance(run, str):
                refused[run] += 1
            else:
                self.run_ids.append(run.id)
        while self.services.waiter.waiting < base + n and time.perf_counter() - started < timeout:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return web.json_response(
            {
                "runs": len(self.run_ids),
                "waiting": self.services.waiter.waiting,
                "seconds": time.perf_counter() - started,
                "refused": dict(refused),
            }
        )

    async def run_cards(self, request: web.Request) -> web.Response:
        cards: list[list[str]] = []
        for run_id in self.run_ids:
            for approval in await self.services.store.approvals.of_run(run_id):
                if approval.pending and approval.card_ts:
                    cards.append([approval.id, approval.card_channel, approval.card_ts])
        return web.json_response({"approvals": cards})

    async def wait_runs(self, request: web.Request) -> web.Response:
        body = await request.json()
        deadline = time.perf_counter() + float(body.get("timeout", 120))
        while self.services.runs.active_runs and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        statuses: collections.Counter[str] = collections.Counter()
        for run_id in self.run_ids:
            run = await self.services.store.runs.get(run_id)
            statuses[run.status if run else "missing"] += 1
        return web.json_response({"active_runs": self.services.runs.active_runs, "statuses": dict(statuses)})

    # profiling --------------------------------------------------------------------------------
    async def profile_start(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind = str(body.get("kind", "pyinstrument"))
        if kind == "pyinstrument":
            from pyinstrument import Profiler

            profiler = Profiler(interval=float(body.get("interval", 0.0002)), async_mode="disabled")
            profiler.start()
            self.profiler = ("pyinstrument", profiler)
        else:
            cprofile = cProfile.Profile(time.process_time)  # CPU time: waiting on a busy 2-core box is not cost
            cprofile.enable()
            self.profiler = ("cprofile", cprofile)
        return web.json_response({"ok": True})

    async def profile_pause(self, request: web.Request) -> web.Response:
        """cProfile only: stop counting until `/profile/resume` (feedback_floor.py's `--profile-windows`)."""
        self.profiler[1].disable()
        return web.json_response({"ok": True})

    async def profile_resume(self, request: web.Request) -> web.Response:
        self.profiler[1].enable()
        return web.json_response({"ok": True})

    async def profile_stop(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind, profiler = self.profiler
        self.profiler = None
        out = Path(str(body["path"]))
        out.parent.mkdir(parents=True, exist_ok=True)
        if kind == "pyinstrument":
            profiler.stop()
            text = profiler.output_text(unicode=False, color=False, show_all=False, short_mode=False)
            out.with_suffix(".html").write_text(profiler.output_html())
        else:
            profiler.disable()
            buffer = io.StringIO()
            stats = pstats.Stats(profiler, stream=buffer)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(60)
            text = buffer.getvalue()
            stats.dump_stats(str(out.with_suffix(".pstats")))
        out.write_text(text)  # noqa: ASYNC240 - after the measurement
        return web.json_response({"text": text})


async def worker_role(options: dict[str, Any]) -> None:
    configure_logging(level="INFO")  # as `python -m bot` (its filters and AutoGen's levels too)
    env = worker_env(
        api_url=str(options["api_url"]),
        redis_url=str(options["redis_url"]),
        model_config=options.get("model_config"),
        approval_timeout=str(options.get("approval_timeout", "10m")),
    )
    env.update({str(k): str(v) for k, v in (options.get("env") or {}).items()})
    stamps = path_trace.install() if options.get("trace") else []  # before the worker's parts are built
    worker = await start_worker(env, worker_id=options.get("worker_id"))
    floor = await start_floor_server(
        str(options["redis_url"]), channel=str(options.get("floor_channel", "floor:worker"))
    )
    bench = Bench(worker.services)
    app = bench.app()

    async def trace(request: web.Request) -> web.Response:
        return web.json_response(stamps)

    async def cpu(request: web.Request) -> web.Response:
        return web.json_response(time.process_time())

    app.router.add_get("/trace", trace)
    app.router.add_get("/cpu", cpu)
    runner, control_url = await serve(app)
    floor_bot = FloorBot(worker.services.slack, channel=str(options.get("floor_bot_channel", "C0RANDOM")))
    bot_runner, floor_bot_url = await serve(floor_bot.app())
    agent_floor = AgentFloorBot(worker.services.slack, channel=str(options.get("agent_floor_channel", "C0GENERAL")))
    agent_runner, agent_floor_url = await serve(agent_floor.app())
    ready(
        {
            "url": worker.url,
            "events_url": worker.url + "/slack/events",
            "floor_url": floor.url,
            "floor_bot_url": floor_bot_url,
            "agent_floor_url": agent_floor_url,
            "control_url": control_url,
            "worker_id": worker.services.worker_id,
        }
    )
    await stdin_closed()
    if agent_floor.task is not None:
        agent_floor.task.cancel()
    await agent_runner.cleanup()
    await bot_runner.cleanup()
    await runner.cleanup()
    await floor.stop()
    with contextlib.suppress(Exception):
        await worker.stop()


async def floor_bot_role(options: dict[str, Any]) -> None:
    """feedback_floor.py's Bolt floor bot, alone in its process (floor_bots.BoltFloorBot)."""
    slack = AsyncWebClient(token=BOT_TOKEN, base_url=str(options["api_url"]).rstrip("/") + "/")
    bot = BoltFloorBot(slack, channel=str(options["channel"]))
    runner, url = await serve(bot.app())
    ready({"url": url, "control_url": url})
    await stdin_closed()
    if bot.task is not None:
        bot.task.cancel()
    await runner.cleanup()


# ------------------------------------------------------------------------------------------------ nudger


async def nudger_role(options: dict[str, Any]) -> None:
    """A worker's `Nudger` alone, wired as `create_services` wires it (reminders.py runs two)."""
    import aiohttp

    from bot.core.settings import Settings
    from bot.root import create_services

    configure_logging(level="INFO")
    env = worker_env(api_url=str(options["api_url"]), redis_url=str(options["redis_url"]))
    services = create_services(Settings.from_env(env), worker_id=options.get("worker_id"))
    tuned = {k: int(options[k]) for k in ("concurrency", "batch") if options.get(k)}  # experiments; default: a worker's
    if tuned:
        from bot.approvals.nudges import Nudger
        from bot.slack.nudges import SlackNudges

        teller = SlackNudges(store=services.store, slack=services.slack, directory=services.directory,
                             cards=services.cards)
        services.nudger = Nudger(store=services.store, teller=teller, cards=services.cards, **tuned)
    services.slack.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))  # as Services.start
    await services.nudger.start()
    bench = Bench(services)  # for its /stats and /profile/* only

    async def slack_problems(request: web.Request) -> web.Response:
        """Its Slack client's retries and errors so far (`hitl_slack_api_retries`, `hitl_slack_api_errors`)."""
        found: dict[str, float] = {}
        for metric in services.metrics.registry.collect():
            for sample in metric.samples:
                if sample.name in ("hitl_slack_api_retries_total", "hitl_slack_api_errors_total"):
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    found[f"{sample.name.removeprefix('hitl_slack_api_')}{{{labels}}}"] = sample.value
        return web.json_response(found)

    app = bench.app()
    app.router.add_get("/slack_problems", slack_problems)
    runner, control_url = await serve(app)
    ready({"control_url": control_url, "worker_id": services.worker_id})
    await stdin_closed()
    await runner.cleanup()
    await services.nudger.stop()
    await services.slack.session.close()
    await services.redis.aclose()


def main() -> NoReturn:
    role, options = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    roles = {"worker": worker_role, "nudger": nudger_role, "floor_bot": floor_bot_role}
    # the event loop `python -m bot` would use (EVENT_LOOP, default: uvloop if installed)
    use_event_loop(str(options.get("event_loop") or os.environ.get("EVENT_LOOP") or "auto"))
    finish(lambda: roles[role](options))


if __name__ == "__main__":
    main()
