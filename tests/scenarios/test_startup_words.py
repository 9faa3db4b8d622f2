"""What `python -m bot` says when it starts (#35): where it listens, once; no Bolt warning; a Redis it cannot reach
named by its URL (password hidden) in one line, and one line when it is back; a REDIS_URL that is not a URL refused
in one line with exit code 2. Real `python -m bot` processes, a real redis-server started late."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.key_files import ensure_keys_file
from bot.core.logs import redis_where
from bot.core.settings import DEFAULT_REDIS_URL
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.conftest import ALICE, bot_env, free_port, reply_text, start_redis
from tests.support.cluster import Cluster, command_on, run_status, run_with_card
from tests.support.hitl import until

pytestmark = pytest.mark.slow  # `python -m bot` as a process

ROOT = Path(__file__).resolve().parents[2]


class Bot:
    """A `python -m bot` process whose standard error goes to a file the test reads."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def said(self) -> str:
        return self.log.read_text(errors="replace")

    def lines(self, words: str) -> list[str]:
        return [line for line in self.said().splitlines() if words in line]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def bots() -> Iterator[list[Bot]]:
    started: list[Bot] = []
    yield started
    for bot in started:
        bot.stop()


def env_of(slack: SlackStandIn, redis_url: str, port: int, model: Path | None = None) -> dict[str, str]:
    """A worker's environment; `model` its MODEL_CONFIG (a deployment configures one: without, it warns at start)."""
    env = {**os.environ, **bot_env(slack=slack, redis_url=redis_url, model_config=model), "PORT": str(port),
           "LOG_LEVEL": "INFO", "HEARTBEAT_SECONDS": "1"}
    if model is None:
        env.pop("MODEL_CONFIG", None), env.pop("OPENAI_API_KEY", None)
    return env


def test_a_redis_url_that_is_not_a_url_is_one_line_and_exit_code_2(slack: SlackStandIn, tmp_path: Path) -> None:
    env = env_of(slack, "notaurl-with-a-secret", free_port())
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [
        "error: REDIS_URL is not a Redis URL: use redis://[:password@]host:6379/0 (or rediss://,"
        " unix:///path/redis.sock, redis+sentinel://, redis+cluster://)"
    ], done.stderr
    assert "secret" not in done.stderr and "Traceback" not in done.stderr


async def test_an_unreachable_redis_is_named_once_then_back_in_one_line(
    slack: SlackStandIn, tmp_path: Path, bots: list[Bot]
) -> None:
    redis_port, port = free_port(), free_port()
    bot = Bot(env_of(slack, f"redis://127.0.0.1:{redis_port}/0", port), tmp_path / "bot.log")
    bots.append(bot)
    down = f"WARNING bot.redis Redis at redis://127.0.0.1:{redis_port}/0 is unreachable (ConnectionError); retrying"
    await until(lambda: bot.lines(down), within=30, what="the unreachable line")
    server = start_redis(port=redis_port, workdir=str(tmp_path))  # the loops have retried meanwhile (0.1, 0.2... s)
    try:
        back = await until(lambda: bot.lines("is reachable again after"), within=60, what="the line saying it is back")
        await until(lambda: bot.lines("listening on"), within=60, what="the listening line")
    finally:
        bot.stop()
        server.process.terminate()
        server.process.wait(timeout=10)
    said = bot.said()
    assert len(bot.lines(down)) == 1 and len(back) == 1, said
    assert back[0].split(" ", 2)[2].startswith(f"INFO bot.redis Redis at redis://127.0.0.1:{redis_port}/0"), said
    assert "resubscribing" not in said and "Traceback" not in said, said


async def test_the_password_in_the_redis_url_is_hidden(slack: SlackStandIn, tmp_path: Path, bots: list[Bot]) -> None:
    redis_port = free_port()
    bot = Bot(env_of(slack, f"redis://:hunter2@127.0.0.1:{redis_port}/0", free_port()), tmp_path / "bot.log")
    bots.append(bot)
    await until(lambda: bot.lines(f"Redis at redis://:***@127.0.0.1:{redis_port}/0 is unreachable"), within=30,
                what="the unreachable line")
    bot.stop()
    assert "hunter2" not in bot.said()


async def test_a_start_says_where_it_listens_once_and_no_bolt_warning(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, bots: list[Bot], model_config: Path
) -> None:
    """A worker configured in full (a signing key too: without one it warns, once, that approvals carry no
    receipt; ADMIN_USERS too: without it, nobody names a channel's first admin; a model too: without one /agent's
    runs answer from the demo model) starts without a single warning."""
    port = free_port()
    keys = tmp_path / "signing-keys.json"
    ensure_keys_file(keys)
    bot = Bot({**env_of(slack, redis_url, port, model_config), "SIGNING_KEYS_FILE": str(keys), "ADMIN_USERS": ALICE},
              tmp_path / "bot.log")
    bots.append(bot)
    line = await until(lambda: bot.lines("listening on"), within=60, what="the listening line")
    assert line[0].endswith(
        f"listening on port {port}: /slack/events (Slack), /api/v1 (Approvals API), /healthz, /livez, /readyz, /metrics"
    ), line
    bot.stop()
    said = bot.said()
    assert len(bot.lines("listening on")) == 1, said
    assert "slack_bolt" not in said and "will be unused" not in said, said
    assert "WARNING" not in said.replace("auth.test failed", ""), said


