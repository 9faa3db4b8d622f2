"""A triage model's approval held (TRIAGE_HOLD, #92 item 3: "a way for the route's admins to reverse it while the run
waits"): the ask stays pending through the hold, its card saying when the model's approval is final, with a Reverse
button; at the hold's end the model decides it and the program resumes, never before; a channel admin's Reverse
makes it an ordinary approval for people (audited `triage_reversed`, naming them) and the model's decision is
refused after it; anyone else's Reverse is refused, with a clear message and an audit entry naming who. A real worker,
real Redis, the Slack stand-in and a scripted OpenAI-compatible model server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import ACTION_TRIAGE_REVERSE
from tests.conftest import BOB, CAROL, Worker, block_texts
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, buttons, click, current, decided, nth_card, until
from tests.support.openai_compatible import OpenAICompatibleServer
from tests.support.policies import refund
from tests.support.triage import LOW, MODEL, PERMITTED, model_server, triage_worker

pytestmark = pytest.mark.slow  # (a worker and a model server on loopback)

ROUTES = PERMITTED
StartWorker = Callable[[int], Awaitable[Worker]]


@pytest.fixture
async def model() -> AsyncIterator[OpenAICompatibleServer]:
    async with model_server() as server:
        yield server


@pytest.fixture
async def held_worker(slack: SlackStandIn, redis_url: str, tmp_path: Path,
                      model: OpenAICompatibleServer) -> AsyncIterator[StartWorker]:
    started: list[Worker] = []

    async def start(hold: int) -> Worker:
        worker = await triage_worker(slack, redis_url, tmp_path, model, {"refunds.cedar": ROUTES},
                                     TRIAGE_HOLD=str(hold))
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            await worker.stop()


def showing(slack: SlackStandIn, card: dict[str, Any], *, reverse: bool) -> Callable[[], dict[str, Any] | None]:
    """A check: the card as shown now, once it shows Reverse (or no longer does)."""
    def check() -> dict[str, Any] | None:
        shown = current(slack, card)
        return shown if (ACTION_TRIAGE_REVERSE in buttons(shown)) == reverse else None
    return check


async def held_card(slack: SlackStandIn) -> dict[str, Any]:
    """The card once it says the model's approval is held, with its Reverse button."""
    card = await nth_card(slack, 1)
    return dict(await until(showing(slack, card, reverse=True), what="the card held, with Reverse"))


async def test_a_held_approval_is_final_at_the_holds_end_and_the_program_waits_for_it(
        held_worker: StartWorker, model: OpenAICompatibleServer, slack: SlackStandIn) -> None:
    hold = 3
    worker = await held_worker(hold)
    model.add(LOW)
    client = Client(worker, (await new_key(worker)).key)
    asked_at = time.monotonic()
    status, answer = await client.ask(refund(500))
    assert (status, answer["status"]) == (201, "pending"), answer
    card = await held_card(slack)
    said = block_texts(card)
    assert "Approved by the triage model (low risk: A small refund.), final at " in said, said
    assert "unless a channel admin reverses it" in said
    record = await worker.services.store.approvals.get(answer["id"])
    assert record is not None and record.pending and record.triage_hold > time.time(), record
    assert not await audit_events(worker, "decision")  # not decided during the hold: the program waits

    done = await client.wait(answer["id"])
    assert (done["status"], done["decided_by"]) == ("approved", f"model:{MODEL}"), done
    assert time.monotonic() - asked_at >= hold  # never before the hold's end
    decision = (await audit_events(worker, "decision"))[0]
    assert decision["by"] == f"model:{MODEL}", decision
    final = await decided(slack, card)  # drawn decided: no Reverse, no "final at ... unless" any more
    assert f"Approved* by the triage model ({MODEL})" in block_texts(final), final
    assert "unless a channel admin reverses it" not in block_texts(final)
    assert "Approved by the triage model (low risk: A small refund.)" in block_texts(final)
    assert len(await audit_events(worker, "decision")) == 1


async def test_a_channel_admin_reverses_it_and_people_decide_anyone_else_is_refused_and_audited(
        held_worker: StartWorker, model: OpenAICompatibleServer, slack: SlackStandIn) -> None:
    worker = await held_worker(600)  # (a hold longer than the test: only the Reverse ends it)
    model.add(LOW)
    client = Client(worker, (await new_key(worker)).key)
    status, answer = await client.ask(refund(500))
    assert (status, answer["status"]) == (201, "pending"), answer
    card = await held_card(slack)

    # Bob is no admin of the channel: refused, told so, audited naming him; nothing changed
    await click(slack, card, ACTION_TRIAGE_REVERSE, user=BOB)
    told = await until(lambda: [e for e in slack.ephemerals(BOB) if "Only this channel's admins" in e["text"]],
                       what="Bob told he may not reverse it")
    assert "decide it yourself" in told[0]["text"], told
    refused = await until(lambda: audit_events(worker, "refused"), what="Bob's refusal audited")
    assert (refused[0]["by"], refused[0]["action"], refused[0]["approval"]) == (
        BOB, "triage_reverse", answer["id"]), refused
    record = await worker.services.store.approvals.get(answer["id"])
    assert record is not None and record.pending and not record.triage_reversed, record

    # Carol (an admin) reverses it: audited naming her, the card redrawn for people (their buttons, no Reverse)
    await click(slack, card, ACTION_TRIAGE_REVERSE, user=CAROL)
    await until(lambda: [e for e in slack.ephemerals(CAROL) if e["text"].startswith("Reversed")],
                what="Carol told it is reversed")
    [entry] = await audit_events(worker, "triage_reversed")
    assert (entry["by"], entry["approval"]) == (CAROL, answer["id"]), entry
    shown = await until(showing(slack, card, reverse=False), what="the card redrawn without Reverse")
    assert "approval_approve" in buttons(shown) and f"reversed by {CAROL}" in block_texts(shown), shown

    # the model's decision is refused now (the decide step's guard), and people decide
    refused_model = await worker.services.approvals.decisions.decide_as_model(
        MODEL, approval_id=answer["id"], feedback="Approved by the triage model")
    assert refused_model.status == "reversed", refused_model
    record = await worker.services.store.approvals.get(answer["id"])
    assert record is not None and record.pending and record.triage_reversed == CAROL, record
    await click(slack, card, "approval_approve", user=BOB)
    done = await asyncio.wait_for(client.wait(answer["id"]), 20)
    assert (done["status"], done["decided_by"]) == ("approved", BOB), done
    assert [e["by"] for e in await audit_events(worker, "decision")] == [BOB]
