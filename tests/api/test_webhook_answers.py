"""What a webhook's receiver answers: a relay that took the webhook but whose workflow had finished answers 200
`{"delivered": false, "why": ...}`; the card then says, in its thread, that the workflow did not take the decision
and nothing ran (the relay's words shown as inert text), unless the program used the approval after all (it ran:
the answer came from a repeat). The audit entry of the delivery says why either way."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.api.webhooks import not_taken
from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, Worker, block_texts
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import audit_events, click, nth_card, reject, until

WHY = "<!channel> the workflow *had* finished <https://evil.example|click>"


class Relay:
    """A receiver that answers every delivery `{"delivered": false, "why": WHY}` once `go` is set."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.go.set()
        self.received: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.read())["id"])
        await self.go.wait()
        return web.json_response({"delivered": False, "why": WHY})


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    receiver = Relay()
    app = web.Application()
    app.router.add_post("/decisions", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/decisions"
    yield receiver
    await runner.cleanup()


def thread(slack: SlackStandIn, card: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in slack.messages(APPROVALS) if m.get("thread_ts") == card["ts"]]


async def not_taken_entries(api: Worker) -> list[dict[str, str]]:
    return [e for e in await audit_events(api, "webhook_delivered") if "not_taken" in e]


async def test_a_decision_the_workflow_did_not_take_is_said_on_the_card_as_inert_text(
    api: Worker, slack: SlackStandIn, relay: Relay
) -> None:
    client = Client(api, (await new_key(api)).key)
    await client.ask(tool_ask(callback_url=relay.url))
    card = await nth_card(slack, 1)
    await reject(slack, card, user=BOB, reason="no")
    note = await slack.wait_for(lambda: thread(slack, card), timeout=20, description="the note in the card's thread")
    said = json.dumps(note[-1]["blocks"])
    assert "The workflow did not take this decision (rejected): nothing ran." in block_texts(note[-1])
    assert "<!channel>" not in said and "&lt;!channel&gt;" in said and "<https://evil" not in said
    assert [e["not_taken"] for e in await until(lambda: not_taken_entries(api), what="the audit entry")] == [WHY]


async def test_an_approval_the_program_used_is_never_said_not_taken(
    api: Worker, slack: SlackStandIn, relay: Relay
) -> None:
    relay.go.clear()  # the relay answers only after the program used the approval (its answer came from a repeat)
    client = Client(api, (await new_key(api)).key)
    _, asked = await client.ask(tool_ask(callback_url=relay.url))
    card = await nth_card(slack, 1)
    await click(slack, card, "approval_approve", user=BOB)
    await until(lambda: relay.received, what="the webhook sent")
    status, used, _ = await client.call("POST", f"/api/v1/approvals/{asked['id']}/use", body={"token": "program-1"})
    assert status == 200 and used["used"] is True
    relay.go.set()
    await until(lambda: not_taken_entries(api), what="the delivery's audit entry")  # noted after any note
    assert thread(slack, card) == []


@pytest.mark.parametrize("answer, why", [
    (b'{"delivered": false, "why": "gone"}', "gone"),
    (b'{"delivered": false}', ""),
    (b'{"delivered": true}', None),
    (b'{"delivered": "no"}', None),
    (b"ok", None),
    (b"", None),
    (b'["delivered", false]', None),
])
def test_only_a_relays_no_reads_as_not_taken(answer: bytes, why: str | None) -> None:
    assert not_taken(answer) == why


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_receivers_400_is_given_up_at_once_and_a_409_is_tried_again(api: Worker, slack: SlackStandIn) -> None:
    """#63.7: a 400 says the delivery itself is wrong (a relay: misrouted, not an approval, an engine it does not
    know): the same again changes nothing, so it is not tried for a day: one try, `webhook_failed` audited. A 409
    (a relay's workflow has not recorded its ask yet) is tried again."""
    tries: dict[str, int] = {}

    async def answer(request: web.Request) -> web.Response:
        tries[request.path] = tries.get(request.path, 0) + 1
        return web.json_response({"error": "no"}, status=int(request.path.rsplit("/", 1)[1]))

    app = web.Application()
    app.router.add_post("/answer/{status}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/answer"
    try:
        client = Client(api, (await new_key(api)).key)
        _, wrong = await client.ask(tool_ask(callback_url=f"{base}/400"))
        _, later = await client.ask(tool_ask(callback_url=f"{base}/409"))
        for n in (1, 2):
            await click(slack, await nth_card(slack, n), "approval_approve", user=BOB)
        failed = await until(lambda: audit_events(api, "webhook_failed"), within=20, what="the 400 given up")
        assert [(e["approval"], e["tries"]) for e in failed] == [(wrong["id"], "1")], failed
        assert "answered 400" in failed[0]["reason"], failed
        await retried_now(api, later["id"])
        await until(lambda: tries.get("/answer/409", 0) >= 2, within=20, what="the 409 tried again")
        assert tries["/answer/400"] == 1
        assert [e["approval"] for e in await audit_events(api, "webhook_failed")] == [wrong["id"]]
        assert later["id"] != wrong["id"]
    finally:
        await runner.cleanup()


async def retried_now(worker: Worker, approval_id: str) -> None:
    """Once `approval_id`'s webhook is queued to be tried again, as if its backoff (5 s) had passed: due now."""
    store = worker.services.store

    async def queued() -> tuple[int, float] | None:
        tried, first = await store.webhooks.tries(approval_id)
        return (tried, first) if tried else None

    tried, first = await until(queued, what="the webhook queued to be tried again")
    await store.webhooks.retry(approval_id, at=time.time(), tries=tried, first=first)
    worker.services.webhooks.wake()
