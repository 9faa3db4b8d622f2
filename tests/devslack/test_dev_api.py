"""Dev mode is the agent developer's sandbox (#35): `python -m bot dev` serves the Approvals API on the page's port
(the stand-in's server forwards `/api/v1/*` to the worker), makes a key that may ask in #general and prints the
lines to export; with exactly those, the agent-side client asks, a person approves on the page, and the client
gets the decision. Real parts: the dev subprocess (its own redis-server), or the dev stack in process on the tests'
Redis; the stand-in; the real worker."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_approvals import ApprovalsClient, BadKey

from bot.dev import DEV_KEY_NAME, DevStack
from bot.devslack.server import SlackStandIn
from tests.conftest import free_port
from tests.support.dev import (
    ALICE,
    APPROVALS,
    BOB,
    GENERAL,
    ROOT,
    Dev,
    block_text,
    dev_environment,
    has_button,
    start_dev,
    wait_until,
)

EMAIL = {"to": "bob@example.com", "body": "Prices go up"}


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="test-dev-api-") as name:
        yield Path(name)


def exports(printed: str) -> dict[str, str]:
    """The `export NAME=value` lines dev printed, read as a shell reads them."""
    found: dict[str, str] = {}
    for line in printed.splitlines():
        if line.startswith("export "):
            name, _, value = shlex.split(line)[1].partition("=")
            found[name] = value
    return found


def printed_exports(dev: Dev) -> dict[str, str]:
    wait_until(lambda: "AGENT_APPROVALS_KEY=" in dev.stdout(), what="dev to print its export lines")
    return exports(dev.stdout())


def pending_card(dev: Dev, title: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next(
            (m for m in dev.messages(APPROVALS) if title in block_text(m) and has_button(m, "approval_approve")), None
        )

    return wait_until(found, what=f"the card of {title!r} in #approvals")


# ----------------------------------------------------------------------------------------------- as a person runs it


@pytest.mark.slow
async def test_the_printed_exports_are_enough_for_an_agent_to_get_a_decision(workdir: Path) -> None:
    port = free_port()
    dev = start_dev(port, dev_environment(), workdir)
    try:
        printed = dev.stdout().splitlines()
        assert printed[0] == f"Local Slack: http://localhost:{port}  (Ctrl-C to stop)"  # the pages' origin
        env = printed_exports(dev)
        assert set(env) == {"AGENT_APPROVALS_URL", "AGENT_APPROVALS_KEY", "AGENT_APPROVALS_WEBHOOK_SECRET", "REDIS_URL",
                            "REDIS_KEY_PREFIX"}, printed
        assert env["AGENT_APPROVALS_WEBHOOK_SECRET"].startswith("whsec_")  # for a relay (Temporal, DBOS)
        assert env["AGENT_APPROVALS_URL"] == f"http://127.0.0.1:{port}"
        assert env["AGENT_APPROVALS_KEY"].startswith("aak_")
        assert env["REDIS_URL"].startswith("redis://127.0.0.1:") and env["REDIS_KEY_PREFIX"] == "hitl-dev"
        assert env["AGENT_APPROVALS_KEY"] not in dev.stderr()
        assert env["AGENT_APPROVALS_WEBHOOK_SECRET"] not in dev.stderr()

        # exactly those values: the agent asks, bob approves on the page, the agent's long poll gets the decision
        async with ApprovalsClient(env["AGENT_APPROVALS_URL"], env["AGENT_APPROVALS_KEY"]) as client:
            asked = await client.request_tool("send_email", EMAIL, title="Dev sandbox mail")
            assert asked.pending and asked.card_url.startswith(env["AGENT_APPROVALS_URL"] + "/archives/")
            waiting = asyncio.ensure_future(client.wait(asked.id))
            card = await asyncio.to_thread(pending_card, dev, "Dev sandbox mail")
            click = {"user": BOB, "channel": APPROVALS, "ts": card["ts"], "action_id": "approval_approve"}
            clicked = await asyncio.to_thread(dev.control, "click", click)
            assert clicked["status"] == 200, clicked
            decision = await asyncio.wait_for(waiting, timeout=30)
        assert decision.status == "approved" and decision.approved and decision.decided_by == BOB
        assert decision.arguments == EMAIL

        # the CLI reads the dev data with the printed REDIS_URL and REDIS_KEY_PREFIX
        cli_env = {**dev_environment(), "REDIS_URL": env["REDIS_URL"], "REDIS_KEY_PREFIX": env["REDIS_KEY_PREFIX"]}
        listed = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bot", "keys", "list"], cwd=ROOT, env=cli_env,
            capture_output=True, text=True, timeout=60,
        )
        assert listed.returncode == 0 and f'"name": "{DEV_KEY_NAME}"' in listed.stdout, listed
        assert env["AGENT_APPROVALS_KEY"] not in listed.stdout

        # a key made on the page names the same URL
        said = await asyncio.to_thread(dev.command, "config admins @alice")  # alice is dev's ADMIN_USERS
        assert "is now" in said, said
        made = await asyncio.to_thread(dev.command, "keys create mine #general", user=ALICE, channel=GENERAL)
        assert f"`AGENT_APPROVALS_URL=http://127.0.0.1:{port}`" in made, made
        assert dev.stop() == 0
    finally:
        dev.kill()


@pytest.mark.slow
def test_dev_keeps_your_redis_url_and_does_not_echo_it(workdir: Path, redis_url: str) -> None:
    port = free_port()
    dev = start_dev(port, dev_environment(REDIS_URL=redis_url, REDIS_KEY_PREFIX="mine-dev"), workdir)
    try:
        env = printed_exports(dev)
        assert "REDIS_URL" not in env and env["REDIS_KEY_PREFIX"] == "mine-dev"
        assert redis_url not in dev.stdout()
        assert dev.stop() == 0
    finally:
        dev.kill()


# --------------------------------------------------------------------------------------------------- in process


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_the_page_port_forwards_the_api_unchanged(stack: DevStack) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}", "Idempotency-Key": "job-42"}
    body = {"kind": "tool", "title": "Forwarded", "tool": {"name": "send_email", "arguments": EMAIL}}
    async with aiohttp.ClientSession() as http:
        async with http.get(stack.url + "/api/v1/openapi.json") as answer:
            assert answer.status == 200 and (await answer.json())["openapi"].startswith("3.1")
        async with http.post(stack.url + "/api/v1/approvals", json=body, headers=headers) as answer:
            assert answer.status == 201, await answer.text()
            asked = await answer.json()
        async with http.post(stack.url + "/api/v1/approvals", json=body, headers=headers) as again:
            assert (await again.json())["id"] == asked["id"]  # the Idempotency-Key got through
        # the same answer, byte for byte, on the page's port and at the worker
        path = f"/api/v1/approvals/{asked['id']}"
        async with (
            http.get(stack.url + path, headers=headers) as via,
            http.get(stack.bot_url + path, headers=headers) as direct,
        ):
            assert via.status == direct.status == 200
            assert await via.read() == await direct.read()
            assert via.headers["Content-Type"] == direct.headers["Content-Type"]
        # a long poll is held and answered as the worker answers it
        started = time.monotonic()
        async with http.get(stack.url + path + "?wait=1", headers=headers) as polled:
            assert polled.status == 200 and (await polled.json())["status"] == "pending"
        assert time.monotonic() - started >= 0.9
        # errors pass through as they are
        async with http.get(stack.url + path, headers={"Authorization": "Bearer aak_nope"}) as refused:
            assert refused.status == 401 and "error" in await refused.json()
        async with http.get(stack.url + "/api/v1/nowhere") as missing:
            assert missing.status == 404
        # the worker's own /healthz stays where it is; the stand-in's Web API is untouched
        async with http.get(stack.bot_url + "/healthz") as health:
            assert health.status == 200 and (await health.json())["status"] == "ok"
        async with http.post(stack.standin.api_url + "auth.test", headers={"Authorization": "Bearer nope"}) as slack:
            assert (await slack.json())["ok"] is False


async def test_dev_prints_its_keys_id_the_audience_of_its_receipts(stack: DevStack) -> None:
    said = [line for line in stack.exports() if "audience of its receipts" in line]
    async with aiohttp.ClientSession() as http, http.get(
        stack.url + "/api/v1/key", headers={"Authorization": f"Bearer {stack.api_key}"}
    ) as answer:
        key_id = (await answer.json())["id"]
    assert key_id and said == [f"# its id, the audience of its receipts (verify(..., audience=...) in the tool that"
                               f" runs): {key_id}"]


async def test_a_second_dev_run_on_the_same_redis_replaces_the_dev_key(stack: DevStack, redis_url: str) -> None:
    first = stack.api_key
    await stack.stop()
    second = DevStack(host="127.0.0.1", port=0, environ={"REDIS_URL": redis_url})
    try:
        await second.start()
        assert second.api_key.startswith("aak_") and second.api_key != first
        assert "export REDIS_URL=" not in "\n".join(second.exports())
        async with ApprovalsClient(second.url, first, retry_for=0) as stale:
            with pytest.raises(BadKey):
                await stale.request_tool("send_email", EMAIL, title="Old key")
        async with ApprovalsClient(second.url, second.api_key) as client:
            assert (await client.request_tool("send_email", EMAIL, title="New key")).pending
    finally:
        await second.stop()


async def test_without_a_worker_the_api_path_answers_503(standin: SlackStandIn) -> None:
    async with aiohttp.ClientSession() as http, http.get(standin.base_url + "/api/v1/openapi.json") as answer:
        assert answer.status == 503 and (await answer.json())["error"]["code"] == "unavailable"
