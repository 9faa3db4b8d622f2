"""A call's arguments edited one field each (bot/core/field_edits.py), the one way Slack's field form and the Teams
card's Revise form read: a field sent back as prefilled keeps the call's own value exactly (control characters an
input drops included, a hidden value's mask or "hidden: keep"), a value is typed as its kind says, a wrong one is
refused on its field in the Slack field's words, the tool's schema is checked."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from bot.core.field_edits import HIDDEN_KEEP, UNKNOWN_SCHEMA, edited_fields, prefilled
from bot.core.records import ApprovalRecord
from tests.support.records import approval

SCHEMA = {"type": "object", "properties": {"to": {"type": "string"}, "amount": {"type": "integer"},
                                           "note": {"type": "string"}}, "additionalProperties": False}


def call(arguments: dict[str, Any], **changes: Any) -> ApprovalRecord:
    return replace(approval(), kind="tool_call", tool_name="send_refund", arguments=json.dumps(arguments),
                   arguments_schema=json.dumps(SCHEMA), **changes)


def sent(texts: dict[int, str]) -> Any:
    return lambda index: texts.get(index)


def test_a_field_sent_back_as_prefilled_keeps_the_calls_own_value_exactly() -> None:
    note = "line\x07one\u202e"
    arguments = {"to": "a@example.com", "amount": 40, "note": note}
    edit = edited_fields(call(arguments), sent({0: "a@example.com", 1: "40", 2: prefilled(note)}))
    assert (edit.arguments, edit.changed, edit.errors) == (arguments, False, {})


def test_a_hidden_value_left_as_its_mask_or_hidden_keep_is_kept() -> None:
    record = call({"to": "[hidden: email]", "amount": 40}, hidden=json.dumps([{"path": "to", "shown": "email"}]))
    for left in ("[hidden: email]", HIDDEN_KEEP):
        edit = edited_fields(record, sent({0: left, 1: "20"}))
        assert edit.arguments == {"to": "[hidden: email]", "amount": 20} and edit.changed


def test_values_are_typed_as_their_kind_and_a_wrong_one_is_refused_on_its_field() -> None:
    record = call({"to": "a@example.com", "amount": 40})
    assert edited_fields(record, sent({1: "20"})).arguments == {"to": "a@example.com", "amount": 20}
    assert edited_fields(record, sent({1: "twenty"})).errors == {1: "Type a whole number, e.g. 3."}
    assert edited_fields(replace(record, arguments_schema="not json"), sent({1: "20"})).errors == {0: UNKNOWN_SCHEMA}
    wrong = edited_fields(call({"to": "a@example.com", "note": "x"}), sent({1: "y" * 3}))
    assert wrong.changed and not wrong.errors  # (a text is any text)
