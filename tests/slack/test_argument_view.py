"""Issue #36: a tool call's arguments each under its own name (text as its lines, long values cut with
*Show all*), and the decided cards' titles in words people say."""

from __future__ import annotations

import json

from bot.core.card_words import decided_title
from bot.slack.blocks import ACTION_FULL_TEXT, build_approval_blocks, build_decided_blocks, build_full_text_modal
from bot.slack.blocks.approval_card import build_outcome_blocks
from bot.slack.blocks.arguments import ARGUMENT_LINES
from tests.support.blockkit import assert_inert, assert_valid, tool_call

EMAIL = {"to": "carol@example.com", "body": "Hello,\nPrices go up in May.\n\nBest,\nBob", "count": 3, "urgent": True}


def card(**changes: object) -> list[dict[str, object]]:
    return build_approval_blocks(tool_call(0, **changes))


def arguments_section(blocks: list[dict[str, object]]) -> str:
    return next(
        str(b["text"]["text"])  # type: ignore[index]
        for b in blocks
        if b["type"] == "section" and str(b.get("text", {}).get("text", "")).startswith("*Arguments*")  # type: ignore[union-attr]
    )


def buttons(blocks: list[dict[str, object]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]  # type: ignore[union-attr]


def test_each_argument_under_its_name_and_text_as_its_lines() -> None:
    blocks = card(arguments=json.dumps(EMAIL))
    assert_valid({"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": blocks})
    text = arguments_section(blocks)
    assert text == (
        "*Arguments*\n*to*\ncarol@example.com\n*body*\n```Hello,\nPrices go up in May.\n\nBest,\nBob```"
        "\n*count*\n`3`\n*urgent*\n`true`"
    )
    assert "\\n" not in text  # no JSON escapes
    assert ACTION_FULL_TEXT not in buttons(blocks)  # shown whole: no "Show all"


def test_long_values_are_cut_and_show_all_opens_the_whole() -> None:
    body = "\n".join(f"line {n} <!channel>" for n in range(40))
    blocks = card(arguments=json.dumps({"to": "carol@example.com", "body": body}))
    text = arguments_section(blocks)
    assert "line 0 &lt;!channel&gt;" in text and f"line {ARGUMENT_LINES}" not in text and "… (cut)" in text
    assert buttons(blocks)[-1] == ACTION_FULL_TEXT
    whole = build_full_text_modal(tool_call(0, arguments=json.dumps({"to": "c@example.com", "body": body})))
    assert_valid(whole)
    assert_inert(whole)
    assert "line 39 &lt;!channel&gt;" in json.dumps(whole)


def test_nested_values_are_indented_json() -> None:
    text = arguments_section(card(arguments=json.dumps({"filter": {"region": "EU", "ids": [1, 2]}})))
    assert '*filter*\n```{\n  "region": "EU",\n  "ids": [\n    1,\n    2\n  ]\n}```' in text


def test_arguments_that_are_not_an_object_stay_code() -> None:
    text = json.dumps(card(arguments="[1, 2]"))
    assert "```[1, 2]```" in text


def test_decided_titles_say_what_happened() -> None:
    decided = {"decided_by": "U0BOB", "decided_at": 1_700_000_042.0}
    assert decided_title(tool_call(0, status="approved", **decided)) == "Tool call approved"
    assert decided_title(tool_call(0, status="rejected", **decided)) == "Tool call rejected"
    assert decided_title(tool_call(0, kind="message", status="revised", **decided)) == "Message sent back for revision"
    assert decided_title(tool_call(0, status="timed_out", timeout_outcome="reject")) == "Timed out: rejected"
    blocks = build_decided_blocks(tool_call(0, kind="message", status="revised", feedback="shorter", **decided))
    assert blocks[0]["text"]["text"] == "Message sent back for revision"
    assert ":pencil2: *Sent back for revision* by <@U0BOB>" in json.dumps(blocks)


def test_a_decided_card_keeps_show_all_when_cut() -> None:
    long = json.dumps({"body": "y" * 5000})
    blocks = build_decided_blocks(tool_call(0, arguments=long, status="approved", decided_by="U0BOB", decided_at=1.0))
    assert buttons(blocks) == [ACTION_FULL_TEXT]


def test_the_outcome_told_to_the_requester() -> None:
    rejected = tool_call(0, status="rejected", decided_by="U0BOB", decided_at=1_700_000_042.0, feedback="<!here> no")
    text, blocks = build_outcome_blocks(rejected)
    assert text.startswith("<@U0ALICE> :x: *Rejected* by <@U0BOB>")  # the requester is mentioned
    assert blocks[1]["elements"][0]["text"] == "*Tool call* `send_email` · run `rabcdefg`"
    assert blocks[2]["text"]["text"] == "*Reason*\n&lt;!here&gt; no"
    own = build_outcome_blocks(tool_call(0, status="approved", decided_by="U0ALICE", decided_at=1.0))[0]
    assert "<@U0ALICE> " not in own  # who decided it themselves is not told
