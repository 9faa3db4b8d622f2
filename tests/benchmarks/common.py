"""Shared parts of the benchmark scripts: helper processes, signed clicks, realistic approvals, statistics.

Not a benchmark itself. Scripts run as `python tests/benchmarks/<name>.py`; importing this module puts the
repository root on `sys.path` first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import hashlib
import hmac
import importlib.util
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bot.core.ids import new_run_id  # noqa: E402
from bot.core.records import ApprovalRecord, RunRecord  # noqa: E402
from bot.devslack.server import RecordedCall, SlackStandIn  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.store import connect  # noqa: E402
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, RedisServer, free_port, start_redis  # noqa: E402

__all__ = [
    "BOT_TOKEN",
    "CARD_CHANNEL",
    "DRAFT",
    "ORIGIN_CHANNEL",
    "REPO",
    "REQUESTER",
    "REVIEWER",
    "SIGNING_SECRET",
    "TASK",
    "CallsSince",
    "ClickResult",
    "FloorServer",
    "FloorWaiter",
    "Proc",
    "RedisServer",
    "bench_run",
    "click_all",
    "click_body",
    "fire",
    "free_port",
    "machine_info",
    "new_approval",
    "percentile",
    "proc_cpu_seconds",
    "proc_rss_bytes",
    "realistic_checkpoint",
    "settled_counts",
    "sign",
    "start_floor_server",
    "start_redis",
    "stop_redis",
    "summary_ms",
    "worker_env",
    "write_json",
]

CARD_CHANNEL = "C0APPROVALS"
ORIGIN_CHANNEL = "C0SALES"
REQUESTER = "U0ALICE"
REVIEWER = "U0BOB"
TASK = "Draft an email to our top 10 customers about the price change"
# A realistic first draft (about 400 characters): what the card shows and what the checkpoint repeats.
DRAFT_TEMPLATE = (
    "Subject: An update to our prices from 1 July\n\n"
    "Dear {name},\n\n"
    "Thank you for being one of our most valued customers. From 1 July our list prices will rise by 4%, "
    "the first change in two years, to cover higher costs of materials and shipping. Orders placed before "
    "30 June keep today's prices, and your account manager can lock in a 12-month rate for you.\n\n"
    "If you have any questions, just reply to this email.\n\n"
    "Kind regards,\nThe Acme team"
)
DRAFT = DRAFT_TEMPLATE.format(name="Jordan")


# ------------------------------------------------------------------------------------------------ statistics


async def interleaved(
    steps: Mapping[str, Callable[[], Awaitable[float]]], rounds: int, *, warmup: int
) -> dict[str, list[float]]:
    """Each step once per round, in an order rotated every round (so no series always runs after the same
    one), `warmup` rounds first that are not kept; each step returns what it measured."""
    names = list(steps)
    series: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds + warmup):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            value = await steps[name]()
            if i >= warmup:
                series[name].append(value)
    return series


class Timeout(RuntimeError):
    """Something a benchmark waits for (with a deadline) did not happen in time."""


def most_in_window(times: Sequence[float], window: float) -> int:
    """The most of `times` (seconds) within any `window` seconds: what a rate limit over that window sees."""
    ordered = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50, p90, p99, p99.9, mean and max of durations given in seconds, in milliseconds."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 0.5),
        "p90_ms": percentile(ms, 0.9),
        "p99_ms": percentile(ms, 0.99),
        "p999_ms": percentile(ms, 0.999),
        "mean_ms": statistics.fmean(ms),
        "max_ms": max(ms),
        "min_ms": min(ms),
    }


# ------------------------------------------------------------------------------------------------ the machine


def machine_info() -> dict[str, Any]:
    """What the figures were measured on (CPU, cores, Python, redis-server, load), for RESULTS.md."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout.splitlines():
            if line.startswith("Model name:"):
                cpu = line.split(":", 1)[1].strip()
    redis_version = ""
    binary = shutil.which("redis-server")
    if binary:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            redis_version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5).stdout
    return {
        "code": code_info(),
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "arch": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "redis_server": redis_version.strip(),
        "worker_event_loop": os.environ.get("EVENT_LOOP")
        or ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio"),
        "redis_parser": "hiredis" if importlib.util.find_spec("hiredis") else "python",
        "loadavg_at_start": list(os.getloadavg()),
    }


