"""Traces as an operator sees them: a `python -m bot` worker with `OTEL_EXPORTER_OTLP_ENDPOINT` set sends its spans
over OTLP/HTTP to a receiver of the test's own, which decodes the real payloads (`ExportTraceServiceRequest`,
opentelemetry-proto). An agent's span around the Python client's ask and wait is the root of ONE trace holding the
worker's spans of the request, the decision chain, the card, the wait and the decision (clicked in the local
Slack); no argument value is in any span. A webhook's delivery is a span too. Unset, nothing of the SDK is loaded."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from agent_approvals import ApprovalsClient
from opentelemetry.sdk.trace import TracerProvider

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOB, SALES
from tests.support.cluster import ROOT, Cluster
from tests.support.hitl import click, nth_card, until
from tests.support.otlp import Receiver, receiving

pytestmark = pytest.mark.slow  # workers as processes


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as found:
        yield found

EMAIL = {"to": "bob@example.com", "body": "a-secret-argument-value"}


async def test_one_trace_from_the_agents_span_through_the_decision(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: Receiver
) -> None:
    worker = await cluster.start(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
    slack.events_url = worker.events
    made = await store.api_keys.create("nightly", [SALES], by=BOB)
    assert made is not None
    agent = TracerProvider().get_tracer("the agent")
    with agent.start_as_current_span("agent step") as step:
        async with ApprovalsClient(worker.url, made.key, title="Tell Bob") as client:
            asked = await client.request_tool("send_email", EMAIL)
            waiting = asyncio.create_task(client.wait(asked.id))
            await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
            decided = await asyncio.wait_for(waiting, 30)
    assert decided.status == "approved"
    trace, root = f"{step.get_span_context().trace_id:032x}", f"{step.get_span_context().span_id:016x}"

    def named(name: str) -> list[dict[str, Any]]:
        return [s for s in receiver.spans if s["name"] == name]

    async def sent() -> bool:
        return bool(named("decision") and named("card") and named("decision chain"))

    await until(sent, what="the worker's spans received", within=20)
    ours = [s for s in receiver.spans if s["trace_id"] == trace]
    names = {s["name"] for s in ours}
    assert {"POST /api/v1/approvals", "decision chain", "card", "GET /api/v1/approvals/{id}", "wait",
            "decision"} <= names, receiver.spans
    by_id = {s["span_id"]: s for s in ours}
    for span in ours:  # each span's parents lead to the agent's own span
        parent = span
        while parent["parent"] in by_id:
            parent = by_id[parent["parent"]]
        assert parent["parent"] == root, span
    card = named("card")[0]["attributes"]
    assert card["approval.id"] == asked.id and card["approval.tool"] == "send_email", card
    decision = named("decision")[0]["attributes"]
    assert decision["approval.outcome"] == "approved" and decision["approval.decided_by"] == BOB, decision
    assert not any(b"a-secret-argument-value" in body for body in receiver.raw)


async def test_a_webhooks_delivery_is_a_span(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: Receiver
) -> None:
    worker = await cluster.start(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, API_ALLOW_PRIVATE_CALLBACKS="true")
    slack.events_url = worker.events
    made = await store.api_keys.create("nightly", [SALES], by=BOB)
    assert made is not None
    ask = {"kind": "tool", "title": "Tell Bob", "tool": {"name": "send_email", "arguments": EMAIL},
           "callback_url": receiver.url + "/hook"}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {made.key}"}) as http:
        async with http.post(worker.url + "/api/v1/approvals", json=ask) as response:
            assert response.status == 201, await response.text()
            asked = await response.json()
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)

    async def delivered() -> list[dict[str, Any]]:
        return [s for s in receiver.spans if s["name"] == "webhook"]

    webhook = (await until(delivered, what="the webhook's span", within=20))[0]["attributes"]
    assert webhook["approval.id"] == asked["id"] and webhook["approval.outcome"] == "approved", webhook
    assert webhook["webhook.status"] == "delivered", webhook


def test_unset_nothing_of_the_sdk_is_loaded() -> None:
    """No endpoint: the worker's app is made and a span opened without importing the SDK or the exporter."""
    script = (
        "import sys\n"
        "from bot.core.tracing import span, start_tracing, tracing\n"
        "from bot.root import create_web_app\n"
        "assert start_tracing('') is False and not tracing()\n"
        "with span('x', approval_id='a') as current:\n"
        "    assert current is None\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
