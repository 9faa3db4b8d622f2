"""Teams' Revise one field each, as the Slack modal's field form (bot/core/field_edits.py, one way for both): a real
worker serving Slack and Teams, the local Slack and the local Bot Connector, a program asking through the Approvals
API. A Teams reviewer edits one field and the program gets the edited call as Slack's field form sends it; a value
not of its field's kind is refused in the Slack field's words, nothing sent; a hidden value left as its mask is kept
whole and never appears in anything sent to Teams."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agent_approvals.approver import digest_of

from tests.support.api import EMAIL, SCHEMA
from tests.support.hitl import audit_events
from tests.support.teams import World, field_inputs, notice_of, shown_notice, verbs

REFUND = {"to": "bob@example.com", "amount": 40, "body": "Refund for order 4411."}
REFUND_SCHEMA = {
    "type": "object",
    "properties": {"to": {"type": "string", "format": "email"}, "amount": {"type": "integer"},
                   "body": {"type": "string"}},
    "required": ["to", "amount", "body"],
    "additionalProperties": False,
}


def as_sent(inputs: dict[str, dict[str, Any]], **edited: str) -> dict[str, str]:
    """What Teams sends for the form: each input's value as text (as prefilled), the edited ones (by argument) as
    typed."""
    return {field["id"]: edited.get(name, v if isinstance(v := field["value"], str) else json.dumps(v))
            for name, field in inputs.items()}


def activities_sent(world: World) -> list[Any]:
    """The bot's calls that post or update an activity in Teams."""
    return [call for call in world.teams.sent if "/activities" in call.path]


@pytest.mark.slow
async def test_a_teams_reviewer_edits_one_field_and_the_program_gets_the_edited_call(world: World) -> None:
    approval = await world.ask(tool={"name": "send_refund", "arguments": REFUND, "schema": REFUND_SCHEMA})
    activity = await world.teams_card(approval)
    await world.teams.refresh(world.channel, activity, world.dana)
    inputs = field_inputs(world.card_now(activity, world.dana))
    assert {key: field["type"] for key, field in inputs.items()} == {
        "to": "Input.Text", "amount": "Input.Number", "body": "Input.Text"}
    assert inputs["amount"]["value"] == 40
    body = await world.execute(activity, world.dana, "revise", approval, reason="half now",
                               **as_sent(inputs, amount="20"))
    assert "Nothing was" not in notice_of(body)
    edited = {**REFUND, "amount": 20}  # typed as the schema says: a number, not "20"
    answer = await world.client.wait(approval)
    assert answer["status"] == "revised" and answer["arguments"] == edited and answer["edited"] is True
    assert answer["digest"] == digest_of(edited)
    assert answer["refusal"].endswith(f"Edited arguments to use instead: {json.dumps(edited, sort_keys=True)}.")
    assert "half now" in answer["feedback"]
    decision = [e for e in await audit_events(world.worker, "decision") if e.get("approval") == approval]
    assert [(e["outcome"], e["by"], e["surface"]) for e in decision] == [("revised", world.dana_person, "teams")]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_value_not_of_its_fields_kind_is_refused_in_slacks_words_and_nothing_is_sent(world: World) -> None:
    approval = await world.ask(tool={"name": "send_refund", "arguments": REFUND, "schema": REFUND_SCHEMA})
    activity = await world.teams_card(approval)
    await world.teams.refresh(world.channel, activity, world.dana)
    inputs = field_inputs(world.card_now(activity, world.dana))
    sent_before, shown_before = len(activities_sent(world)), world.card_now(activity)
    body = await world.execute(activity, world.dana, "revise", approval, reason="less",
                               **as_sent(inputs, amount="twenty"))
    assert shown_notice(body["value"]) == "amount: Type a whole number, e.g. 3."  # the Slack field's words
    assert "revise" in verbs(body["value"])  # (still theirs: the card answered with its buttons)
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.feedback == "" and got.voters == []
    assert [e for e in await audit_events(world.worker, "decision") if e.get("approval") == approval] == []
    # nothing new in Teams: no card posted, the copy as it was (a drawing of the approval as it is may still come)
    assert [c for c in activities_sent(world)[sent_before:] if c.method == "POST"] == []
    assert world.card_now(activity) == shown_before


@pytest.mark.slow
async def test_a_hidden_value_left_as_its_mask_stays_hidden_and_never_reaches_teams(world: World) -> None:
    card_number = "4111 1111 1111 1111"
    arguments = {**EMAIL, "body": f"Refund {card_number} today."}
    approval = await world.ask(tool={"name": "send_email", "arguments": arguments, "schema": SCHEMA})
    activity = await world.teams_card(approval)
    await world.teams.refresh(world.channel, activity, world.dana)
    inputs = field_inputs(world.card_now(activity, world.dana))
    masked = inputs["body"]["value"]
    assert card_number not in masked and masked != arguments["body"]  # (its mask on the card)
    body = await world.execute(activity, world.dana, "revise", approval, reason="",
                               **as_sent(inputs, to="carol@example.com"))
    assert "Nothing was" not in notice_of(body)
    answer = await world.client.wait(approval)  # the program's own answer: the hidden value back, whole
    assert answer["status"] == "revised" and answer["edited"] is True
    assert answer["arguments"] == {**arguments, "to": "carol@example.com"}
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and card_number not in got.feedback
    sent = json.dumps([call.body for call in world.teams.sent]) + json.dumps(
        [d.body for d in world.teams.delivered]) + json.dumps(world.teams.activities(world.channel))
    for hidden in (card_number, card_number.replace(" ", "")):
        assert hidden not in sent