async def test_a_worker_without_admin_users_warns_once_at_start(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, bots: list[Bot], model_config: Path
) -> None:
    """Outside dev mode (which names its own person), no ADMIN_USERS means no channel can get its first admin."""
    keys = tmp_path / "signing-keys.json"
    ensure_keys_file(keys)
    bot = Bot({**env_of(slack, redis_url, free_port(), model_config), "SIGNING_KEYS_FILE": str(keys)},
              tmp_path / "bot.log")
    bots.append(bot)
    await until(lambda: bot.lines("listening on"), within=60, what="the listening line")
    bot.stop()
    warned = [line for line in bot.lines("WARNING") if "auth.test failed" not in line]
    assert len(warned) == 1 and "ADMIN_USERS is not set" in warned[0], bot.said()


async def test_a_worker_without_a_model_warns_once_at_start_naming_what_to_set(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, bots: list[Bot]
) -> None:
    """Outside dev mode (where the demo model is the point), a worker with neither MODEL_CONFIG nor OPENAI_API_KEY
    says so at start, once: /agent's runs would otherwise answer from the demo model unannounced."""
    keys = tmp_path / "signing-keys.json"
    ensure_keys_file(keys)
    bot = Bot({**env_of(slack, redis_url, free_port()), "SIGNING_KEYS_FILE": str(keys),
               "ADMIN_USERS": ALICE}, tmp_path / "bot.log")
    bots.append(bot)
    await until(lambda: bot.lines("listening on"), within=60, what="the listening line")
    bot.stop()
    warned = [line for line in bot.lines("WARNING") if "auth.test failed" not in line]
    assert len(warned) == 1, bot.said()
    assert "no model is configured" in warned[0] and "MODEL_CONFIG" in warned[0] and "OPENAI_API_KEY" in warned[0]
    assert "/agent" in warned[0] and "demo model" in warned[0], warned


async def test_cancelling_a_run_is_one_line_not_autogen_tracebacks(slack: SlackStandIn, cluster: Cluster) -> None:
    worker = await cluster.start()
    run_id, _ = await run_with_card(slack, worker)
    cancelled = await command_on(slack, worker, f"cancel {run_id}")
    assert f"Cancelled run `{run_id}`" in reply_text(cancelled)
    words = f"run {run_id} cancelled by"
    said = await until(lambda: [line for line in worker.log.read_text().splitlines() if words in line],
                       within=20, what="the line saying the run was cancelled")
    worker.process.send_signal(signal.SIGTERM)  # a graceful stop waits for the run's task: all it logs is in
    await asyncio.to_thread(worker.process.wait, 90)
    log = worker.log.read_text()
    assert len(said) == 1 and said[0].endswith(f"run {run_id} cancelled by U0ALICE (1 pending approval cancelled)"), log
    assert "Traceback" not in log and " ERROR " not in log, log


async def test_a_runs_approval_cancelled_before_its_run_is_the_run_cancelled_in_one_line(
    slack: SlackStandIn, cluster: Cluster, store: Store
) -> None:
    """`/agent cancel` cancels the run's approvals, then its team: the approval's waiter may hear first, and AutoGen
    then raises its input function's `ApprovalCancelled` wrapped in `RuntimeError`s with no cause (CI saw it once
    as "run … failed" and a traceback). Made certain here: the approval alone is cancelled, its run's token never."""
    worker = await cluster.start()
    run_id, _ = await run_with_card(slack, worker)
    [approval] = [a for a in await store.approvals.of_run(run_id) if a.pending]
    cancelled = await store.approvals.decide(approval.id, outcome="cancelled", by=ALICE, feedback="withdrawn")
    assert cancelled.status == "ok"
    await run_status(store, run_id, "cancelled")
    run = await store.runs.get(run_id)
    assert run is not None and run.reason == "withdrawn", run
    worker.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(worker.process.wait, 90)
    log = worker.log.read_text()
    assert "Traceback" not in log and " ERROR " not in log and "failed" not in log, log


def test_with_redis_url_unset_the_default_is_named() -> None:
    """What the worker's "Redis at … is unreachable" line names when REDIS_URL is unset, so it is the default (a
    process test would need nothing to answer on localhost:6379, which a machine may not promise)."""
    assert redis_where(connect(DEFAULT_REDIS_URL)) == "redis://localhost:6379/0 (REDIS_URL's default: is it set?)"
    assert redis_where(connect("redis://:secret@db.internal:6380/2")) == "redis://:***@db.internal:6380/2"


async def test_a_worker_stopped_by_sigterm_says_so_once_and_what_it_left(slack: SlackStandIn, cluster: Cluster) -> None:
    """#87: a worker that stops logs one line saying so, and what it drained (a run waiting on its card, here)."""
    worker = await cluster.start()
    await run_with_card(slack, worker)
    worker.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(worker.process.wait, 90) == 0
    said = [line for line in worker.log.read_text().splitlines() if " stopped in " in line]
    assert len(said) == 1 and "1 run(s) and 1 approval(s) it waited for are left in Redis" in said[0], said
