"""Slack's payloads are documents read by models (bot/slackapp/payloads.py): an interaction payload the gate lets
through, a submitted view's inputs, a slash command's fields. What is wrong in one is said in the project's words
(the gate's 400 reason, the command's ephemeral answer), never pydantic's; what Slack adds that the bot does not read
is let through untouched. (Through the real app, signed: tests/slackapp/test_edge_faults.py.)"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from bot.core.workspaces import WorkspaceRef
from bot.slackapp.gate import MAX_DEPTH, parse
from bot.slackapp.payloads import NO_USER, SlashCommand, ViewState, interaction_problem

CLICK: dict[str, Any] = {"type": "block_actions", "user": {"id": "U0BOB", "team_id": "T0DEV"},
                         "team": {"id": "T0DEV"}, "actions": [{"action_id": "approval_approve"}]}


def posted(payload: Any) -> dict[str, Any] | str:
    return parse(urllib.parse.urlencode({"payload": json.dumps(payload)}))


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("payload", "said"), [
    (["block_actions"], "payload is not an object"),
    ({**CLICK, "type": 3}, "type is not a string"),
    ({**CLICK, "trigger_id": None}, "trigger_id is not a string"),
    ({**CLICK, "user": "U0BOB"}, "user is not an object"),
    ({**CLICK, "user": {"id": ["U0BOB"]}}, "user.id is not a string"),
    ({**CLICK, "team": {"id": "T0DEV", "enterprise_id": {"id": "E0"}}}, "team.enterprise_id is not a string"),
    ({**CLICK, "container": {"message_ts": 1.5}}, "container.message_ts is not a string"),
    ({**CLICK, "message": [1]}, "message is not an object"),
    ({**CLICK, "actions": {"action_id": "approval_approve"}}, "actions is not a list of objects"),
    ({**CLICK, "actions": ["approval_approve"]}, "actions is not a list of objects"),
    ({**CLICK, "actions": []}, "actions is empty"),
    ({**CLICK, "state": "open"}, "state is not an object"),
    ({**CLICK, "state": {"values": {"b": "text"}}}, "state.values is not an object of objects"),
    ({"type": "view_submission", "user": {"id": "U0BOB"}, "view": {"id": "V1"}}, "view.type is not a string"),
    ({"type": "view_submission", "view": {"type": "modal", "state": ["x"]}}, "state is not an object"),
    ({"type": "view_closed", "view": {"type": "workflow_step"}, "workflow_step": "x"},
     "workflow_step is not an object"),
    ({**CLICK, "user": "U0BOB", "actions": []}, "user is not an object"),  # the outermost first
    ({**CLICK, "message": nested(MAX_DEPTH + 5)}, f"payload is nested more than {MAX_DEPTH} levels"),
])
def test_a_malformed_interaction_is_refused_in_the_gates_words(payload: Any, said: str) -> None:
    assert posted(payload) == said


def test_what_slack_adds_is_let_through_untouched() -> None:
    payload = {**CLICK, "is_enterprise_install": False, "user": {**CLICK["user"], "locale": 7},
               "view": {"type": "modal", "hash": 3, "state": {"values": {"b": {"a": {"value": 4}}}}}}
    assert posted(payload) == payload
    assert interaction_problem(payload) is None


def test_a_submitted_views_inputs_are_read_in_one_place() -> None:
    view = {"state": {"values": {
        "reason": {"text": {"type": "plain_text_input", "value": "too pushy"}},
        "empty": {"text": {"type": "plain_text_input", "value": None}},
        "scope": {"pick": {"selected_option": {"value": "run"}}},
        "odd": {"pick": {"selected_option": {"value": 3}}, "text": "not an input"},
    }}}
    state = ViewState.of(view)
    assert state.text("reason", "text") == "too pushy" and state.text("empty", "text") == ""
    assert state.text("reason", "other") is None and state.text("missing", "text") is None
    assert state.choice("scope", "pick") == "run" and state.choice("odd", "pick") is None
    assert state.text("odd", "text") == "" and state.has("scope") and not state.has("missing")
    assert ViewState.of({"state": "broken"}).text("reason", "text") is None


@pytest.mark.parametrize(("fields", "said"), [
    ({"channel_id": "C0SALES", "trigger_id": "1.2"}, NO_USER),
    ({"user_id": "bob", "channel_id": "C0SALES", "trigger_id": "1.2"}, NO_USER),
    ({"user_id": "U0BOB", "channel_id": ["C0SALES"], "trigger_id": "1.2"}, NO_USER),
    ({"user_id": "U0BOB", "channel_id": "C0SALES"}, "This command came without a valid trigger id; nothing was done."),
    ({"user_id": "U0BOB", "channel_id": "C0SALES", "trigger_id": "1 2"},
     "This command came without a valid trigger id; nothing was done."),
])
def test_a_slash_command_without_who_where_or_a_trigger_is_answered_in_words(fields: dict[str, Any], said: str) -> None:
    assert SlashCommand.of(fields) == said


def test_a_slash_commands_workspace_is_read_from_its_fields() -> None:
    base = {"user_id": "U0BOB", "channel_id": "C0SALES", "trigger_id": "1.2", "text": "help"}
    command = SlashCommand.of({**base, "team_id": "T0DEV", "enterprise_id": "E0GRID", "api_app_id": "A1"})
    assert isinstance(command, SlashCommand) and command.text == "help"
    assert command.workspace == WorkspaceRef("T0DEV", "E0GRID")
    plain = SlashCommand.of({**base, "team_id": "T0DEV", "enterprise_id": "nope"})
    assert isinstance(plain, SlashCommand) and plain.workspace == WorkspaceRef("T0DEV", None)
    home = SlashCommand.of(base)
    assert isinstance(home, SlashCommand) and home.workspace is None
