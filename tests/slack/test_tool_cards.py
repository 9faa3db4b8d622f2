"""Cards and modals for tool calls and code: exact arguments shown inert and cut to Slack's limits,
no Approve for arguments failing the schema, and the settings of input modes as `/agent config` shows them."""

from __future__ import annotations

import json
from dataclasses import replace

from agent_approvals.approver import encode_revision
from agent_approvals.modes import DEFAULT_RISK_WORDS

from bot.core.records import ApprovalRecord, ChannelSettings
from bot.devslack.blockkit import validate_blocks, validate_view
from bot.slack.blocks import (
    build_approval_blocks,
    build_decided_blocks,
    build_revise_modal,
    config_text,
    show_setting,
)
from bot.slackapp.command_parser import SetConfig, parse_command
from tests.conftest import block_texts


def record(**changes: object) -> ApprovalRecord:
    base = ApprovalRecord(
        id="aaaaaaaa-1111",
        run_id="rabcdefg",
        owner="w1",
        requester="U0ALICE",
        origin_channel="C0SALES",
        card_channel="C0APPROVALS",
        task="Tell bob about prices",
        proposal="{}",
        author="drafter",
        created_at=1_700_000_000.0,
        deadline=1_700_000_600.0,
        timeout_seconds=600,
        kind="tool_call",
        tool_name="send_email",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def actions(blocks: list[dict[str, object]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]  # type: ignore[index,union-attr]


def test_tool_card_shows_exact_arguments_inert() -> None:
    arguments = json.dumps({"to": "<@U0BOB> <!channel>", "body": "``` break out *bold* & <https://evil|x>"}, indent=2)
    blocks = build_approval_blocks(record(arguments=arguments, proposal=arguments))
    assert validate_blocks(blocks) is None
    shown = block_texts({"blocks": blocks})
    assert "<@U0BOB>" not in shown and "<!channel>" not in shown and "<https://evil" not in shown
    assert "&lt;@U0BOB&gt; &lt;!channel&gt;" in shown and "&amp;" in shown
    code = next(b["text"]["text"] for b in blocks if "Arguments" in str(b.get("text", {}).get("text", "")))
    assert "```" not in code and "`\u200b``" in code  # the ``` inside the arguments cannot open a block
    assert actions(blocks) == ["approval_approve", "approve_always", "approval_reject", "approval_revise"]


def test_huge_arguments_are_cut_and_still_valid() -> None:
    arguments = json.dumps({"body": "<&>" * 4000})
    blocks = build_approval_blocks(record(arguments=arguments, proposal=arguments))
    assert validate_blocks(blocks) is None
    shown = block_texts({"blocks": blocks})
    assert "… (cut)" in shown and "full text is attached in this card's thread" in shown


def test_arguments_failing_the_schema_offer_no_approve() -> None:
    blocks = build_approval_blocks(record(arguments='{"to": "x"}', schema_error="to: 'x' does not match '^…$'"))
    assert actions(blocks) == ["approval_reject", "approval_revise"]
    shown = block_texts({"blocks": blocks})
    assert "do not match the tool's schema" in shown and "to: 'x' does not match" in shown
    assert validate_blocks(blocks) is None


def test_code_card_and_decided_edit() -> None:
    code = "```python\nprint('<b>')\n```"
    blocks = build_approval_blocks(record(kind="code", tool_name="", proposal=code, why="runs on the host, 60s"))
    shown = block_texts({"blocks": blocks})
    assert "Code needs approval to run" in shown and "```\nprint('&lt;b&gt;')\n```" in shown
    assert "runs on the host, 60s" in shown and validate_blocks(blocks) is None
    edited = record(status="revised", decided_by="U0BOB", feedback=encode_revision({"to": "c@x.io"}, note="Carol"))
    decided = block_texts({"blocks": build_decided_blocks(edited)})
    assert "*Arguments edited* by <@U0BOB>" in decided and '"to": "c@x.io"' in decided and "Carol" in decided


def test_tool_revise_modal_prefills_the_arguments() -> None:
    arguments = json.dumps({"to": "bob@example.com"}, indent=2)
    view = build_revise_modal(record(arguments=arguments), metadata="m")
    assert validate_view(view) is None
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["arg_0"]["element"]["initial_value"] == "bob@example.com"  # one field per argument
    assert inputs["arg_0"]["label"]["text"] == "to (string)"
    assert inputs["feedback"]["optional"] is True and "reject:" in inputs["feedback"]["hint"]["text"]
    huge = json.dumps({"body": "x" * 3500})
    view = build_revise_modal(record(arguments=huge, proposal=huge), metadata="m")
    assert validate_view(view) is None
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["feedback"]


def test_mode_settings_parse_and_show() -> None:
    assert parse_command("config risk_words Deploy,  drop   table") == SetConfig("risk_words", "deploy,drop table")
    assert parse_command("config risk_words none") == SetConfig("risk_words", "none")
    assert parse_command("config checkpoint_every 0") == SetConfig("checkpoint_every", "0")
    text = config_text("C0SALES", ChannelSettings(timeout=600), default_approvals_channel="C0APPROVALS")
    assert "`mode`: always" in text and "`max_auto_replies`: 10" in text and "`checkpoint_every`: 0 (off)" in text
    assert ", ".join(DEFAULT_RISK_WORDS) + " (the default)" in text
    assert show_setting("risk_words", "none") == "none" and show_setting("risk_words", "a&b") == "a&amp;b"


SEND_EMAIL_SCHEMA = {
    "type": "object",
    "properties": {
        "to": {"type": "string", "format": "email", "description": "Who gets it"},
        "body": {"type": "string"},
        "cc": {"type": "array", "items": {"type": "string"}},
        "priority": {"enum": ["low", "high"]},
    },
    "required": ["to", "body"],
    "additionalProperties": False,
}


def test_the_card_shows_the_tools_parameters_from_its_schema() -> None:
    arguments = json.dumps({"to": "bob@example.com", "body": "hi"})
    approval = record(arguments=arguments, proposal=arguments, arguments_schema=json.dumps(SEND_EMAIL_SCHEMA))
    line = (":jigsaw: *Parameters:* `to` string (email), required: Who gets it · `body` string, required"
            ' · `cc` array of string · `priority` one of "low", "high" · no others')
    decided = replace(approval, status="approved", decided_by="U0BOB", decided_at=1_700_000_042.0)
    for blocks in (build_approval_blocks(approval), build_decided_blocks(decided)):  # copies in DMs: the same
        assert validate_blocks(blocks) is None
        assert {"type": "context", "elements": [{"type": "mrkdwn", "text": line, "verbatim": True}]} in blocks
    assert "Parameters" not in block_texts({"blocks": build_approval_blocks(record(arguments=arguments))})
    listless = record(arguments=arguments, arguments_schema='{"type": "object"}')  # a schema naming none
    assert "Parameters" not in block_texts({"blocks": build_approval_blocks(listless)})


def test_a_huge_schema_is_cut_and_the_card_still_valid() -> None:
    schema = {"type": "object", "properties": {f"field_{i}": {"type": "string", "description": "<&>" * 400}
                                               for i in range(400)}, "required": [f"field_{i}" for i in range(400)]}
    arguments = json.dumps({"field_0": "x" * 2500})
    blocks = build_approval_blocks(record(arguments=arguments, proposal=arguments, arguments_schema=json.dumps(schema)))
    assert validate_blocks(blocks) is None and len(blocks) <= 50
    line = next(b["elements"][0]["text"] for b in blocks if "Parameters" in str(b))
    assert len(line) <= 1500 and "… (cut)" in line and line.endswith(" more") and "&lt;&amp;&gt;" in line


def test_markup_in_a_schema_is_shown_inert() -> None:
    schema = {"type": "object", "required": ["<!here>"], "properties": {
        "<!here>": {"type": "string", "description": "Ping <!channel> <@U0BOB> <https://evil.example|click> @everyone"},
        "x`y": {"type": "string", "format": "<!subteam^S0OPS>", "description": "``` *bold* \n\n`code`"},
    }}
    arguments = json.dumps({"<!here>": "a", "x`y": "b"})
    blocks = build_approval_blocks(record(arguments=arguments, proposal=arguments, arguments_schema=json.dumps(schema)))
    assert validate_blocks(blocks) is None
    element = next(b["elements"][0] for b in blocks if "Parameters" in str(b))
    assert element["verbatim"] is True
    for live in ("<!here>", "<!channel>", "<@U0BOB>", "<https://evil", "<!subteam"):
        assert live not in element["text"]
    assert "`&lt;!here&gt;` string, required: Ping &lt;!channel&gt; &lt;@U0BOB&gt;" in element["text"]
    assert "`x'y` string (&lt;!subteam^S0OPS&gt;): ''' *bold* 'code'" in element["text"]  # no ` to break out with


def test_a_policys_reason_on_the_card_is_inert_and_names_the_policy() -> None:
    reason = "would exceed $500 (spent $350) for <!channel> <https://evil.example|refund> " + "x" * 900
    blocks = build_approval_blocks(record(policy=json.dumps({"bundle": "ab" * 32, "ids": ["refunds-over-budget"]}),
                                          policy_reason=reason))
    assert validate_blocks(blocks) is None
    shown = block_texts({"blocks": blocks})
    assert "Policy refunds-over-budget: would exceed $500 (spent $350)" in shown
    assert "<!channel>" not in shown and "<https://evil" not in shown and "&lt;!channel&gt;" in shown
