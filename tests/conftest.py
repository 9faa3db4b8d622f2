"""Real parts: a `redis-server` the tests start, the real Bolt app over HTTP with signed requests
(delivered by the local Slack stand-in), and real AutoGen teams with a scripted model loaded
from a component config."""

from __future__ import annotations

import asyncio
import base64
import gc
import importlib
import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis as sync_redis
from aiohttp import web

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from bot.devslack.server import SlackStandIn
    from bot.services import Services
    from bot.store import Store
    from tests.support.cluster import Cluster

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
APPROVALS = "C0APPROVALS"
SALES = "C0SALES"
ALICE, BOB, CAROL = "U0ALICE", "U0BOB", "U0CAROL"

pytest_plugins = ("tests.support.slow", "pytester",  # the `slow` mark, kept true; pytester tests that it is
                  "tests.support.redis_cluster")  # `redis_cluster`: one Redis Cluster per test process, shared
PARTS = ("tests.support.teams",  # the `teams` fixture (the local Teams), as `slack` below
         "tests.support.mail")  # `mail`: the local mail catcher
pytest.register_assert_rewrite(*PARTS)  # (as `pytest_plugins` would: a conftest below may import them first)


def pytest_configure(config: pytest.Config) -> None:
    """The fixtures of the product's parts (`PARTS`), where tests run: not in xdist's controller, which hands them
    out and collects none. It imports no part of the product (this module imports them where a fixture uses them):
    the product's import (about 2 s of CPU) was paid there too, before any test process started."""
    if runs_tests(config):
        for name in PARTS:
            if config.pluginmanager.get_plugin(name) is None:
                config.pluginmanager.register(importlib.import_module(name), name)


def runs_tests(config: pytest.Config) -> bool:
    """Whether this process runs or collects tests: a test process of xdist's, the one process of `-n 0`, or
    `--collect-only`; not xdist's controller."""
    handing_out = getattr(config.option, "dist", "no") != "no" and bool(getattr(config.option, "tx", None))
    return hasattr(config, "workerinput") or not handing_out or bool(config.getoption("collectonly"))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: most of the suite's time goes to tests that wait (on worker processes, kill -9, timeouts, a
    browser) rather than compute, so run twice as many test processes as there are cores, at least 4 and at most 16.
    The fast ones (`-m "not slow"`) wait little since the tests that wait out a timer are slow (over 1 s of the
    clock, tests/support/slow.py): one process more than there are cores, so that a core is not left idle while a
    test waits on the local Slack or Redis, and no more, as each more process collects the loop again (about 6 s of
    CPU) and takes turns on the same cores. On 2 cores, in four rounds of 2, 3 and 4 processes, 3 took about the
    time of 4 on a quarter to a third less CPU (at load 3 to 4: 91 s on 114.5 s, 89 s on 169 s; 2 took 105.6 s):
    docs/contributors/tests.md. `-n 0` runs them one at a time."""
    return test_processes(selects=str(config.getoption("markexpr", "") or ""), cores=os.cpu_count() or 1)


def test_processes(*, selects: str, cores: int) -> int:
    """How many test processes `-n auto` starts for the `-m` expression `selects` on `cores` cores."""
    return min(16, cores + 1) if selects.strip() == "not slow" else min(16, max(4, 2 * cores))


FIRST = ("tests/agents/test_packaging.py",)  # the longest (installs from the package index): started first


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first, so a parallel run does not end waiting on one of them (the same order on every
    test process, as xdist needs)."""
    items.sort(key=lambda item: not item.nodeid.startswith(FIRST))


