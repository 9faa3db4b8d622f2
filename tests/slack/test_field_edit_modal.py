"""Revise a tool call one field per argument (issue #36): typed from the tool's schema, multi-line where the
value is, and Save & approve only for a reviewer who may approve."""

from __future__ import annotations

import json
from typing import Any

from bot.devslack.blockkit import validate_view
from bot.slack.blocks import build_revise_modal
from bot.slack.blocks.decision_modals import editable_fields, field_kind
from tests.support.blockkit import tool_call

SCHEMA = json.dumps(
    {
        "type": "object",
        "properties": {
            "to": {"type": "string"},
            "count": {"type": "integer"},
            "urgent": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
)
ARGUMENTS = json.dumps({"to": "bob@example.com", "body": "Hello,\nBob", "count": 3, "urgent": False, "tags": ["a"]})


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_one_field_per_argument_typed_from_the_schema() -> None:
    view = build_revise_modal(tool_call(0, arguments=ARGUMENTS, arguments_schema=SCHEMA), metadata="m")
    assert validate_view(view) is None
    fields = inputs(view)
    labels = [fields[f"arg_{n}"]["label"]["text"] for n in range(5)]
    assert labels == ["to (string)", "body (string)", "count (integer)", "urgent (boolean)", "tags (json)"]
    assert fields["arg_1"]["element"]["initial_value"] == "Hello,\nBob" and fields["arg_1"]["element"]["multiline"]
    assert "multiline" not in fields["arg_0"]["element"]
    assert fields["arg_2"]["element"]["initial_value"] == "3" and fields["arg_3"]["element"]["initial_value"] == "false"
    assert fields["arg_4"]["element"]["initial_value"] == '[\n  "a"\n]'
    assert "then" not in fields and view["submit"]["text"] == "Save"


def test_save_and_approve_is_offered_to_who_may_approve() -> None:
    view = build_revise_modal(tool_call(0, arguments=ARGUMENTS), metadata="m", may_approve=True)
    assert validate_view(view) is None
    then = inputs(view)["then"]["element"]
    assert [o["value"] for o in then["options"]] == ["approve", "ask"] and then["initial_option"]["value"] == "approve"


def test_arguments_that_cannot_be_fields_keep_the_json_field() -> None:
    assert editable_fields(tool_call(0, arguments="[1, 2]")) is None
    assert editable_fields(tool_call(0, arguments=json.dumps({"body": "x" * 3500}))) is None
    assert editable_fields(tool_call(0, arguments=json.dumps({f"k{n}": n for n in range(41)}))) is None
    assert field_kind({"type": ["integer", "null"]}, None) == "integer"
    assert field_kind(None, 2.5) == "number" and field_kind(None, {"a": 1}) == "json"
