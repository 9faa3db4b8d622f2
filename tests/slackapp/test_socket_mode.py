"""Socket Mode: with `SLACK_APP_TOKEN` set, `python -m bot` connects out (no public URL) and the same
commands and clicks arrive over the WebSocket the stand-in hands out through `apps.connections.open`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.conftest import ALICE, APPROVALS, BOB, SALES, block_texts, bot_env, free_port, has_buttons, reply_text

pytestmark = pytest.mark.slow  # a worker as a process

ROOT = Path(__file__).resolve().parents[2]
APP_TOKEN = "xapp-1-test-app-token"


async def test_python_m_bot_serves_over_socket_mode(
    slack: SlackStandIn, redis_url: str, model_config: Path, tmp_path: Path
) -> None:
    slack.app_token = APP_TOKEN
    port = free_port()
    env = {
        **os.environ,
        **bot_env(slack=slack, redis_url=redis_url, model_config=model_config),
        "SLACK_APP_TOKEN": APP_TOKEN,
        "PORT": str(port),
    }  # on PORT: /healthz, /metrics and the Approvals API (Slack's requests come over the socket)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - instant; we then wait for its connection
            [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    redis = connect(redis_url)
    try:
        await slack.wait_for(lambda: slack.calls("apps.connections.open") and slack._sockets, timeout=30)
        assert all(c.ok for c in slack.calls("apps.connections.open"))
        reply = await slack.send_command(user=ALICE, channel=SALES, text="Draft a note to the team about Friday")
        assert "Started run `" in reply_text(reply)
        run_id = reply_text(reply).split("`")[1]
        card = await slack.wait_for(lambda: next((m for m in slack.messages(APPROVALS) if has_buttons(m)), None))
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        await slack.wait_for(
            lambda: (
                f"*Approved* by <@{BOB}>"
                in block_texts(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"]))
            )
        )
        store = Store(redis)
        for _ in range(1000):  # poll with a deadline (~10 s) for the run to finish
            run = await store.runs.get(run_id)
            if run is not None and run.status == "completed":
                break
            await asyncio.sleep(0.01)
        assert run is not None and run.status == "completed", json.dumps(run.to_redis() if run else None)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/v1/openapi.json") as response:
                assert response.status == 200 and (await response.json())["openapi"] == "3.1.0"
            async with http.post(f"http://127.0.0.1:{port}/api/v1/approvals", json={}) as response:
                assert response.status == 401  # the API is served, and wants a key
            async with http.get(f"http://127.0.0.1:{port}/slack/events") as response:
                assert response.status == 404  # Slack's requests come over the socket only
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, 15)
        await redis.aclose()
    assert code == 0, log.read_text()[-2000:]