GC_THRESHOLDS = (50_000, 20, 100)  # a collection every 50,000 new objects (Python's default: 700, 10, 10)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collecting made (the product, its libraries, the test modules: most of a test process's objects) is
    left out of Python's cyclic garbage collection from then on (`gc.freeze`), and a collection waits for more new
    objects (`GC_THRESHOLDS`): the collector walked them all again and again, a sixth of a test process's CPU
    (docs/contributors/tests.md). A test that needs a collection (tests/core/test_logs.py) calls `gc.collect()`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """(xdist) A test process whose tests are over freezes what it holds, so that it ends at once: pytest's check
    for unraisable exceptions collected its garbage five times over after the session (seconds of CPU: the tests'
    garbage since `GC_THRESHOLDS`), when its results were sent and the controller was waiting, then killing it
    after 10 s (xdist's `EXIT_TIMEOUT`): seconds off every parallel run (docs/contributors/tests.md). `-n 0` keeps
    pytest's collections."""
    if hasattr(session.config, "workerinput"):
        gc.freeze()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis(*, port: int | None = None, workdir: str | None = None, appendonly: bool = False,
                binary: str | None = None) -> RedisServer:
    """A real redis-server on loopback (`binary`: that one, else the one on PATH), ready when this returns."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server); .ci/run installs it")
    port = port or free_port()
    workdir = workdir or tempfile.mkdtemp(prefix="redis-test-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, "--save", ""]
    args += ["--appendonly", "yes" if appendonly else "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = sync_redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except sync_redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.02)
    client.close()
    return RedisServer(port=port, process=process, workdir=workdir)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    client = sync_redis.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    return redis_server.url


def replay_config(*completions: str) -> dict[str, Any]:
    """A component config of AutoGen's scripted model client."""
    return {
        "provider": "autogen_ext.models.replay.ReplayChatCompletionClient",
        "config": {"chat_completions": list(completions)},
    }


DRAFTS = ("Draft v1: Dear vendor, please give us 10% off the Q2 order.", "Draft v2: Dear vendor, formally: 10% off?")


@pytest.fixture
def model_config(tmp_path: Path) -> Path:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(replay_config(*DRAFTS, "Draft v3", "Draft v4")))
    return path


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    from bot.devslack.server import SlackStandIn

    standin = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await standin.start()
    yield standin
    await stopped_within(standin.stop(), STOP_WITHIN, what="the Slack stand-in's shutdown")


TEST_SECRETS_KEY = "t1:" + base64.b64encode(bytes(range(32))).decode()


def bot_env(*, slack: SlackStandIn, redis_url: str, model_config: Path | None, **extra: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "REDIS_URL": redis_url,
        "APPROVALS_CHANNEL": APPROVALS,
        "APPROVAL_TIMEOUT": "10m",
        # the bot's pages sign people in with Slack (bot/signin/): the app's client, as the local Slack knows it
        "OIDC_CLIENT_ID": slack.client_id,
        "OIDC_CLIENT_SECRET": slack.client_secret,
        # hidden values (#68) are kept sealed under it (without one they are hidden and not kept)
        "SECRETS_KEY": TEST_SECRETS_KEY,
    }
    if model_config is not None:
        env["MODEL_CONFIG"] = str(model_config)
    env.update(extra)
    return env


@dataclass
class Worker:
    """One bot worker serving HTTP on loopback."""

    url: str
    runner: web.AppRunner
    services: Services

    async def stop(self) -> None:
        """Stop as SIGTERM stops `python -m bot` (in-flight requests get the runner's grace, then the parts
        stop, each bounded). A stop that still hangs fails the test naming what it waits for."""
        await stopped_within(self.runner.cleanup(), STOP_WITHIN, what="the worker's shutdown")


STOP_WITHIN = 90.0  # the runner's 60 s grace for in-flight requests and the parts' bounded stops


async def stopped_within(stopping: Awaitable[None], within: float, *, what: str) -> None:
    try:
        await asyncio.wait_for(stopping, within)
    except TimeoutError:
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.print_stack(limit=8, file=stacks)
        pytest.fail(f"{what} did not end within {within:.0f} s; tasks still running:\n{stacks.getvalue()}")


async def start_worker(env: dict[str, str], *, worker_id: str | None = None) -> Worker:
    from bot.core.settings import Settings
    from bot.root import create_services, create_web_app
    from bot.server import LISTEN_BACKLOG, SERVICES

    settings = Settings.from_env(env)

    services = create_services(settings, worker_id=worker_id)
    app = create_web_app(settings, services=services)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=LISTEN_BACKLOG)  # as `python -m bot`
    await site.start()
    port = runner.addresses[0][1]
    assert app[SERVICES] is services
    return Worker(url=f"http://127.0.0.1:{port}", runner=runner, services=services)


