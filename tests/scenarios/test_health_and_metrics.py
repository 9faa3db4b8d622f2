"""`/healthz` and `/metrics` of a worker (#46): `/healthz` is 200 "degraded", its `surfaces` saying Slack refuses the
bot token (the stand-in refusing `auth.test`: one surface down is not the worker down, #87), never showing the
token; `/metrics` is not for the public: with METRICS_TOKEN it needs the bearer token, without it it answers
loopback only, never a request a proxy forwarded. Real workers over HTTP, the Slack stand-in, a real
redis-server."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import bot
from bot.devslack.model import GRID, OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.server import is_loopback
from tests.conftest import BOT_TOKEN, Worker, bot_env, start_worker

METRICS_TOKEN = "metrics-t0ken-for-the-scraper"
Started = Callable[..., Awaitable[Worker]]


@pytest.fixture
async def workers(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Started]:
    """Start workers with settings of the test's own (stopped at the end)."""
    started: list[Worker] = []

    async def start(**extra: str) -> Worker:
        worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **extra))
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


async def get(url: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status, await response.text(), dict(response.headers)


async def health_of(worker: Worker) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        return response.status, await response.json()


async def test_healthz_says_the_slack_surface_is_down_when_slack_refuses_the_bot_token(
    workers: Started, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    refused_token = "xoxb-not-the-workspace-token-9f8e7d"  # the stand-in's auth.test answers invalid_auth
    worker = await workers(SLACK_BOT_TOKEN=refused_token)
    status, health = await health_of(worker)
    assert status == 200, health  # the Approvals API is served: a load balancer's check keeps the worker
    assert health["status"] == "degraded" and health["slack"] == "token refused (invalid_auth)"
    assert health["surfaces"] == {"slack": "token refused (invalid_auth)", "teams": "not configured"}, health
    assert health["redis"] == "ok"  # the rest is still said
    _, text, _ = await get(worker.url + "/healthz")
    assert refused_token not in text and refused_token not in caplog.text
    assert "Slack refused the bot token: invalid_auth" in caplog.text


async def test_healthz_is_ok_when_slack_accepts_the_token(workers: Started) -> None:
    status, health = await health_of(await workers())
    assert status == 200 and health["status"] == "ok" and health["slack"] == "ok"
    assert BOT_TOKEN not in str(health)


async def test_metrics_without_a_token_answer_loopback_but_not_a_forwarded_request(workers: Started) -> None:
    worker = await workers()
    status, body, _ = await get(worker.url + "/metrics")
    assert status == 200 and "# HELP" in body
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):  # a proxy on this host passes the public on
        status, body, _ = await get(worker.url + "/metrics", **{header: "203.0.113.7"})
        assert status == 403 and "METRICS_TOKEN" in body and "# HELP" not in body, (header, body)


async def test_metrics_with_a_token_need_it(workers: Started) -> None:
    worker = await workers(METRICS_TOKEN=METRICS_TOKEN)
    status, body, headers = await get(worker.url + "/metrics")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer") and "# HELP" not in body
    for wrong in (f"Bearer {METRICS_TOKEN}x", METRICS_TOKEN, f"Basic {METRICS_TOKEN}", "Bearer "):
        status, body, _ = await get(worker.url + "/metrics", Authorization=wrong)
        assert status == 401 and METRICS_TOKEN not in body, wrong
    status, body, _ = await get(worker.url + "/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
    assert status == 200 and "# HELP" in body
    status, body, _ = await get(worker.url + "/metrics", Authorization=f"Bearer {METRICS_TOKEN}",
                                **{"X-Forwarded-For": "203.0.113.7"})
    assert status == 200 and "# HELP" in body  # with the token, from anywhere


def test_loopback_is_only_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.10") and is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")  # IPv4 on an IPv6 socket
    for other in ("10.0.0.1", "192.168.1.2", "203.0.113.7", "::ffff:203.0.113.7", "fe80::1%eth0", "", None, "x"):
        assert not is_loopback(other), other


async def test_healthz_names_the_workspaces_and_those_whose_token_slack_refuses(
    slack: SlackStandIn, workers: Started, tmp_path: Path
) -> None:
    tokens = slack.several_workspaces()  # #65: a second plain workspace, and a Grid organisation installed org-wide
    slack.uninstall(GRID)  # its org token revoked
    listed = tmp_path / "workspaces.json"
    listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": "env:OTHER_TOKEN"},
                                  {"enterprise": GRID, "bot_token": "env:GRID_TOKEN"}]))
    worker = await workers(SLACK_WORKSPACES_FILE=str(listed), OTHER_TOKEN=tokens[OTHER_TEAM], GRID_TOKEN=tokens[GRID])
    status, health = await health_of(worker)
    assert status == 200 and health["status"] == "degraded" and health["slack"] == "ok"
    assert health["workspaces"] == [
        {"id": "T0DEV", "name": "Dev Workspace", "source": "SLACK_BOT_TOKEN", "slack": "ok"},
        {"id": OTHER_TEAM, "name": "Other Workspace", "source": "SLACK_WORKSPACES_FILE", "slack": "ok"},
        {"id": GRID, "name": "", "source": "SLACK_WORKSPACES_FILE", "slack": "token refused (token_revoked)"},
    ]
    assert not any(token in json.dumps(health) for token in tokens.values())


async def test_healthz_is_degraded_not_ok_while_slack_has_not_answered(workers: Started, slack: SlackStandIn) -> None:
    slack.fail(method="auth.test", status=502, count=1000)  # Slack unwell (a 502, not retried): no answer
    status, health = await health_of(await workers())
    assert status == 200, health  # alive and serving Redis: not "down", which is for a refused token
    assert health["status"] == "degraded" and health["slack"] == "not answered yet", health


async def test_every_answer_says_the_workers_version(workers: Started) -> None:
    worker = await workers()
    status, health = await health_of(worker)
    assert status == 200 and health["version"] == bot.__version__, health
    for path in ("/healthz", "/livez", "/readyz", "/metrics", "/api/v1/approvals/nope", "/no-such-page"):
        _, _, headers = await get(worker.url + path)
        assert headers["X-Bot-Version"] == bot.__version__, (path, headers)
    _, body, _ = await get(worker.url + "/metrics")  # a clone: no BUILD_COMMIT file in bot/core/
    assert f'hitl_build_info{{commit="unknown",version="{bot.__version__}"}} 1.0' in body.splitlines(), body
