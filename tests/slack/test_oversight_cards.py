"""Service levels and fatigue on the card and the App Home (#80): each state said, valid Block Kit, inert."""

from __future__ import annotations

from dataclasses import replace

from bot.devslack.blockkit import validate_blocks
from bot.slack.blocks import HomeContent, build_approval_blocks, build_home_view
from tests.conftest import block_texts
from tests.support.blockkit import NOW, approval, assert_inert, assert_valid


def test_the_card_and_home_say_within_at_risk_and_breached() -> None:
    said = {"": "Service level 15m: within", "at_risk": "At risk", "breached": "Service level breached"}
    for state, words in said.items():
        record = approval(sla_seconds=900, sla_state=state, approvers=("U0BOB",))
        blocks = build_approval_blocks(record)
        assert validate_blocks(blocks) is None and words in block_texts({"blocks": blocks})
        home = build_home_view(HomeContent(user="U0BOB", now=NOW, waiting=(record,), waiting_total=1, page=0,
                                              runs=(), recent=()))
        assert_valid(home)
        assert_inert(home)
        assert words in block_texts(home)
    assert "Service level" not in block_texts({"blocks": build_approval_blocks(approval())})


def test_the_card_says_who_it_was_sent_to_and_who_was_passed_over() -> None:
    record = approval(approvers=("U0BOB",), fatigue="rerouted:U0ANA=30")
    blocks = build_approval_blocks(record)
    assert validate_blocks(blocks) is None
    assert "Sent to <@U0BOB>: <@U0ANA> has had 30 cards this hour" in block_texts({"blocks": blocks})
    waits = build_approval_blocks(replace(record, fatigue="waiting:U0ANA=30,U0BOB=31"))
    assert validate_blocks(waits) is None
    assert ("Held for the next hour: every approver is over their budget (<@U0ANA> has had 30 cards this hour, <@U0BOB>"
            " has had 31 cards this hour; `max_asks_per_hour`). They will be sent it together at") in (
        block_texts({"blocks": waits}))
    short = build_approval_blocks(replace(record, approvers=("U0ANA", "U0BOB"), required_approvals=2,
                                          fatigue="waiting:U0ANA=30"))
    assert validate_blocks(short) is None
    assert "Held for the next hour: too few approvers are under their budget for its quorum (<@U0ANA> has had 30" in (
        block_texts({"blocks": short}))