async def name_admins(worker: Worker, *people: str, channel: str = SALES) -> None:
    """`channel`'s admins named as one of ADMIN_USERS names them (`/agent config admins`): nobody claims a
    channel's first admin for themselves."""
    await worker.services.store.settings.set(channel, "admins", ",".join(people), by="operator")


@pytest.fixture
async def worker(slack: SlackStandIn, redis_url: str, model_config: Path) -> AsyncIterator[Worker]:
    bot = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=model_config))
    slack.events_url = bot.url + "/slack/events"
    yield bot
    await bot.stop()


@pytest.fixture
async def emailer(slack: SlackStandIn, redis_url: str) -> AsyncIterator[tuple[Worker, str]]:
    """A worker (no model), and an Approvals API key named `emailer` that may ask in #sales."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    slack.events_url = worker.url + "/slack/events"
    made = await worker.services.store.api_keys.create("emailer", [SALES], by=BOB)
    assert made is not None
    yield worker, made.key
    await worker.stop()


StartPolicyWorker = Callable[..., Coroutine[Any, Any, Worker]]


@pytest.fixture
async def policy_worker(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[StartPolicyWorker]:
    """Start a worker (no model) on the policies `files` ({name: text}) written to a fresh POLICY_DIR."""
    started: list[Worker] = []

    async def start(files: dict[str, str], **env: str) -> Worker:
        folder = tmp_path / f"policies{len(started)}"
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
        worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                            **{"POLICY_DIR": str(folder), **env}))  # (env may name another)
        slack.events_url = worker.url + "/slack/events"
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    """The bot's store, with the workers' SECRETS_KEY (`bot_env`'s) as an operator's tools have it: the webhook
    secrets of the keys it makes are sealed with it."""
    from bot.core.sealing import HiddenKeyring
    from bot.store import Store, connect

    redis = connect(redis_url)
    found = Store(redis)
    found.hidden.use(HiddenKeyring.from_setting(TEST_SECRETS_KEY))
    yield found
    await redis.aclose()


@pytest.fixture
async def api(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    """A worker whose Approvals API may call back to loopback (the tests' webhook receivers)."""
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, API_ALLOW_PRIVATE_CALLBACKS="1")
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


@pytest.fixture
async def cluster(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Workers as `python -m bot` processes on the demo model, whose drafts follow the conversation (so a team
    reloaded on another worker answers as the first one would); all stopped at the end."""
    from tests.support.cluster import DEMO, Cluster

    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    group = Cluster(slack, redis_url, tmp_path, model)
    yield group
    group.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the tests of a module."""
    from tests.support.browser import chromium

    with chromium() as made:
        yield made


def card_of(slack: SlackStandIn, *, pending: bool | None = None) -> list[dict[str, Any]]:
    """Approval cards in #approvals (top-level messages with approval buttons or decided)."""
    cards = [m for m in slack.messages(APPROVALS) if not m.get("thread_ts")]
    if pending is None:
        return cards
    return [m for m in cards if has_buttons(m) == pending]


def has_buttons(message: dict[str, Any]) -> bool:
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


def block_texts(message: dict[str, Any]) -> str:
    """All text of a message's blocks, joined, for assertions."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(parts)


@pytest.fixture
def no_sessions(slack: SlackStandIn) -> SlackStandIn:
    """A workspace without agent sessions (the methods refused): runs keep the header and thread of before, whose
    lines (waiting, decided, result, ended) these tests read."""
    slack.sessions.refused = "not_allowed"
    return slack


def thread_of(slack: SlackStandIn, channel: str, header_ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if m.get("thread_ts") == header_ts and m.get("ts") != header_ts]


def find_header(slack: SlackStandIn, channel: str, run_id: str) -> dict[str, Any] | None:
    for message in slack.messages(channel):
        if not message.get("thread_ts") or message.get("thread_ts") == message.get("ts"):
            if f"`{run_id}`" in block_texts(message):
                return message
    return None


def texts(messages: Sequence[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("text", "")) + "\n" + block_texts(m) for m in messages)


def reply_text(result: Any) -> str:
    """The text of the bot's answer to a delivered command (JSON or plain text body)."""
    if isinstance(result.json, dict) and "text" in result.json:
        return str(result.json["text"])
    return str(result.body)
