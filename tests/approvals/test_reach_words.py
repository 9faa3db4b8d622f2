"""A route's steps taken (issue 90), said alike on every copy: the Slack card, the Teams card, the e-mail page, each
from the core's words (bot/core/card_words.py); and a parked approval (timeout `never`) says it is parked and who
holds it (its Home, its page and its mail). Pure drawing, no process."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.core.card_words import parked_line, reach_lines
from bot.core.writing import PlainWriting
from bot.email.messages import approval_mail
from bot.links.page import _page
from bot.msteams.cards import approval_card, plain
from bot.slack.blocks.approval_card import build_approval_blocks
from tests.support.records import approval

AT = 1_790_000_000.0  # 2026-09-21 ... UTC
REACHED = json.dumps([
    {"step": 1, "where": "slack", "surface": "slack", "outcome": "sent", "people": ["U0BOB"], "at": AT},
    {"step": 2, "where": "push", "surface": "push", "outcome": "skipped", "people": [], "at": AT + 120},
    {"step": 3, "where": "email", "surface": "email", "outcome": "sent", "people": ["U0BOB"], "at": AT + 600},
    {"step": 4, "where": "oncall:payments", "surface": "slack", "outcome": "unavailable", "people": [],
     "at": AT + 1800, "why": "no on-call provider is configured"},
])
WHEN = "2026-09-21 14:13 UTC"


def test_each_step_taken_is_one_line_of_the_cores_words() -> None:
    lines = reach_lines(replace(approval(), reached=REACHED), PlainWriting({"U0BOB": "Bob"}))
    assert lines == [
        f"Sent in Slack to Bob at {WHEN}",
        "Step 2 (push): push is not configured here, skipped at 2026-09-21 14:15 UTC",
        "Sent by e-mail to Bob at 2026-09-21 14:23 UTC",
        "Step 4 (oncall:payments): unavailable, no on-call provider is configured at 2026-09-21 14:43 UTC",
    ]
    assert reach_lines(approval(), PlainWriting()) == []  # no route: nothing said


def test_every_copy_says_the_steps() -> None:
    record = replace(approval(), reached=REACHED)
    slack = json.dumps(build_approval_blocks(record))
    assert "Sent in Slack to <@U0BOB>" in slack and "Sent by e-mail to <@U0BOB>" in slack
    teams = json.dumps(approval_card(record, names={}, actions=True))
    for words in ("Sent by e-mail to U0BOB", "push is not configured here, skipped"):
        assert json.dumps(plain(words))[1:-1] in teams  # (inert, as every Teams text)
    page = _page(approval=record).text
    assert page is not None and f"Sent in Slack to U0BOB at {WHEN}" in page
    assert "Sent" not in json.dumps(build_approval_blocks(approval()))


def test_a_parked_approval_says_it_is_parked_and_who_holds_it() -> None:
    parked = replace(approval(), deadline=0.0, timeout_seconds=0, approvers=("U0BOB",))
    assert parked_line(parked, PlainWriting({"U0BOB": "Bob"})) == \
        "Never times out: parked, held by Bob until decided"
    assert parked_line(approval(), PlainWriting()) == ""  # it times out: not parked
    page = _page(approval=parked).text
    assert page is not None and "Never times out: parked, held by U0BOB until decided" in page
    mailed = approval_mail(parked, link="https://bot.example.com/email/x/y", names={"U0BOB": "Bob"})
    assert "Never times out: parked, held by Bob until decided" in mailed.text
    assert "Never times out: parked, held by Bob until decided" in mailed.html
    assert "parked" not in approval_mail(approval(), link="https://bot.example.com/email/x/y").text
