"""The modals of issue #14 (Reject with a reason, a proposal's full text, deciding several approvals at once): valid
Block Kit within Slack's limits for any input, untrusted text inert, and the confirmation showing exactly what will
be decided."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.slack.blocks import REASON_ACTION, REASON_BLOCK, REJECT_CALLBACK_ID, build_full_text_modal, build_reject_modal
from bot.slack.blocks.batch_modals import (
    BATCH_CALLBACK_ID,
    BATCH_CONFIRM_CALLBACK_ID,
    BATCH_LIMIT,
    BATCH_OUTCOME_BLOCK,
    BATCH_REASON_BLOCK,
    BATCH_SELECT_ACTION,
    BATCH_SELECT_BLOCK,
    build_batch_confirm,
    build_batch_modal,
    build_batch_result,
    fits_in_confirmation,
    left_out_reason,
)
from tests.conftest import block_texts
from tests.support.blockkit import EVIL, NOW, approval, assert_inert, assert_valid, texts_of, tool_call


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
    whole = json.dumps([EVIL + str(n) for n in range(400)], indent=2)  # the argument `body`, under its name
    assert "*body*" in block_texts(view)
    assert "".join(code_sections(view)).replace("\n", "") == whole.replace("\n", "")
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
    chosen = [tool_call(0), approval(1), tool_call(2, schema_error="bad")]
    view = build_batch_modal(chosen, now=NOW, metadata="m", names={"U0ALICE": "alice"})
    texts = [o["text"]["text"] for o in view["blocks"][1]["element"]["options"]]
    assert texts == [  # the tool (or kind), the task's start, who asked (by name where known), the age
        "send_email: Email <!channel> about the prices · alice · 5m ago",
        "message: Email <!channel> about the prices · alice · 5m ago",
        "send_email (reject only): Email <!channel> about the pric… · alice · 5m ago",
    ]  # (plain text: never markup)
    unnamed = build_batch_modal(chosen[:1], now=NOW, metadata="m")
    assert unnamed["blocks"][1]["element"]["options"][0]["text"]["text"].endswith(" · U0ALICE · 5m ago")
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
    text = block_texts(view)
    assert "(cut)" not in text  # every chosen call, whole, each argument under its name
    assert all(f"*to*\nuser{n}@example.com\n*body*" in text for n in range(BATCH_LIMIT))
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
