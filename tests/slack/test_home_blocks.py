"""The App Home and the modals of issue #14 (Reject with a reason, a proposal's full text, deciding several
approvals at once): valid Block Kit within Slack's limits for any input, untrusted text inert, and the
confirmation showing exactly what will be decided."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.core.allow_rules import Condition, Match, Rule
from bot.core.records import ApprovalRecord, RunRecord
from bot.devslack.blockkit import validate_view
from bot.report import Headline
from bot.slack.blocks import (
    ACTION_APPROVE,
    ACTION_FULL_TEXT,
    ACTION_HOME_BATCH,
    ACTION_HOME_PAGE,
    ACTION_REJECT,
    ACTION_REVISE,
    BATCH_CALLBACK_ID,
    BATCH_CONFIRM_CALLBACK_ID,
    BATCH_LIMIT,
    BATCH_OUTCOME_BLOCK,
    BATCH_REASON_BLOCK,
    BATCH_SELECT_ACTION,
    BATCH_SELECT_BLOCK,
    HOME_PAGE_SIZE,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_CALLBACK_ID,
    HomeContent,
    build_approval_blocks,
    build_batch_confirm,
    build_batch_modal,
    build_batch_result,
    build_full_text_modal,
    build_home_view,
    build_reject_modal,
    fits_in_confirmation,
    left_out_reason,
)
from bot.slack.blocks.home import ChannelPanel, parse_revoke_value, revoke_value
from bot.slack.blocks.rules import ACTION_RULE_REVOKE
from tests.conftest import block_texts

NOW = 1_700_000_000.0
EVIL = "Hi <!channel> <@U0CEO> see <https://evil.example|x> *bold* & `tick` ```"
# Live markup the builders make themselves, from checked ids: mentions, channel links, dates, header links.
OURS = re.compile(
    r"<@U[A-Z0-9]+>|<#C[A-Z0-9]+>|<!date\^\d+\^[^|>]*\|[^>]*>|<https://acme\.slack\.com/archives/[^|>]+\|open>"
)


def approval(number: int = 0, **changes: Any) -> ApprovalRecord:
    base = ApprovalRecord(
        id=f"aaaaaaaa-{number:04d}",
        run_id="rabcdefg",
        owner="w1",
        requester="U0ALICE",
        origin_channel="C0SALES",
        card_channel="C0APPROVALS",
        task="Email <!channel> about the prices",
        proposal=EVIL,
        author="assistant",
        created_at=NOW - 300,
        deadline=NOW + 300,
        timeout_seconds=600,
    )
    return replace(base, **changes)


def tool_call(number: int = 0, arguments: str | None = None, **changes: Any) -> ApprovalRecord:
    shown = arguments if arguments is not None else json.dumps({"to": "<@U0BOB> <!channel>", "body": EVIL}, indent=2)
    return approval(
        number, **{"kind": "tool_call", "tool_name": "send_email", "arguments": shown, "proposal": shown, **changes}
    )


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


# --------------------------------------------------------------------------------------------------- checks


def texts_of(node: Any, key: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every text object under node, with the key it sits under."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(node.get("text"), str):
            return [(key, node)]
        for k, value in node.items():
            found.extend(texts_of(value, k))
    elif isinstance(node, list):
        for value in node:
            found.extend(texts_of(value, key))
    return found


def elements_of(view: dict[str, Any]) -> list[dict[str, Any]]:
    """Every interactive element: in actions blocks, and input elements."""
    blocks = view["blocks"]
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]] + [
        b["element"] for b in blocks if b["type"] == "input"
    ]


def assert_valid(view: dict[str, Any]) -> None:
    """Valid for slack_sdk's models and our own stricter checks, and within Slack's limits."""
    View(**copy.deepcopy(view)).to_dict()  # validates the view and every object under it
    for block in view["blocks"]:
        parsed = Block.parse(copy.deepcopy(block))
        assert parsed is not None
        parsed.to_dict()
    assert validate_view(view) is None, validate_view(view)
    assert 1 <= len(view["blocks"]) <= 100
    for key in ("title", "submit", "close"):
        if key in view:
            assert 1 <= len(view[key]["text"]) <= 24
    for block in view["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    for _, obj in texts_of(view["blocks"]):
        assert 1 <= len(obj["text"]) <= 3000
        if obj["type"] == "mrkdwn":
            assert obj["verbatim"] is True
    for element in elements_of(view):
        if element["type"] == "button":
            assert len(element["text"]["text"]) <= 75 and "confirm" not in element
        options = element.get("options", [])
        assert len(options) <= (100 if element["type"] == "multi_static_select" else 10)
        for option in options:
            assert option["text"]["type"] == "plain_text" and len(option["text"]["text"]) <= 75


def assert_inert(view: dict[str, Any]) -> None:
    """No live markup but our own: no mention, broadcast or link came from untrusted text."""
    for _, obj in texts_of(view["blocks"]):
        if obj["type"] == "mrkdwn":
            rest = OURS.sub("", obj["text"])
            assert "<" not in rest and ">" not in rest, obj["text"]
    dumped = json.dumps(view)
    assert "<!channel>" not in dumped and "<!here>" not in dumped and "<https://evil" not in dumped


def buttons(view: dict[str, Any], action_id: str) -> list[dict[str, Any]]:
    return [e for e in elements_of(view) if e.get("action_id") == action_id]


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def code_sections(view: dict[str, Any]) -> list[str]:
    """The code blocks' contents, as typed (unescaped, the broken-up ``` whole again)."""
    found = []
    for block in view["blocks"]:
        text = block.get("text", {}).get("text", "") if block["type"] == "section" else ""
        if "```" in text:
            inner = text[text.index("```") + 3 : text.rindex("```")]
            found.append(unescape(inner).replace("\u200b", ""))
    return found


