"""bot/policy/replay.py on audit entries written here: a window forgets what is older than its `over`, and where a
candidate has no opinion about what the policies of then decided, the outcome is "none"."""

from __future__ import annotations

import json
from pathlib import Path

from bot.policy.bundle import load_bundle
from bot.policy.decide import Evaluator
from bot.policy.replay import recorded_asks, replay
from tests.support.policies import REFUND_WINDOWS, REFUNDS, write_bundle

DAY = 86400.0


def asked(approval: str, at: float, cents: int, **extra: str) -> dict[str, str]:
    return {"event": "requested", "approval": approval, "at": repr(at), "kind": "tool_call", "tool": "refund",
            "key": "support-bot", "by": "U0ALICE", "origin_channel": "C0SALES",
            "arguments": json.dumps({"amount_cents": cents}), **extra}


def test_a_window_forgets_calls_older_than_its_over_and_a_rejection_gives_the_amount_back(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path, {"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS}))
    entries = [
        asked("a1", 1000.0, 40000),
        asked("a2", 1000.0 + DAY / 2, 20000),  # 40000 + 20000: over the budget, asked; rejected below
        {"event": "decision", "approval": "a2", "at": repr(1000.0 + DAY / 2 + 60), "outcome": "rejected"},
        asked("a3", 1000.0 + DAY / 2 + 120, 10000),  # 40000 + 10000: within
        asked("a4", 1000.0 + DAY + 1, 40000),  # a1 is older than 24 h: 10000 + 40000, within
        asked("a5", 1000.0 + DAY + 2, 1),  # 10000 + 40000 + 1: over
    ]
    result = replay(recorded_asks(reversed(entries)), Evaluator(bundle))
    assert [(row.approval, row.after) for row in result.rows] == [("a1", "allow"), ("a3", "allow"), ("a4", "allow")]
    assert (result.asks, dict(result.before), dict(result.after)) == (5, {"ask": 5}, {"allow": 3, "ask": 2})
    assert replay(recorded_asks(entries), Evaluator(bundle), since=1000.0 + DAY).asks == 2  # a1-a3 fill windows only


def test_what_the_policies_of_then_decided_is_none_under_a_candidate_without_an_opinion(tmp_path: Path) -> None:
    claim = json.dumps({"bundle": "b" * 64, "ids": ["refunds-within-budget"]})
    unaudited = asked("a3", 1002.0, 100)
    del unaudited["arguments"]  # too long to be audited: not replayed
    entries = [{**asked("a1", 1000.0, 100, policy=claim), "event": "auto_approved", "by": "policy"},
               {**asked("a2", 1001.0, 100), "event": "auto_approved", "by": "rule"}, unaudited]
    result = replay(recorded_asks(entries), Evaluator(load_bundle(None)))
    assert [(row.approval, row.before, row.after) for row in result.rows] == [
        ("a1", "allow (policy refunds-within-budget)", "none")]
    assert (result.asks, result.skipped, dict(result.after)) == (2, 1, {"none": 1, "allow": 1})
