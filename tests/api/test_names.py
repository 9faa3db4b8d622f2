"""`decided_by_name` in the API's approval JSON (#35): the decider's Slack display name next to `decided_by` (the
id), from the names the worker already knows (no Slack call per answer); left out for a decision nobody made and
for a name that is not known. Documented in the OpenAPI document, which still validates. Real worker, real Redis,
the Slack stand-in."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from bot.api.openapi import document
from bot.api.shown import view
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import click, nth_card


def approval_schema() -> Draft202012Validator:
    served = document()
    return Draft202012Validator({**served["components"]["schemas"]["Approval"], "components": served["components"]})


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_the_field_is_documented_and_the_document_validates() -> None:
    validate(document())  # type: ignore[arg-type]
    field = document()["components"]["schemas"]["Approval"]["properties"]["decided_by_name"]
    assert field["type"] == "string" and "display name" in field["description"]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_person_decided_the_name_stands_next_to_the_id(api: Worker, slack: SlackStandIn) -> None:
    made = await new_key(api)
    client = Client(api, made.key)
    status, asked = await client.ask(tool_ask())
    assert status == 201, asked
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    decided = await client.wait(asked["id"])
    assert decided["status"] == "approved" and decided["decided_by"] == BOB
    approval = await api.services.store.approvals.get(asked["id"])
    assert approval is not None

    named = view(approval, names={BOB: "bob"})
    assert named["decided_by"] == BOB and named["decided_by_name"] == "bob"
    approval_schema().validate(named)
    unknown = view(approval, names={})  # a lookup that failed: the field is left out, the id stays
    assert "decided_by_name" not in unknown and unknown["decided_by"] == BOB
    assert decided["decided_by_name"] == "bob"  # the long-poll's answer, from the worker's directory
    status, read, _ = await client.call("GET", f"/api/v1/approvals/{asked['id']}")
    assert status == 200 and read["decided_by_name"] == "bob" and read["decided_by"] == BOB
    approval_schema().validate(decided)


async def test_no_name_for_a_decision_nobody_made(api: Worker, slack: SlackStandIn) -> None:
    made = await new_key(api)
    client = Client(api, made.key)
    status, asked = await client.ask(tool_ask())
    assert status == 201, asked
    status, withdrawn, _ = await client.call("DELETE", f"/api/v1/approvals/{asked['id']}")
    assert status == 200 and withdrawn["decided_by"] == "system", withdrawn
    approval = await api.services.store.approvals.get(asked["id"])
    assert approval is not None
    shown = view(approval, names={"system": "System", BOB: "bob"})
    assert "decided_by_name" not in shown and shown["decided_by"] == "system"
