"""The Revise modal of a change (bot/slack/blocks/artifact_modals.py), by the shape of what it returns: valid for
slack_sdk and the local Slack, inert whatever the recipients, subject or path say, Save & approve only where the
edit can be one decision (one approval needed, no step-up), nothing editable where the program runs only as asked."""

from __future__ import annotations

import json
from typing import Any

from agent_approvals.artifacts import artifact_sha256, file_change, message

from bot.slack.blocks.artifact_modals import build_artifact_revise_modal, editable_here
from tests.support.blockkit import EVIL, approval, assert_inert, assert_valid


def with_artifacts(*artifacts: dict[str, Any], **changes: Any) -> Any:
    kept = [{**artifact, "sha256": artifact_sha256(artifact)} for artifact in artifacts]
    return approval(artifacts=json.dumps(kept), **changes)


def test_a_message_body_to_edit_valid_and_inert() -> None:
    record = with_artifacts(message([EVIL], "Dear Bob,\nprices.", subject=EVIL))
    editable = editable_here(record)
    assert editable is not None
    view = build_artifact_revise_modal(record, editable, metadata="m", may_approve=True)
    assert_valid(view)
    assert_inert(view)
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["artifact"]["element"]["initial_value"] == "Dear Bob,\nprices."
    assert inputs["artifact"]["element"]["max_length"] == 3000
    assert inputs["then"]["element"]["initial_option"]["value"] == "approve"


def test_save_and_approve_only_where_it_is_one_decision() -> None:
    for changes in ({"required_approvals": 2}, {"step_up": "policy"}):
        record = with_artifacts(file_change(EVIL, "a\n", "b\n"), **changes)
        editable = editable_here(record)
        assert editable is not None
        view = build_artifact_revise_modal(record, editable, metadata="m", may_approve=True)
        assert_valid(view)
        assert_inert(view)
        assert "then" not in [b.get("block_id") for b in view["blocks"]]


def test_nothing_to_edit_where_the_program_runs_only_the_call_as_made() -> None:
    assert editable_here(with_artifacts(message("bob@example.com", "Hi"), fixed_arguments=1)) is None
    assert editable_here(with_artifacts(message("bob@example.com", "Hi\x07"))) is None  # not shown whole in Slack
