"""The probes (#67.2): `GET /livez` answers while the process does; `GET /readyz` is 200 when the worker can serve
(Redis answers within its timeout, the policy bundle loaded, a signing key present where receipts are on) and 503
naming the failing part otherwise; Slack refusing the token or not answering is said, never failing (#87); neither
asks Slack anything, and each answers well inside a one-second probe. Real workers over HTTP, the Slack stand-in, a
real redis-server (one of the test's own, stopped and started again, for the Redis part)."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import probes
from bot.core.key_files import ensure_keys_file
from bot.devslack.server import SlackStandIn
from tests.conftest import Worker, bot_env, start_redis, start_worker
from tests.support.hitl import until

Started = Callable[..., Awaitable[Worker]]
PROBE_TIMEOUT = 1.0  # what a one-second probe allows


@pytest.fixture
async def workers(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Started]:
    """Start workers with settings of the test's own (stopped at the end)."""
    started: list[Worker] = []

    async def start(*, redis: str = redis_url, **extra: str) -> Worker:
        worker = await start_worker(bot_env(slack=slack, redis_url=redis, model_config=None, **extra))
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


async def probe(worker: Worker, path: str) -> tuple[int, dict[str, Any]]:
    """One probe as a kubelet sends it: a GET with a one-second timeout (a slower answer fails the test)."""
    timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(worker.url + path) as response:
        return response.status, await response.json()


async def test_livez_and_readyz_are_200_and_ask_slack_nothing(
    workers: Started, slack: SlackStandIn, tmp_path: Path
) -> None:
    keys = tmp_path / "signing-keys.json"
    ensure_keys_file(keys)
    worker = await workers(SIGNING_KEYS_FILE=str(keys))
    asked = len(slack.calls())
    started = time.monotonic()
    for _ in range(20):
        assert (await probe(worker, "/livez")) == (200, {"status": "alive", "worker": worker.services.worker_id})
        status, ready = await probe(worker, "/readyz")
        assert status == 200, ready
    assert time.monotonic() - started < 20 * PROBE_TIMEOUT
    assert ready["status"] == "ready" and ready["failing"] == [], ready
    assert ready["redis"] == "ok" and ready["workspace"] == "ok", ready
    assert ready["policy"].startswith("ok: bundle ") and ready["signing"].startswith("ok: key "), ready
    assert len(slack.calls()) == asked, slack.calls()[asked:]  # no Slack call, however often it is probed


async def test_readyz_without_signing_keys_says_receipts_are_off(workers: Started) -> None:
    status, ready = await probe(await workers(), "/readyz")
    assert status == 200 and ready["signing"] == "off: no receipts", ready


async def test_readyz_stays_200_saying_the_workspace_when_slack_refuses_the_token(workers: Started) -> None:
    worker = await workers(SLACK_BOT_TOKEN="xoxb-not-the-workspace-token-9f8e7d")  # the stand-in: invalid_auth
    status, ready = await probe(worker, "/readyz")
    assert status == 200 and ready["status"] == "ready", ready  # one surface down is not the worker down (#87)
    assert ready["failing"] == [] and ready["workspace"] == "token refused (invalid_auth)", ready
    assert ready["surfaces"]["slack"] == "token refused (invalid_auth)", ready
    assert "9f8e7d" not in str(ready)
    assert (await probe(worker, "/livez"))[0] == 200  # alive: nothing to restart for


async def test_a_worker_slack_did_not_answer_at_start_is_ready_and_asks_again_itself(
    workers: Started, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ready while its workspace is not known (the Approvals API and Teams serve; Slack is said not answered): it asks
    `auth.test` again itself, and its workspace is known once Slack answers; the probes asked nothing."""
    monkeypatch.setattr(probes, "ASK_AGAIN_SECONDS", 0.3)
    # Slack unreachable behind a gateway: every auth.test fails (a 502, which the client does not retry, so each
    # ask fails at once rather than after the client's own backoff of 500s)
    slack.fail(method="auth.test", status=502, count=1000)
    worker = await workers()
    status, ready = await probe(worker, "/readyz")
    assert status == 200 and ready["failing"] == [], ready
    assert ready["workspace"] == "not known: Slack has not answered auth.test yet", ready
    assert ready["surfaces"]["slack"] == "not answered yet", ready
    slack.reset()  # Slack answers again (faults forgotten)
    asked = len(slack.calls("auth.test"))

    async def known() -> bool:
        status, ready = await probe(worker, "/readyz")
        return status == 200 and ready["workspace"] == "ok"

    await until(known, within=10, what="the workspace known once Slack answers auth.test")
    assert worker.services.api.card_link, "the answer kept as at start (the cards' links of the API's answers)"
    assert len(slack.calls("auth.test")) == asked + 1  # asked once more by the worker, not once per probe


@pytest.mark.slow  # a redis-server of the test's own, stopped and started again
async def test_readyz_is_503_naming_redis_while_it_is_stopped_and_200_after(workers: Started) -> None:
    redis = start_redis()
    try:
        worker = await workers(redis=redis.url, REDIS_TIMEOUT="0.5")
        assert (await probe(worker, "/readyz"))[0] == 200
        redis.process.terminate()
        redis.process.wait(timeout=10)
        status, ready = await probe(worker, "/readyz")
        assert status == 503 and ready["failing"] == ["redis"], ready
        assert ready["redis"].startswith("unreachable"), ready
        assert ready["workspace"] == "ok", ready  # the other parts are still said
        assert (await probe(worker, "/livez"))[0] == 200
        redis = start_redis(port=redis.port, workdir=redis.workdir)

        async def ready_again() -> bool:
            return (await probe(worker, "/readyz"))[0] == 200

        await until(ready_again, within=30, what="/readyz 200 once Redis is back")
    finally:
        redis.process.terminate()
        redis.process.wait(timeout=10)
        shutil.rmtree(redis.workdir, ignore_errors=True)