# --------------------------------------------------------------------------------------------------- the Home


def test_home_with_huge_inputs_stays_valid_and_within_limits() -> None:
    huge = "x<&>*_~`" * 2000
    waiting = [
        tool_call(0, arguments=json.dumps({"body": huge}), task=huge, why=huge, schema_error=huge),
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
    assert code.count("```") == 2  # the ``` inside the arguments cannot close the block
    assert "*bold*" in code.split("```")[1]  # inside the code block: shown as typed, never bold
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


# --------------------------------------------------------------------------------------------------- Reject, full text


def test_reject_modal_asks_an_optional_reason() -> None:
    view = build_reject_modal(tool_call(0, arguments=json.dumps({"body": EVIL * 100})), metadata="signed")
    assert_valid(view)
    assert_inert(view)
    assert view["callback_id"] == REJECT_CALLBACK_ID and view["private_metadata"] == "signed"
    assert [view[k]["text"] for k in ("title", "submit", "close")] == ["Reject", "Reject", "Cancel"]
    (reason,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert reason["block_id"] == REASON_BLOCK and reason["optional"] is True
    assert reason["element"]["action_id"] == REASON_ACTION and reason["element"]["multiline"] is True
    assert reason["element"]["max_length"] == 3000 and reason["label"]["text"] == "Reason"  # Slack adds "(optional)"
    assert reason["hint"]["text"] == "The agent, the card and the audit log get it."
    shown = block_texts(view)
    assert "`send_email` · run `rabcdefg` · asked by <@U0ALICE> in <#C0SALES>" in shown and "… (cut)" in shown
    assert all(len(obj["text"]) <= 600 for _, obj in texts_of(view["blocks"]))


def test_full_text_modal_shows_long_arguments_whole() -> None:
    arguments = json.dumps({"body": [EVIL + str(n) for n in range(400)]}, indent=2)  # ~30k characters
    view = build_full_text_modal(tool_call(0, arguments=arguments))
    assert_valid(view)
    assert_inert(view)
    assert view["title"]["text"] == "Full proposal" and view["close"]["text"] == "Close" and "submit" not in view
    assert "".join(code_sections(view)).replace("\n", "") == arguments.replace("\n", "")
    assert "Cut here" not in block_texts(view)


def test_full_text_modal_of_a_message_and_of_code() -> None:
    message = EVIL * 500  # ~35k characters
    view = build_full_text_modal(approval(0, proposal=message))
    assert_valid(view)
    assert_inert(view)
    parts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"][
        4:
    ]  # after what, "Task", task, "Proposal"
    assert unescape("".join(parts)) == message

    code = "```python\nprint('<b>')\n```"
    shown = block_texts(build_full_text_modal(approval(0, kind="code", proposal=code)))
    assert "```\nprint('&lt;b&gt;')\n```" in shown  # as the card shows it


def test_full_text_modal_says_where_the_rest_is() -> None:
    view = build_full_text_modal(tool_call(0, arguments="<&>" * 200_000, task="t" * 50_000))
    assert_valid(view)
    assert len(view["blocks"]) == 100
    shown = block_texts(view)
    assert "Cut here: the full text is attached in the card's thread." in shown and "The task is cut here." in shown


# --------------------------------------------------------------------------------------------------- decide several


def test_batch_modal_lists_the_100_oldest_within_option_limits() -> None:
    waiting = [
        tool_call(n, created_at=NOW - 600 - n, tool_name="a_very_long_tool_name_" * 5, requester="<!channel>" * 9)
        for n in range(150)
    ]
    view = build_batch_modal(waiting, now=NOW, metadata="signed")
    assert_valid(view)
    assert view["callback_id"] == BATCH_CALLBACK_ID and view["private_metadata"] == "signed"
    assert [view[k]["text"] for k in ("title", "submit", "close")] == ["Decide several", "Review", "Cancel"]
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    select = inputs[BATCH_SELECT_BLOCK]["element"]
    assert select["type"] == "multi_static_select" and select["action_id"] == BATCH_SELECT_ACTION
    assert select["max_selected_items"] == BATCH_LIMIT == 25 and select["placeholder"]["text"] == "Choose approvals"
    assert [o["value"] for o in select["options"]] == [a.id for a in waiting[:100]]
    assert "150 wait for you: the 100 oldest are listed." in block_texts(view)
    outcome = inputs[BATCH_OUTCOME_BLOCK]["element"]
    assert outcome["type"] == "radio_buttons" and [o["value"] for o in outcome["options"]] == ["approved", "rejected"]
    assert outcome["initial_option"]["value"] == "approved"
    reason = inputs[BATCH_REASON_BLOCK]
    assert reason["optional"] is True and "Only used when you reject" in reason["hint"]["text"]


def test_batch_option_names_the_approval_in_plain_words() -> None:
    view = build_batch_modal([tool_call(0), approval(1), tool_call(2, schema_error="bad")], now=NOW, metadata="m")
    texts = [o["text"]["text"] for o in view["blocks"][1]["element"]["options"]]
    assert texts == [
        "send_email · run rabcdefg · 5m ago · U0ALICE",
        "message · run rabcdefg · 5m ago · U0ALICE",
        "send_email (reject only) · run rabcdefg · 5m ago · U0ALICE",
    ]
    nothing = build_batch_modal([], now=NOW, metadata="m")
    assert "submit" not in nothing and "Nothing waits for you" in block_texts(nothing)
    assert_valid(nothing)


def test_batch_confirmation_shows_every_tool_calls_whole_arguments() -> None:
    chosen = []
    for n in range(BATCH_LIMIT):
        arguments = json.dumps({"to": f"user{n}@example.com", "body": (EVIL + " ``` ") * 25}, indent=2)
        chosen.append(tool_call(n, arguments=arguments))
    assert all(fits_in_confirmation(a) for a in chosen)
    too_long = tool_call(99, arguments=json.dumps({"body": "z" * 5000}))
    assert not fits_in_confirmation(too_long)
    why = left_out_reason(too_long, outcome="approved")
    assert why == "its arguments are too long to show here: decide it on its own"
    view = build_batch_confirm(chosen, outcome="approved", reason="", left_out=[(too_long, why)], metadata="signed")
    assert_valid(view)
    assert_inert(view)
    assert view["callback_id"] == BATCH_CONFIRM_CALLBACK_ID and view["private_metadata"] == "signed"
    assert view["title"]["text"] == "Confirm" and view["submit"]["text"] == "Approve 25"
    shown = code_sections(view)
    assert shown == [a.arguments for a in chosen]  # every chosen call, whole, and nothing else in a code block
    text = block_texts(view)
    assert "Not included, and not decided (1)" in text and "too long to show here: decide it on its own" in text
    assert text.count("`send_email` · run `rabcdefg` · asked by <@U0ALICE> in <#C0SALES>") == BATCH_LIMIT + 1


def test_batch_confirmation_of_a_rejection_shows_the_reason() -> None:
    view = build_batch_confirm(
        [approval(0), approval(1, kind="code", proposal="rm -rf /tmp/x")],
        outcome="rejected",
        reason="wrong <!channel> list",
        left_out=[],
        metadata="m",
    )
    assert_valid(view)
    assert_inert(view)
    assert view["submit"]["text"] == "Reject 2"
    assert "*Reason*\nwrong &lt;!channel&gt; list" in block_texts(view) and "rm -rf /tmp/x" in block_texts(view)
    approving = block_texts(
        build_batch_confirm([approval(0)], outcome="approved", reason="x", left_out=[], metadata="m")
    )
    assert "Reason" not in approving


def test_batch_confirmation_refuses_what_it_cannot_show() -> None:
    with pytest.raises(ValueError, match="too long"):
        build_batch_confirm(
            [tool_call(0, arguments="{" + "z" * 4000)], outcome="approved", reason="", left_out=[], metadata="m"
        )
    broken = tool_call(0, schema_error="bad")
    assert (
        left_out_reason(broken, outcome="approved") is not None and left_out_reason(broken, outcome="rejected") is None
    )
    with pytest.raises(ValueError, match="schema"):
        build_batch_confirm([broken], outcome="approved", reason="", left_out=[], metadata="m")
    with pytest.raises(ValueError, match="at most 25"):
        build_batch_confirm([approval(n) for n in range(26)], outcome="rejected", reason="", left_out=[], metadata="m")
    with pytest.raises(ValueError, match="outcome"):
        build_batch_confirm([approval(0)], outcome="revised", reason="", left_out=[], metadata="m")
    assert fits_in_confirmation(approval(0, proposal="m" * 50_000))  # a message may be cut


def test_batch_confirmation_with_nothing_to_decide_and_many_left_out() -> None:
    left_out = [(tool_call(n), "it no longer waits for you <!channel>") for n in range(1000)]
    view = build_batch_confirm([], outcome="approved", reason="", left_out=left_out, metadata="m")
    assert_valid(view)
    assert_inert(view)
    assert "submit" not in view and "None of the approvals you chose can be decided here." in block_texts(view)
    assert "Not included, and not decided (1,000)" in block_texts(view) and "… and " in block_texts(view)


def test_batch_result_says_what_was_decided_and_what_was_not() -> None:
    decided = [
        tool_call(0, status="approved"),
        tool_call(1, status="approved"),
        approval(2, status="rejected"),
        approval(3, required_approvals=2, votes="U0ALICE"),
    ]
    refused = [("tool call `send_email` in run `rabcdefg`", "already decided <!channel>"), ("<https://evil|x>", "gone")]
    view = build_batch_result(decided, refused)
    assert_valid(view)
    assert_inert(view)
    assert view["title"]["text"] == "Batch decided" and view["close"]["text"] == "Close" and "submit" not in view
    shown = block_texts(view)
    assert "*Approved 2*\n• *Tool call* `send_email` · run `rabcdefg`\n• *Tool call* `send_email`" in shown
    assert "*Rejected 1*\n• *Message* · run `rabcdefg`" in shown
    assert "*Approval counted on 1*" in shown and "*1 of 2 approvals*" in shown
    assert "*Not decided 2*" in shown and "already decided &lt;!channel&gt;" in shown
    many = build_batch_result([tool_call(n, status="approved") for n in range(2000)], [("x", "y")] * 2000)
    assert_valid(many)


# --------------------------------------------------------------------------------------------------- admins' channels


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
