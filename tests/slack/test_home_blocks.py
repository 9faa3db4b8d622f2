"""The App Homes of issue #14 and #16: a reviewer's (what waits for them, paging, recent decisions) and an admin's
(each channel's numbers, live rules with Revoke): valid Block Kit within Slack's limits for any input, untrusted
text inert."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.views import View

from bot.core.allow_rules import Condition, Match, Rule
from bot.core.records import RunRecord
from bot.devslack.blockkit import validate_view
from bot.report import Headline
from bot.slack.blocks import (
    ACTION_APPROVE,
    ACTION_FULL_TEXT,
    ACTION_HOME_BATCH,
    ACTION_HOME_PAGE,
    ACTION_REJECT,
    ACTION_REVISE,
    HOME_PAGE_SIZE,
    HomeContent,
    build_approval_blocks,
    build_home_view,
)
from bot.slack.blocks.home import ChannelPanel, parse_revoke_value, revoke_value
from bot.slack.blocks.rules import ACTION_RULE_REVOKE
from tests.conftest import block_texts
from tests.support.blockkit import EVIL, NOW, approval, assert_inert, assert_valid, elements_of, tool_call


def run(number: int = 0, **changes: Any) -> RunRecord:
    base = RunRecord(
        id=f"rrun{number:04d}",
        requester="U0ALICE",
        channel="C0SALES",
        task="Draft <!here> a memo",
        status="running",
        header_ts="1700000000.123456",
        created_at=NOW - 3600,
    )
    return replace(base, **changes)


def home(**changes: Any) -> dict[str, Any]:
    content = HomeContent(
        user="U0ALICE",
        now=NOW,
        waiting=[approval(0)],
        waiting_total=1,
        page=0,
        runs=[run(0)],
        recent=[],
        workspace_url="https://acme.slack.com/",
    )
    return build_home_view(replace(content, **changes))


def buttons(view: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    return [e for e in elements_of(view) if e.get("action_id") == action_id]


def test_home_with_huge_inputs_stays_valid_and_within_limits() -> None:
    huge = "x<&>*_~`" * 2000
    waiting = [
        tool_call(0, arguments=json.dumps({"body": huge}), task=huge, why=huge, schema_error=huge, triage=huge),
        approval(1, proposal=huge, task=huge, required_approvals=5, votes=",".join(f"U0V{i:03d}" for i in range(40))),
        approval(2, kind="code", proposal="```python\n" + huge + "\n```", task=huge),
        *[approval(n, proposal=huge, task=huge) for n in range(3, 200)],
    ]
    view = home(
        waiting=waiting,
        waiting_total=200,
        page=4,
        runs=[run(n, task=huge * 5, status="waiting") for n in range(30)],
        recent=[approval(n, status="approved", decided_by="U0BOB", decided_at=NOW - n) for n in range(30)],
    )
    assert view["type"] == "home"
    assert_valid(view)
    assert_inert(view)
    assert len([b for b in view["blocks"] if b.get("block_id", "").startswith("home_aaaa")]) == HOME_PAGE_SIZE
    assert "Showing 41–50 of 200, oldest first." in block_texts(view)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
@settings(max_examples=40, deadline=None)
@given(task=st.text(max_size=4000), proposal=st.text(max_size=6000), arguments=st.text(max_size=6000))
def test_home_keeps_any_text_inert(task: str, proposal: str, arguments: str) -> None:
    waiting = [approval(0, task=task, proposal=proposal), tool_call(1, arguments=arguments, task=task, why=proposal)]
    view = home(waiting=waiting, waiting_total=2, runs=[run(0, task=task)])
    assert_valid(view)
    assert_inert(view)


def test_home_item_shows_what_who_where_when_and_the_cards_buttons() -> None:
    view = home(waiting=[tool_call(0, why="risky word: send")], waiting_total=1)
    shown = block_texts(view)
    assert "*Tool call* `send_email` · run `rabcdefg` · asked by <@U0ALICE> in <#C0SALES> 5m ago" in shown
    assert "Email &lt;!channel&gt; about the prices" in shown
    assert "Times out <!date^1700000300^" in shown and "(then rejected)" in shown
    assert "risky word: send" in shown
    actions = next(b for b in view["blocks"] if b.get("block_id") == "home_aaaaaaaa-0000")
    ids = [e["action_id"] for e in actions["elements"]]
    assert ids == [ACTION_APPROVE, ACTION_REJECT, ACTION_REVISE]  # short: no "Full text"
    assert {e["value"] for e in actions["elements"]} == {"aaaaaaaa-0000"}
    assert actions["elements"][0]["style"] == "primary" and actions["elements"][1]["style"] == "danger"
    assert "confirm" not in actions["elements"][1]  # Reject opens the reason modal
    assert not buttons(view, ACTION_HOME_BATCH) and not buttons(view, ACTION_HOME_PAGE)  # one waits, no pages


def test_arguments_on_the_home_stay_in_their_code_block() -> None:
    view = home(waiting=[tool_call(0)], waiting_total=1)
    code = next(b["text"]["text"] for b in view["blocks"] if "*Arguments*" in b.get("text", {}).get("text", ""))
    assert "```" not in code  # each argument under its name; the ``` inside one is broken up, opens no block
    assert "*to*\n&lt;@U0BOB&gt; &lt;!channel&gt;" in code
    assert "&lt;@U0BOB&gt; &lt;!channel&gt;" in code and "&amp;" in code


def test_a_cut_proposal_offers_its_full_text() -> None:
    long = tool_call(0, arguments=json.dumps({"body": "y" * 5000}))
    view = home(waiting=[long], waiting_total=1)
    (full,) = buttons(view, ACTION_FULL_TEXT)
    assert full["value"] == long.id and "… (cut)" in block_texts(view)


def test_no_approve_when_the_arguments_fail_the_schema() -> None:
    broken = tool_call(0, schema_error="to: <!channel> is not an email")
    view = home(waiting=[broken], waiting_total=1)
    assert not buttons(view, ACTION_APPROVE) and buttons(view, ACTION_REJECT) and buttons(view, ACTION_REVISE)
    assert "Approve is not offered" in block_texts(view) and "&lt;!channel&gt;" in block_texts(view)
    assert_inert(view)
    card = [e for b in build_approval_blocks(broken) if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in card] == [ACTION_REJECT, ACTION_REVISE]


def test_the_card_rejects_without_a_confirmation_dialog() -> None:
    card = [e for b in build_approval_blocks(approval()) if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in card] == [ACTION_APPROVE, ACTION_REJECT, ACTION_REVISE]
    assert all("confirm" not in e for e in card)


def test_paging_says_what_is_shown() -> None:
    middle = home(waiting=[approval(n) for n in range(10, 20)], waiting_total=35, page=1)
    assert "Showing 11–20 of 35, oldest first." in block_texts(middle)
    pages = {e["text"]["text"]: e["value"] for e in buttons(middle, ACTION_HOME_PAGE)}
    assert pages == {"← Older": "0", "Newer →": "2"}
    (batch,) = buttons(middle, ACTION_HOME_BATCH)
    assert batch["text"]["text"] == "Decide several…"
    assert_valid(middle)

    last = home(waiting=[approval(n) for n in range(30, 35)], waiting_total=35, page=3)
    assert "Showing 31–35 of 35, oldest first." in block_texts(last)
    assert {e["text"]["text"]: e["value"] for e in buttons(last, ACTION_HOME_PAGE)} == {"← Older": "2"}

    first = home(waiting=[approval(n) for n in range(10)], waiting_total=10, page=0)
    assert "Showing" not in block_texts(first) and not buttons(first, ACTION_HOME_PAGE)

    emptied = home(waiting=[], waiting_total=12, page=5)  # decided meanwhile
    assert "Nothing left on this page: 12 wait for you" in block_texts(emptied)
    assert [e["value"] for e in buttons(emptied, ACTION_HOME_PAGE)] == ["1"]  # back to the last page
    assert_valid(emptied)


def test_empty_home() -> None:
    view = home(waiting=[], waiting_total=0, runs=[], recent=[])
    shown = block_texts(view)
    assert "Nothing waits for you right now." in shown
    assert "You have not started any runs." in shown and "Nothing yet." in shown and "Updated <!date^" in shown
    assert not buttons(view, ACTION_HOME_BATCH)
    assert_valid(view)


def test_runs_link_to_their_header_only_from_checked_parts() -> None:
    shown = block_texts(home(runs=[run(0, task="Draft *it* <!here>\nnow")]))
    assert ":gear: running · `rrun0000` · started <!date^1699996400^" in shown
    assert "<https://acme.slack.com/archives/C0SALES/p1700000000123456|open>" in shown
    assert "Draft *it* &lt;!here&gt; now" in shown  # one line
    for url in ("", "javascript:alert(1)", "https://acme.slack.com/|x", "https://evil>"):
        assert "|open>" not in block_texts(home(workspace_url=url)), url
    assert "|open>" not in block_texts(home(runs=[run(0, header_ts="")]))
    assert "<http://127.0.0.1:8080/archives/" in block_texts(home(workspace_url="http://127.0.0.1:8080"))


def test_recent_decisions() -> None:
    decided = [
        tool_call(0, status="approved", decided_by="U0ALICE", decided_at=NOW - 60),
        approval(1, status="rejected", decided_by="U0ALICE", decided_at=NOW - 30, feedback="<!channel>"),
    ]
    shown = block_texts(home(recent=decided))
    assert "*Tool call* `send_email` · run `rabcdefg`: :white_check_mark: *Approved* by <@U0ALICE>" in shown
    assert "*Message* · run `rabcdefg`: :x: *Rejected* by <@U0ALICE>" in shown
    assert "<!channel>" not in shown


def rule(number: int, channel: str = "C0SALES", **changes: Any) -> Rule:
    base = Rule(
        id=f"R{number}",
        scope="channel",
        channel=channel,
        run="",
        match=Match(tool="send_email", where=(("to", Condition("ends_with", "@example.com")),)),
        created_by="U0ALICE",
        created_at=NOW - 3600 + number,
        expires_at=NOW + 86400,
        uses=3,
    )
    return replace(base, **changes)


NUMBERS = Headline(
    decisions=4,
    approved=2,
    rejected=1,
    revised=0,
    timed_out=1,
    cancelled=0,
    auto_approved=1,
    timeout_rate=0.25,
    p50_ms=6000,
    p90_ms=20000,
    waiting=0,
    busiest="U0BOB",
    busiest_acts=2,
)


def assert_valid_admin_home(view: dict[str, Any]) -> None:
    """`assert_valid`, but Revoke buttons carry a confirmation dialog (within its limits)."""
    bare = copy.deepcopy(view)
    for block in bare["blocks"]:
        accessory = block.get("accessory") or {}
        confirm = accessory.pop("confirm", None)
        if confirm is not None:
            assert accessory["action_id"] == ACTION_RULE_REVOKE
            assert len(confirm["title"]["text"]) <= 100 and len(confirm["text"]["text"]) <= 300
            assert len(confirm["confirm"]["text"]) <= 30 and len(confirm["deny"]["text"]) <= 30
            assert confirm["style"] == "danger"
    assert_valid(bare)
    View(**copy.deepcopy(view)).to_dict()  # the dialogs too
    assert validate_view(view) is None, validate_view(view)
    ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    assert len(ids) == len(set(ids))


def revokes(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [b["accessory"] for b in view["blocks"] if (b.get("accessory") or {}).get("action_id") == ACTION_RULE_REVOKE]


def test_an_admins_home_shows_each_channels_numbers_and_rules_with_revoke() -> None:
    panel = ChannelPanel(channel="C0SALES", numbers=NUMBERS, as_of=NOW - 30, rules=[rule(7), rule(9, uses=1)])
    view = home(channels=[panel], channels_total=1)
    assert_valid_admin_home(view)
    assert_inert(view)
    shown = block_texts(view)
    assert shown.index("Recently decided by you") < shown.index("Your channels") < shown.index("Updated <!date^")
    assert "*<#C0SALES>* · last 7 days, as of <!date^1699999970^" in shown
    assert "• 4 decisions: 2 approved, 1 rejected, 0 revised, 1 timed out, 0 cancelled" in shown
    assert "• Timeout rate: 25% (1 of 4)" in shown and "• Time to decision by people: p50 6.0 s, p90 20 s" in shown
    assert "• Approved automatically by modes and rules: 1" in shown and "• Waiting now: 0" in shown
    assert "• Busiest approver: <@U0BOB> (2 decisions)" in shown and "Live rules: 2" in shown
    assert '*R7* · `send_email` where to ends with "@example.com" · this channel · by <@U0ALICE>' in shown
    assert "· expires <!date^1700086400^" in shown and "· 3 uses" in shown and "· 1 use" in shown
    assert shown.index("*R9*") < shown.index("*R7*")  # the newest first
    assert [b["value"] for b in revokes(view)] == ["C0SALES/R9", "C0SALES/R7"]
    button = revokes(view)[0]
    assert button["text"]["text"] == "Revoke" and button["style"] == "danger"
    assert button["confirm"]["title"]["text"] == "Revoke rule R9?" and button["confirm"]["confirm"]["text"] == "Revoke"
    assert "more" not in shown


def test_numbers_not_cached_yet_show_as_being_computed() -> None:
    panel = ChannelPanel(channel="C0SALES", numbers=None, as_of=NOW, rules=[])
    shown = block_texts(home(channels=[panel], channels_total=1))
    assert "computing the numbers…" in shown and "as of" not in shown and "No live rules." in shown


def test_no_channels_section_for_who_administers_none() -> None:
    assert "Your channels" not in block_texts(home())
    assert not revokes(home())


def test_an_untrusted_match_stays_inert() -> None:
    evil = Match(tool="send_email", where=(("to", Condition("one_of", (EVIL, "<@U0CEO>" * 300))),))
    view = home(channels=[ChannelPanel("C0SALES", NUMBERS, NOW, [rule(1, match=evil)])], channels_total=1)
    assert_valid_admin_home(view)
    assert_inert(view)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_the_worst_case_home_stays_within_100_blocks_and_says_what_is_left_out() -> None:
    huge = "x<&>*_~`" * 2000
    long_match = Match(tool="send_email_" * 6, where=tuple((f"p{i}", Condition("equals", huge)) for i in range(20)))
    panels = [
        ChannelPanel(
            channel=f"C0CH{c:04d}",
            numbers=NUMBERS if c % 2 else None,
            as_of=NOW,
            rules=[rule(r, channel=f"C0CH{c:04d}", match=long_match, uses=10**9) for r in range(1, 60)],
        )
        for c in range(40)
    ]
    for waiting_total, page in ((200, 4), (1, 0), (0, 0)):
        view = home(
            waiting=[tool_call(n, arguments=json.dumps({"body": huge}), task=huge, why=huge) for n in range(200)][
                :waiting_total
            ],
            waiting_total=waiting_total,
            page=page,
            runs=[run(n, task=huge * 5, status="waiting") for n in range(30)],
            recent=[approval(n, status="approved", decided_by="U0BOB", decided_at=NOW - n) for n in range(30)],
            channels=panels[:5],  # as the service gives them: at most 5
            channels_total=40,
        )
        assert len(view["blocks"]) <= 100
        assert_valid_admin_home(view)
        assert_inert(view)
        shown = block_texts(view)
        assert "Your channels" in shown and "(`/agent report` and `/agent rules` in each)" in shown
        assert "more rules (`/agent rules` in <#C0CH0000>)" in shown
        assert view["blocks"][-1]["type"] == "context" and "Updated" in shown
        assert revokes(view)
    few = home(channels=panels[:2], channels_total=2)
    assert "… and 54 more rules (`/agent rules` in <#C0CH0001>)" in block_texts(few)
    assert "more channels" not in block_texts(few) and len(revokes(few)) == 10


def test_revoke_values_are_read_back_and_anything_else_refused() -> None:
    assert parse_revoke_value(revoke_value("C0SALES", "R7")) == ("C0SALES", "R7")
    for bad in (
        "",
        "C0SALES",
        "C0SALES/",
        "/R7",
        "C0SALES/R0",
        "C0SALES/r7",
        "c0sales/R7",
        "C0SALES/R7/x",
        "C0SALES/R7 ",
    ):
        assert parse_revoke_value(bad) is None, bad


def test_a_triage_models_held_approval_reads_so_in_the_home() -> None:
    """#92 item 3: where the Home lists an ask, the triage model's words are there as on its card, as the model's
    (inert): "Approved by the triage model (low risk: ...), final at ..." while its approval is held."""
    said = "Approved by the triage model (low risk: A small refund. <!here>), final at 14:05:30 UTC"
    view = home(waiting=[approval(0, triage=said, triage_hold=NOW + 30)])
    assert_valid(view)
    shown = block_texts(view)
    assert "Approved by the triage model (low risk: A small refund." in shown and "final at 14:05:30 UTC" in shown
    assert "<!here>" not in shown
