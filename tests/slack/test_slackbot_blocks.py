"""Slackbot's blocks (bot/slack/blocks/slackbot.py), by the shape of what the builders return: valid for slack_sdk and
the local Slack, within Slackbot's allowed blocks, `tool:` buttons only, untrusted text inert, links https only."""

from __future__ import annotations

import json

from bot.slack.blocks.slackbot import (
    build_outcome_blocks,
    build_outcome_text,
    build_refused_blocks,
    build_waiting_blocks,
)
from tests.support.blockkit import EVIL
from tests.support.slackbot import assert_slackbot_blocks

VIEW = {"id": "a-" + "x" * 24, "status": "pending", "title": EVIL, "tool": "send_email<!channel>",
        "card_url": "https://acme.slack.com/archives/C0APPROVALS/p1700000000000100"}


def live_markup(blocks: list[dict[str, object]]) -> bool:
    text = json.dumps(blocks)
    return "<!channel>" in text or "<https://evil" in text or "<@U0CEO>" in text


def test_waiting_blocks_name_who_decides_link_the_card_and_fetch_the_result() -> None:
    blocks = build_waiting_blocks(VIEW, approvers=("U0BOB", "S0FINANCE"), needed=2)
    assert_slackbot_blocks(blocks)
    text = json.dumps(blocks)
    assert "2 approvals" in text and "<@U0BOB>" in text and "<!subteam^S0FINANCE>" in text
    assert "<https://acme.slack.com/archives/C0APPROVALS/p1700000000000100|its card>" in text
    button = blocks[-1]["elements"][0]
    assert button["action_id"] == "tool:approval_result" and json.loads(button["value"]) == {"approval_id": VIEW["id"]}
    assert not live_markup(blocks)


def test_a_card_link_that_is_not_https_is_left_out() -> None:
    blocks = build_waiting_blocks({**VIEW, "card_url": "http://127.0.0.1:3000/archives/C0A/p1"}, approvers=(),
                                  needed=1)
    assert_slackbot_blocks(blocks)
    assert "http://" not in json.dumps(blocks) and "an approver other than you" in json.dumps(blocks)


def test_outcomes_are_valid_and_inert() -> None:
    rejected = build_outcome_blocks({**VIEW, "status": "rejected", "who": EVIL, "reason": EVIL})
    ran = build_outcome_blocks({**VIEW, "status": "approved"}, result_text=EVIL, ran=True)
    not_yet = build_outcome_blocks({**VIEW, "status": "approved"})
    for blocks in (rejected, ran, not_yet, build_refused_blocks(EVIL)):
        assert_slackbot_blocks(blocks)
        assert not live_markup(blocks)
    assert "was rejected" in json.dumps(rejected) and "Reason" in json.dumps(rejected)
    assert not_yet[-1]["elements"][0]["action_id"] == "tool:approval_result"
    assert "<!channel>" not in build_outcome_text(EVIL)