def code_info() -> dict[str, Any]:
    """Which code was measured: the tree, its git commit (if any) and a digest of bot/ and agents/."""
    digest = hashlib.sha1()
    for path in sorted([*REPO.glob("bot/**/*.py"), *REPO.glob("agents/**/*.py")]):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        run = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        commit = run.stdout.strip() if run.returncode == 0 else ""
    marker = REPO / "SNAPSHOT_COMMIT"  # a copy made with `git archive <commit>`
    if not commit and marker.exists():
        commit = marker.read_text().strip() + " (snapshot)"
    dirty = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        status = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "bot", "agents"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        dirty = "uncommitted changes in bot/ or agents/" if status.stdout.strip() else ""
    return {"root": str(REPO), "commit": commit, "bot_agents_sha1": digest.hexdigest()[:12], "dirty": dirty}


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# ------------------------------------------------------------------------------------------------ Slack calls


class CallsSince:
    """The Web API calls the local Slack recorded since this was made: the one way the benchmarks count them.

        since = CallsSince(slack)
        ...  # a run
        since.count()  # Counter by method; since.count(classify) by a script's own kinds
    """

    def __init__(self, slack: SlackStandIn) -> None:
        self._slack = slack
        self._start = len(slack.calls())

    @property
    def calls(self) -> list[RecordedCall]:
        return self._slack.calls()[self._start:]

    def count(self, kind: Callable[[RecordedCall], str] = lambda call: call.method) -> collections.Counter[str]:
        """How many calls of each kind (`kind`: the method, by default)."""
        return collections.Counter(kind(call) for call in self.calls)


def write_json(result: Mapping[str, Any], out: Path | None) -> None:
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))


def worker_env(
    *, api_url: str, redis_url: str, model_config: str | None = None, approval_timeout: str = "10m"
) -> dict[str, str]:
    """A worker's environment, as `tests.conftest.bot_env` builds it."""
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "REDIS_URL": redis_url,
        "APPROVALS_CHANNEL": CARD_CHANNEL,
        "APPROVAL_TIMEOUT": approval_timeout,
        "API_KEY_RATE": "100000",  # the paths are measured, not one key's admission (api_flood.py measures that)
    }
    if model_config:
        env["MODEL_CONFIG"] = model_config
    return env


def stop_redis(server: RedisServer) -> None:
    server.process.terminate()
    server.process.wait(timeout=10)
    shutil.rmtree(server.workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ Slack requests


def sign(body: bytes, *, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Headers Slack sends with an interaction: timestamp and the v0 HMAC-SHA256 signature."""
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click_body(
    approval_id: str, channel: str, ts: str, *, user: str = REVIEWER, action: str = "approval_approve"
) -> bytes:
    """The form body of a `block_actions` payload, shaped like Slack's (and the stand-in's)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "bob", "name": "bob", "team_id": "T0DEV"},
        "api_app_id": "A0DEV",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"1.{int(time.time())}.{uuid.uuid4().hex}",
        "team": {"id": "T0DEV", "domain": "dev-workspace"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "approvals"},
        "message": {"type": "message", "ts": ts, "text": "Approval needed", "user": "U0BOT", "bot_id": "B0BOT"},
        "state": {"values": {}},
        "response_url": "http://127.0.0.1:9/_response/unused",
        "actions": [
            {
                "action_id": action,
                "block_id": "decision",
                "text": {"type": "plain_text", "text": "Approve", "emoji": True},
                "value": approval_id,
                "style": "primary",
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


@dataclass(frozen=True, slots=True)
class ClickResult:
    started: float  # perf_counter when this request started
    done: float  # perf_counter when its HTTP answer had arrived
    status: int  # HTTP status, 0 on a client error
    error: str = ""


async def fire(session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]) -> ClickResult:
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=dict(headers)) as response:
            await response.read()
            return ClickResult(started, time.perf_counter(), response.status)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return ClickResult(started, time.perf_counter(), 0, f"{type(exc).__name__}: {exc}")


