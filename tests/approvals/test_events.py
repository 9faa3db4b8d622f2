"""The approval core publishes what happened once, and a new surface listens (issue 78 item 3): a listener subscribed to
a worker's events, as bot/root.py subscribes the cards, the Homes, the runs and the sessions (and as Microsoft Teams
would be), is told that an approval was stored pending, that its card was posted, that it went through the chain and
that it was decided, in that order, without the core calling it; a listener that fails stops no other."""

from __future__ import annotations

import logging

import pytest

from bot.approvals import ApprovalDecided, ApprovalOpened, ApprovalStored, CardPosted, Event
from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import current, nth_card, reject, until


async def test_a_new_surface_subscribes_and_is_told_posted_opened_decided(
    api: Worker, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("a listener that fails")

    api.services.approvals.events.subscribe(broken)
    api.services.approvals.events.subscribe(heard.append)  # a surface of its own: told, never called by name
    made = await new_key(api)
    status, asked = await Client(api, made.key).ask(tool_ask())
    assert status == 201, asked
    card = await nth_card(slack, 1)
    with caplog.at_level(logging.ERROR, logger="bot.approvals.events"):
        await reject(slack, card, user=BOB, reason="not now")
        await until(lambda: any(isinstance(e, ApprovalDecided) for e in heard), what="the decision heard")
    stored, posted, opened, decided = heard  # stored pending before its card is posted (a push goes beside it)
    assert isinstance(stored, ApprovalStored) and stored.approval.pending and not stored.approval.card_ts
    assert isinstance(posted, CardPosted) and isinstance(opened, ApprovalOpened)
    assert isinstance(decided, ApprovalDecided)
    approval_id = str(asked["id"])
    assert stored.approval.id == posted.approval.id == opened.answer.approval_id == decided.approval.id == approval_id
    assert posted.card == opened.answer.card == (APPROVALS, card["ts"])
    assert opened.answer.decided is None and not opened.waits  # a program's ask: it waits on no run's thread
    assert decided.approval.status == "rejected" and decided.approval.decided_by == BOB
    assert not decided.orphaned  # a program's approval: nobody adopts a run for it
    assert "a listener of ApprovalDecided failed" in caplog.text  # said, and the others told all the same
    # the root's own listeners were told too: the card redrawn decided
    await until(lambda: "*Rejected*" in str(current(slack, card)["blocks"]), what="the card redrawn")
