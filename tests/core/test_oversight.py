"""The pure parts of issue 80's items 2 and 3 (bot/core/oversight.py, bot/core/metrics.py): a card's reading time,
nearest-rank quantiles, the per-person series bounded to the top N and "other", the week's flags; the policy
annotation @require_details; and every Block Kit payload they make valid by slack_sdk."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.core.metrics import Metrics, Oversight, top_people
from bot.core.oversight import (
    Reviewer,
    Timed,
    approval_page_url,
    blocks_words,
    parse_times,
    quantile,
    reading_seconds,
    week_by_channel,
)
from bot.policy.bundle import PolicyError, load_bundle
from bot.slack.blocks import build_approval_blocks
from bot.slack.blocks.decision_modals import build_full_text_modal
from bot.slack.blocks.home import ChannelPanel, HomeContent, build_home_view
from bot.slack.blocks.oversight import build_digest_message
from tests.support.blockkit import EVIL, assert_inert, assert_valid, tool_call
from tests.support.policies import write_bundle


def test_reading_time_is_the_words_at_240_a_minute_with_a_two_second_floor() -> None:
    assert reading_seconds(0) == reading_seconds(7) == 2.0
    assert reading_seconds(240) == 60.0 and reading_seconds(30) == 7.5
    card = build_approval_blocks(tool_call(1))
    words = blocks_words(card)
    assert 10 < words < 200 and "Approve" not in str([b for b in card if b["type"] != "actions"])


def test_quantiles_are_nearest_rank_of_the_decisions() -> None:
    times = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert quantile(times, 0.5) == 3.0 and quantile(times, 0.9) == 100.0 and quantile(times, 0.99) == 100.0
    assert quantile([], 0.5) == 0.0
    assert parse_times(["1.5 U0BOB C0SALES p1,p2", "bad", "x U0A C0"]) == [Timed(1.5, "U0BOB", "C0SALES", ("p1", "p2"))]


def test_top_people_keeps_the_top_n_and_sums_the_rest_as_other() -> None:
    counts = {"U1": 5, "U2": 9, "U3": 1, "U4": 2}
    assert top_people(counts, 2) == {"U2": 9, "U1": 5, "other": 3}
    assert top_people(counts, 10) == counts
    assert top_people({}, 3) == {}


def test_the_metrics_are_bounded_to_the_top_people() -> None:
    metrics = Metrics()
    times = tuple(Timed(float(i), f"U{i % 4}", "C0SALES", ("mail",)) for i in range(40))
    signals = {"fast": {f"U{i}": float(i) for i in range(30)}, "streak": {"U1": 3.0, "U2": 30.0, "U3": 7.0}}
    metrics.oversee(Oversight(signals=signals, times=times), top=2)
    fast = {s.labels["person"]: s.value for m in metrics.fast_approvals.collect() for s in m.samples}
    assert fast == {"U29": 29.0, "U28": 28.0, "other": float(sum(range(28)))}
    streak = {s.labels["person"]: s.value for m in metrics.approval_streak.collect() for s in m.samples}
    assert streak == {"U2": 30.0, "U3": 7.0, "other": 3.0}  # "other": the longest of the rest, not their sum
    ttd = {(s.labels["quantile"], s.labels["scope"], s.labels["name"]): s.value
           for m in metrics.time_to_decide.collect() for s in m.samples}
    assert {name for _, scope, name in ttd if scope == "person"} == {"U0", "U1", "other"}  # (ties by name)
    assert ttd[("0.5", "policy", "mail")] == quantile([float(i) for i in range(40)], 0.5)
    assert ttd[("0.99", "channel", "C0SALES")] == 39.0


def test_a_week_flags_fast_approvals_long_runs_and_unopened_high_risk_ones() -> None:
    raw = {"C0SALES|U0BOB|approvals": "20", "C0SALES|U0BOB|fast": "20", "C0SALES|U0BOB|streak": "20",
           "C0SALES|U0BOB|decisions": "20", "C0SALES|U0ANA|approvals": "4", "C0SALES|U0ANA|overrides": "2",
           "C0SALES|U0ANA|fast": "1", "C0OPS|U0CAT|unopened": "1", "C0OPS|U0CAT|approvals": "1", "junk": "1"}
    week = week_by_channel(raw)
    bob, ana = week["C0SALES"]
    assert bob.person == "U0BOB" and len(bob.flags) == 2 and ana.flags == ()
    assert week["C0OPS"][0].flags == ("1 high-risk call approved without opening the details",)
    assert Reviewer("U1", approvals=10, fast=5).flags == ()  # half is not more than half


def test_require_details_is_a_policy_annotation_of_an_ask(tmp_path: Path) -> None:
    ask = ('@id("read")\n@outcome("ask")\n@require_details("true")\n'
           'forbid (principal, action == Action::"send_email", resource);\n')
    assert load_bundle(write_bundle(tmp_path / "a", {"a.cedar": ask})).policies["read"].require_details
    for bad in (ask.replace('"true"', '"yes"'), ask.replace('@outcome("ask")\n', "")):
        with pytest.raises(PolicyError, match="require_details"):
            load_bundle(write_bundle(tmp_path / str(len(bad)), {"a.cedar": bad}))


def test_every_payload_is_valid_and_inert() -> None:
    approval = replace(tool_call(2), require_details="policy")
    card = {"type": "modal", "title": {"type": "plain_text", "text": "card"}, "blocks": build_approval_blocks(approval)}
    assert_valid(card)
    assert_inert(card)
    assert "Open the details before approving" in str(card) and "approval_details" in str(card)
    modal = build_full_text_modal(approval, page=approval_page_url("https://bot.example.com/", approval.id))
    assert_valid(modal)
    assert f"<https://bot.example.com/approvals/{approval.id}|Open its page>" in str(modal)
    digest = {"at": 1_700_000_000.0, "reviewers": [
        {"person": "U0BOB", "approvals": 20, "fast": 20, "streak": 20, "overrides": 0, "unopened": 0,
         "flags": ["20 of 20 approvals faster than the card's reading time", EVIL]},
        {"person": EVIL, "approvals": 1, "flags": []}]}
    text, blocks = build_digest_message([("C0SALES", digest), ("C0OPS", {"at": 1.0, "reviewers": []})])
    message = {"type": "modal", "title": {"type": "plain_text", "text": "dm"}, "blocks": blocks}
    assert_valid(message)
    assert_inert(message)
    assert text == "Oversight this week: 1 reviewer flagged"
    home = build_home_view(HomeContent(user="U0ALICE", now=1_700_000_000.0, waiting=(), waiting_total=0, page=0,
                                       runs=(), recent=(), channels=[
        ChannelPanel(channel="C0SALES", numbers=None, as_of=1.0, rules=(), digest=digest)], channels_total=1))
    assert_valid(home)
    assert_inert(home)
    assert "Oversight this week" in str(home)
    waiting = build_home_view(HomeContent(user="U0BOB", now=1_700_000_000.0, waiting=(approval,), waiting_total=1,
                                          page=0, runs=(), recent=()))
    assert_valid(waiting)
    assert "approval_details" in str(waiting) and "Open the details before approving" in str(waiting)