async def click_all(
    session: aiohttp.ClientSession, clicks: Sequence[tuple[str, bytes]], *, concurrency: int | None = None
) -> list[ClickResult]:
    """POST every (url, body) signed, all at once (concurrency None) or at most `concurrency` in flight."""
    signed = [(url, body, sign(body)) for url, body in clicks]
    if concurrency is None:
        return list(await asyncio.gather(*(fire(session, *click) for click in signed)))
    semaphore = asyncio.Semaphore(concurrency)

    async def one(url: str, body: bytes, headers: dict[str, str]) -> ClickResult:
        async with semaphore:
            return await fire(session, url, body, headers)

    return list(await asyncio.gather(*(one(*click) for click in signed)))


async def settled_counts(slack: Proc, session: aiohttp.ClientSession, *, quiet: float = 0.3) -> dict[str, int]:
    """The Slack stand-in's (or stub's) calls by method, once no call came for `quiet` seconds (at most 10 s)."""
    counts: dict[str, int] = await slack.call(session, "/counts")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        latest: dict[str, int] = await slack.call(session, "/counts")
        if latest == counts:
            break
        counts = latest
    return counts


# ------------------------------------------------------------------------------------------------ approvals


def new_approval(
    owner: str,
    *,
    approval_id: str | None = None,
    run_id: str = "rbenchmrk",
    proposal: str = DRAFT,
    deadline: float | None = None,
    timeout_seconds: int = 600,
) -> ApprovalRecord:
    """A pending approval as `RunManager.request_approval` builds it."""
    now = time.time()
    return ApprovalRecord(
        id=approval_id or str(uuid.uuid4()),
        run_id=run_id,
        owner=owner,
        requester=REQUESTER,
        origin_channel=ORIGIN_CHANNEL,
        card_channel=CARD_CHANNEL,
        task=TASK,
        proposal=proposal,
        author="assistant",
        created_at=now,
        deadline=now + timeout_seconds if deadline is None else deadline,
        timeout_seconds=timeout_seconds,
    )


async def bench_run(services: Services, *, channel: str = ORIGIN_CHANNEL) -> RunRecord:
    """A running run owned by this worker, with its header posted (in `channel`, the run's channel), for
    `RunManager.request_approval`."""
    header = await services.slack.chat_postMessage(channel=channel, text="benchmark run")
    run = RunRecord(
        id=new_run_id(),
        requester=REQUESTER,
        channel=channel,
        task=TASK,
        status="running",
        owner=services.worker_id,
        header_ts=str(header["ts"]),
        created_at=time.time(),
    )
    limits = inspect.signature(services.store.runs.create).parameters  # newer stores limit active runs
    await services.store.runs.create(run, **{k: 1_000_000 for k in ("max_per_user", "max_per_channel") if k in limits})
    if hasattr(services.runs, "works_on"):  # the worker works on it (else its scan takes a run it lost track of back)
        from bot.runs.run_state import RunState

        services.runs._active[run.id] = RunState(run=run)
    return run


