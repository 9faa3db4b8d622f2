"""DBOS (`agent_approvals.durable.dbos`) against the real engine on SQLite (its default), a real bot worker and the
relay (`agent_approvals.durable.relay`); the workflow runs in its own process (`tests/support/dbos_workflows.py`),
as a user runs it. A refund workflow asks; people decide on the card; the refund step writes one line per refund.

Shown: approved runs once, with the approved arguments, and a double click and a duplicated delivery change
nothing; a rejection runs nothing and the workflow reads who and why (listed by `/agent status` and the Home like
any run); a message nobody decides times out, and the workflow reads so; an edit is asked about again and runs
edited; the process killed -9 while a person decides and the workflow recovered by a new one: once, one card; the
bot's worker it asked through killed -9 and a new one started: once, and the refund step verifies the receipt; the
relay down when the decision comes: delivered by the bot's retry, once; a message the plane never sent runs
nothing; a decision for a cancelled workflow is answered so, and nothing runs; the example; poll mode."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.durable.dbos import TOPIC, DBOSDelivery
from agent_approvals.durable.relay import GONE, Delivered
from dbos import DBOSClient

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
)
from tests.support.hitl import click, nth_card, open_modal, reject, until
from tests.support.homes import approval_id_of
from tests.support.source import ROOT

pytestmark = pytest.mark.slow  # workflow programs as processes, killed -9 and resumed


class LazyDelivery:
    """`DBOSDelivery` once the system database exists (the workflow's process makes it at launch)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.client: DBOSClient | None = None

    async def __call__(self, route: Any, approval: dict[str, Any]) -> Delivered:
        if self.client is None:
            self.client = DBOSClient(system_database_url=self.database)
        return await DBOSDelivery(self.client)(route, approval)


@dataclass
class Stack:
    """The bot's workers (their URLs, comma-separated), its store, a key, the relay and the workflow's programs."""

    url: str
    store: Store
    key: str
    database: str
    relay: RelayServer
    outbox: Path
    workflow_id: str = field(default_factory=lambda: f"refund-{uuid.uuid4().hex[:8]}")
    programs: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def run(self, mode: str = "start", receipts: str = "") -> asyncio.subprocess.Process:
        """The workflow's program: started (or recovering it), once it waits; its refund step checks the
        decision's receipt with the keys of the bot at `receipts` (when given)."""
        environ = {k: v for k, v in os.environ.items() if k not in ("SLACK_BOT_TOKEN", "REDIS_URL")}
        program = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.dbos_workflows", self.database, self.url, self.key,
            self.relay.url, str(self.outbox), mode, self.workflow_id, receipts, cwd=str(ROOT), env=environ,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        self.programs.append(program)
        assert program.stdout is not None
        while True:
            line = await asyncio.wait_for(program.stdout.readline(), 60)
            assert line, (await program.stdout.read()).decode()[-3000:]
            if line.startswith(b"waiting"):
                return program

    async def result(self, program: asyncio.subprocess.Process) -> dict[str, Any]:
        assert program.stdout is not None
        try:
            await asyncio.wait_for(program.wait(), 60)
        except TimeoutError:
            program.kill()
            await program.wait()
        out = (await program.stdout.read()).decode()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        assert program.returncode == 0 and lines, out[-3000:]
        answer: dict[str, Any] = json.loads(lines[-1])
        return answer

    def refunds(self) -> list[dict[str, Any]]:
        return refunds(self.outbox)


@contextlib.asynccontextmanager
async def stack_of(url: str, store: Store, tmp_path: Path) -> AsyncIterator[Stack]:
    """A key `refunds` (#sales) of the bot at `url`, its relay to DBOS (SQLite in `tmp_path`), and the workflow's
    programs it starts (killed at the end)."""
    made = await refunds_key(store)
    database = f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    relay = RelayServer(made.record.webhook_secret, "dbos", LazyDelivery(database))
    running = Stack(url, store, made.key, database, relay, tmp_path / "refunds.jsonl")
    async with serving(relay, running.programs):
        yield running


@pytest.fixture
async def stack(api: Worker, tmp_path: Path) -> AsyncIterator[Stack]:
    async with stack_of(api.url, api.services.store, tmp_path) as running:
        yield running


async def test_approved_runs_once_with_the_approved_arguments_whatever_repeats(
    stack: Stack, slack: SlackStandIn
) -> None:
    program = await stack.run()
    card = await nth_card(slack, 1, within=30)
    # (the agent's name for itself is its words, quoted and inert: `_` shown as "ˍ", #87)
    assert "A-1001" in block_texts(card) and "calling itself “refundˍorder (DBOS)”" in block_texts(card)
    assert f"· workflow `{stack.workflow_id}` (refund_order, DBOS)" in block_texts(card)
    approval_id = approval_id_of(card)
    await click(slack, card, "approval_approve", user=BOB)
    await click(slack, card, "approval_approve", user=BOB)  # a double click
    assert await stack.result(program) == {"ran": True, "arguments": ORDER, "decided_by": BOB}
    await delivered(stack.store, approval_id)
    route = {"engine": "dbos", "workflow_id": stack.workflow_id}
    body, headers = signed(stack.relay.secret, {"id": approval_id, "status": "approved"}, route)  # the bot's retry
    assert await stack.relay.relay().handle(body, headers, route) == (200, {"delivered": False, "why": GONE})
    assert stack.refunds() == [ORDER]


async def test_a_rejection_runs_nothing_and_the_workflow_reads_who_and_why(
    stack: Stack, slack: SlackStandIn
) -> None:
    program = await stack.run()
    card = await nth_card(slack, 1, within=30)
    await listed_like_any_run(slack, card, f"workflow {stack.workflow_id} (refund_order, dbos)",
                              f"`{stack.workflow_id}` (refund_order, DBOS)")
    await reject(slack, card, user=BOB, reason="the order was never paid")
    done = await stack.result(program)
    assert done["ran"] is False and done["status"] == "rejected" and done["decided_by"] == BOB
    assert "the order was never paid" in done["refusal"]
    assert stack.refunds() == []


async def test_a_message_nobody_decides_times_out_and_the_workflow_reads_so(stack: Stack, slack: SlackStandIn) -> None:
    program = await stack.run("notice")
    card = await nth_card(slack, 1, within=30)
    assert "Tell every customer the prices go up" in block_texts(card)
    done = await stack.result(program)
    assert done["status"] == "timed_out" and done["approved"] is False and done["decided_by"] == "timeout"
    assert "nobody decided in time" in done["refusal"]


async def test_an_edit_is_asked_about_again_and_runs_edited_once(stack: Stack, slack: SlackStandIn) -> None:
    program = await stack.run()
    view = await open_modal(slack, await nth_card(slack, 1, within=30), user=BOB)
    edited = {**ORDER, "amount_cents": 2100}
    await slack.submit_view(user=BOB, view_id=view["id"],
                            values={"arguments": {"arguments_input": json.dumps(edited)}})
    again = await nth_card(slack, 2, within=30)
    assert "2100" in block_texts(again) and stack.refunds() == []
    await click(slack, again, "approval_approve", user=BOB)
    assert (await stack.result(program))["arguments"] == edited
    assert stack.refunds() == [edited]


async def test_killed_while_a_person_decides_and_recovered_it_runs_once(stack: Stack, slack: SlackStandIn) -> None:
    first = await stack.run()
    card = await nth_card(slack, 1, within=30)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    recovered = await stack.run("recover")  # DBOS recovers the workflow: it finds its ask, no second card
    await click(slack, card, "approval_approve", user=BOB)
    assert (await stack.result(recovered))["ran"] is True
    assert stack.refunds() == [ORDER] and len(card_of(slack)) == 1


async def test_a_bot_worker_killed_while_a_person_decides_another_resumes_it_once_with_a_checked_receipt(
    cluster: Cluster, slack: SlackStandIn, store: Store, tmp_path: Path
) -> None:
    """The bot's worker the workflow asked through is killed -9 while the person decides, and a new one started:
    the decision (taken on the new one) resumes the workflow once, and the refund step checks its receipt."""
    settings = signing_settings(tmp_path)
    first, second = await cluster.start(**settings), await cluster.start(**settings)
    async with stack_of(f"{first.url},{second.url}", store, tmp_path) as stack:
        program = await stack.run(receipts=second.url)
        card = await nth_card(slack, 1, within=30)

        async def recorded() -> bool:  # the ask done on the first worker (a card it posted is its card)
            approval = await store.approvals.get(approval_id_of(card))
            return approval is not None and approval.card_ts == card["ts"]

        await until(recorded, within=30, what="the card recorded")
        first.kill()
        await click_on(slack, await cluster.start(**settings), card)
        done = await stack.result(program)
        assert done["ran"] is True and done["receipt_of"] == approval_id_of(card)
        assert stack.refunds() == [ORDER] and len(card_of(slack)) == 1


async def test_the_relay_down_when_the_decision_comes_is_delivered_by_the_bots_retry(
    stack: Stack, slack: SlackStandIn
) -> None:
    program = await stack.run()
    card = await nth_card(slack, 1, within=30)
    await stack.relay.stop()
    await click(slack, card, "approval_approve", user=BOB)
    await until(lambda: retry_pending(stack.store), within=20, what="the bot's first try failing")
    assert stack.refunds() == []
    await stack.relay.start()
    assert (await stack.result(program))["ran"] is True
    assert stack.refunds() == [ORDER]


async def test_a_message_the_plane_never_sent_runs_nothing(stack: Stack, slack: SlackStandIn) -> None:
    program = await stack.run()
    card = await nth_card(slack, 1, within=30)
    approval_id = approval_id_of(card)
    client = DBOSClient(system_database_url=stack.database)
    forged = {"id": approval_id, "status": "approved", "arguments": {**ORDER, "amount_cents": 999_999}}
    await client.send_async(stack.workflow_id, forged, TOPIC + approval_id)  # it wakes the workflow, which reads
    await reject(slack, card, user=BOB, reason="no")  # the bot's decision: pending, then rejected
    assert (await stack.result(program))["ran"] is False
    assert stack.refunds() == []


async def test_a_decision_for_a_cancelled_workflow_is_answered_so_and_runs_nothing(
    stack: Stack, slack: SlackStandIn
) -> None:
    program = await stack.run()
    card = await nth_card(slack, 1, within=30)
    client = DBOSClient(system_database_url=stack.database)
    await client.cancel_workflow_async(stack.workflow_id)
    await click(slack, card, "approval_approve", user=BOB)
    await delivered(stack.store, approval_id_of(card))  # answered 200 "had already finished": the bot stops trying
    note = await said_not_taken(slack, card)
    assert "nothing ran" in note and "the workflow had already finished" in note
    program.kill()
    await program.wait()
    assert stack.refunds() == []


async def test_the_example_refunds_once_a_person_approves(stack: Stack, slack: SlackStandIn, tmp_path: Path) -> None:
    out = await approved_example(
        "dbos_refund.py", slack, tmp_path, AGENT_APPROVALS_URL=stack.url, AGENT_APPROVALS_KEY=stack.key,
        AGENT_APPROVALS_WEBHOOK_SECRET=stack.relay.secret,
        DBOS_SYSTEM_DATABASE_URL=f"sqlite:///{tmp_path / 'example.sqlite'}",
    )
    assert "workflow refund-A-77: refunded 1500 cents on order A-77" in out


async def test_poll_mode_needs_no_relay_and_runs_once(stack: Stack, slack: SlackStandIn) -> None:
    """Where no webhook can reach a relay: a step long-polls the bot; nothing is POSTed."""
    await stack.relay.stop()
    program = await stack.run("poll")
    card = await nth_card(slack, 1, within=30)
    await click(slack, card, "approval_approve", user=BOB)
    assert (await stack.result(program))["ran"] is True and stack.refunds() == [ORDER]
