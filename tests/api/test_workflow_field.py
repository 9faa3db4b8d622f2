"""An ask's `workflow` (the durable workflow that asks: agent_approvals.temporal, .dbos): checked (400 naming the
field, nothing stored), shown on the card as inert text (its id a link only to an https page), returned by the API,
and read by the policies as `context.workflow` (engine, type, id: present, empty, on every request, so a policy
may always read them), the same in `policy test` and in a replay of the audit log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from bot.policy.decide import PolicyRequest, workflow_of
from tests.conftest import ALICE, APPROVALS, StartPolicyWorker, Worker, block_texts
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import audit_events, nth_card
from tests.support.policies import policy_cli, write_bundle

TEMPORAL = {"engine": "temporal", "id": "refund-7", "type": "Refund", "namespace": "default",
            "url": "https://temporal.example.com/namespaces/default/workflows/refund-7"}
NO_TEMPORAL_REFUNDS = """
@id("no-temporal-refunds")
@reason("refunds from Temporal's Refund workflow go through finance")
forbid (principal, action == Action::"send_email", resource)
when { context.workflow.engine == "temporal" && context.workflow.type == "Refund" };
"""


@pytest.mark.parametrize("workflow, field", [
    ("refund-7", "workflow"),
    ({"id": "refund-7"}, "workflow.engine"),
    ({"engine": "Temporal!", "id": "refund-7"}, "workflow.engine"),
    ({"engine": "temporal"}, "workflow.id"),
    ({"engine": "temporal", "id": "x" * 256}, "workflow.id"),
    ({"engine": "temporal", "id": "r", "type": ""}, "workflow.type"),
    ({"engine": "temporal", "id": "r", "url": "http://temporal.example.com/x"}, "workflow.url"),
    ({"engine": "temporal", "id": "r", "run": "x"}, "workflow.run"),
])
async def test_a_bad_workflow_is_refused_naming_its_field(
    api: Worker, slack: SlackStandIn, workflow: Any, field: str
) -> None:
    client = Client(api, (await new_key(api)).key)
    status, answer = await client.ask(tool_ask(workflow=workflow))
    assert status == 400 and answer["error"]["field"] == field, answer
    assert slack.messages(APPROVALS) == []


async def test_the_card_shows_the_workflow_as_inert_text_and_the_api_returns_it(
    api: Worker, slack: SlackStandIn
) -> None:
    client = Client(api, (await new_key(api)).key)
    status, asked = await client.ask(tool_ask(workflow=TEMPORAL))
    assert status == 201 and asked["workflow"] == TEMPORAL
    shown = block_texts(await nth_card(slack, 1))
    assert f"· workflow <{TEMPORAL['url']}|refund-7> (Refund, Temporal)" in shown, shown
    hostile = {"engine": "dbos", "id": "<!channel> `x`", "type": "*Refund* <@U0BOB>"}
    await client.ask(tool_ask(workflow=hostile))
    card = json.dumps((await nth_card(slack, 2))["blocks"])
    assert "<!channel>" not in card and "<@U0BOB>" not in card
    assert "&lt;!channel&gt; 'x'" in card and "DBOS" in card


async def test_the_policies_read_the_workflow(policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    worker = await policy_worker({"workflows.cedar": NO_TEMPORAL_REFUNDS})
    client = Client(worker, (await new_key(worker, "refunds")).key)
    _, refused = await client.ask(tool_ask(workflow=TEMPORAL))
    assert (refused["status"], refused["decided_by"]) == ("rejected", "policy"), refused
    assert refused["reason"] == "refunds from Temporal's Refund workflow go through finance"
    _, other = await client.ask(tool_ask(workflow={**TEMPORAL, "type": "Payout"}))
    _, plain = await client.ask(tool_ask())  # no workflow: context.workflow is there, empty; nothing fails
    assert other["status"] == plain["status"] == "pending"
    assert len([m for m in slack.messages(APPROVALS) if not m.get("thread_ts")]) == 2


def test_every_request_has_a_workflow_to_read() -> None:
    bare = PolicyRequest(principal_type="Agent", principal="k", action="send_email", channel="C0SALES",
                         kind="tool_call", args={}, requester=ALICE)
    assert bare.context({})["workflow"] == {"engine": "", "type": "", "id": ""}
    assert workflow_of(json.dumps(TEMPORAL)) == {"engine": "temporal", "type": "Refund", "id": "refund-7"}
    assert workflow_of("not json") == workflow_of("[]") == {"engine": "", "type": "", "id": ""}


CASES = """
- name: Temporal's Refund workflow is refused
  agent: refunds
  action: send_email
  workflow: {engine: temporal, type: Refund, id: refund-7}
  expect: deny
- name: the same call from no workflow is left to a person
  agent: refunds
  action: send_email
  expect: none
"""


async def test_policy_test_and_the_audit_log_carry_the_workflow(
    api: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    bundle = write_bundle(tmp_path / "policies", {"workflows.cedar": NO_TEMPORAL_REFUNDS})
    (tmp_path / "cases.yaml").write_text(CASES)
    tested = await policy_cli("test", str(tmp_path / "cases.yaml"), "--dir", str(bundle))
    assert tested.returncode == 0 and "2 cases: 2 ok, 0 mismatched" in tested.stdout, tested.stdout + tested.stderr
    client = Client(api, (await new_key(api)).key)
    _, asked = await client.ask(tool_ask(workflow=TEMPORAL))
    entry = next(e for e in await audit_events(api, "requested") if e["approval"] == asked["id"])
    assert workflow_of(entry["workflow"]) == {"engine": "temporal", "type": "Refund", "id": "refund-7"}  # replay