async def realistic_checkpoint() -> tuple[str, str]:
    """(checkpoint, proposal) exactly as the input function makes them for the writer team after one draft.

    Runs `bot.runs.teams.build_team("writer")` with AutoGen's `ReplayChatCompletionClient` answering `DRAFT`;
    the bridge (`make_input_func` with `save_state=team.save_state`) serialises `team.save_state()` and we
    keep the first `ApprovalRequest` it makes.
    """
    from agent_approvals.approver import ApprovalRequest, Decision
    from agent_approvals.integrations.autogen.input_func import make_input_func
    from autogen_agentchat.teams import BaseGroupChat
    from autogen_core import CancellationToken
    from autogen_ext.models.replay import ReplayChatCompletionClient

    from bot.runs.teams import build_team

    seen: list[ApprovalRequest] = []

    class Approve:
        async def request(self, request: ApprovalRequest, cancellation_token: CancellationToken | None) -> Decision:
            seen.append(request)
            return Decision(approval_id=request.approval_id, outcome="approved", decided_by=REVIEWER)

    team: BaseGroupChat | None = None

    async def save_state() -> Mapping[str, Any]:
        assert team is not None
        return await team.save_state()

    client = ReplayChatCompletionClient([DRAFT])
    approver: Any = Approve()  # only `request` is used without an input mode; the protocol grows other hooks
    team = build_team("writer", model_client=client, input_func=make_input_func(approver, save_state=save_state))
    await team.run(task=TASK)
    await client.close()
    request = seen[0]
    assert request.checkpoint is not None
    return request.checkpoint, request.proposal


# ------------------------------------------------------------------------------------------------ the floor


@dataclass
class FloorWaiter:
    """The floor's waiting end: one subscription resolving futures, nothing else."""

    redis_url: str
    channel: str = "floor:worker"
    futures: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        redis = connect(self.redis_url)
        pubsub = redis.pubsub()
        await pubsub.subscribe(self.channel)

        async def listen() -> None:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    future = self.futures.pop(message["data"], None)
                    if future is not None and not future.done():
                        future.set_result(time.perf_counter())

        self._task = asyncio.create_task(listen(), name="floor-waiter")

    def expect(self, key: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.futures[key] = future
        return future

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class FloorServer:
    runner: web.AppRunner
    url: str

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_floor_server(redis_url: str, *, channel: str = "floor:worker") -> FloorServer:
    """The floor's deciding end: a bare aiohttp handler doing one `SET NX` + `PUBLISH`."""
    redis = connect(redis_url)

    async def click(request: web.Request) -> web.Response:
        form = await request.post()
        key = str(form["id"])
        if await redis.set(f"floor:{key}", "approved", nx=True):
            await redis.publish(channel, str(key))
        return web.Response()

    app = web.Application()
    app.router.add_post("/click", click)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return FloorServer(runner=runner, url=f"http://127.0.0.1:{port}/click")


# ------------------------------------------------------------------------------------------------ helper processes


@dataclass
class Proc:
    """A helper process running one role of `procs.py` (`slack`: `slack_proc.py`). Ready when its first stdout
    line (JSON) arrives; stops when its stdin closes."""

    role: str
    process: asyncio.subprocess.Process
    info: dict[str, Any]
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    @classmethod
    async def start(cls, role: str, options: Mapping[str, Any], *, log_dir: Path) -> Proc:
        log_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - setup, not measured
        log = (log_dir / f"{role}-{uuid.uuid4().hex[:6]}.log").open("wb")
        if role == "slack":  # its own light script: what it needs of ours given here
            secrets = {"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN, "card_channel": CARD_CHANNEL}
            argv = [str(Path(__file__).with_name("slack_proc.py")), json.dumps(secrets | dict(options))]
        else:
            argv = [str(Path(__file__).with_name("procs.py")), role, json.dumps(dict(options))]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            cwd=str(REPO),
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        except TimeoutError:
            process.kill()
            raise RuntimeError(f"helper process {role} did not start; see {log.name}") from None
        if not line:
            await process.wait()
            raise RuntimeError(f"helper process {role} exited with {process.returncode}; see {log.name}")
        return cls(role=role, process=process, info=json.loads(line), log=log)

    async def call(self, session: aiohttp.ClientSession, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        """POST (or GET, without payload) to the process's control API; returns the JSON answer."""
        url = str(self.info["control_url"]) + path
        timeout = aiohttp.ClientTimeout(total=600)
        if payload is None:
            async with session.get(url, timeout=timeout) as response:
                response.raise_for_status()
                return await response.json()
        async with session.post(url, json=dict(payload), timeout=timeout) as response:
            if response.status != 200:
                raise RuntimeError(f"{self.role}{path}: HTTP {response.status}: {await response.text()}")
            return await response.json()

    async def stop(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log.close()
