"""“This run only” on an API card covers one program's run (issue #45 item 10), through the real flow: a worker,
real Redis, the Slack stand-in, programs asking over HTTP with one key. A rule made with *Approve & always allow
→ This run only* approves the same program run's next matching call without a card, never another program's
(another `run`, or none); the rule the form proposes from a free-text body matches that body only; and a program
that sends no `run` shares its run with every other such program of the key, so "This run only" is refused
there (nothing changes, the card still waits)."""

from __future__ import annotations

import time
from typing import Any

from agent_approvals import ApprovalsClient

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.rules import ACTION_ALWAYS_ALLOW
from tests.conftest import BOB, SALES, Worker, has_buttons
from tests.support.api import SCHEMA, Client, new_key
from tests.support.hitl import audit_events, click, current, nth_card

WIRE = {"to": "treasury@example.com", "body": "wire 50000 USD to account 12345, today, as agreed with finance"}


def wire_ask(run: str | None, **arguments: str) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "tool", "title": "Pay the supplier",
                            "tool": {"name": "send_email", "arguments": {**WIRE, **arguments}, "schema": SCHEMA}}
    if run is not None:
        body["run"] = run
    return body


async def rule_modal(slack: SlackStandIn, card: dict[str, Any], *, user: str) -> dict[str, Any]:
    before = {v["id"] for v in slack.open_views(user)}
    await click(slack, card, ACTION_ALWAYS_ALLOW, user=user)
    views = await slack.wait_for(lambda: [v for v in slack.open_views(user) if v["id"] not in before])
    view: dict[str, Any] = views[-1]
    assert view["view"]["callback_id"] == "rule_modal"
    return view


def this_run_only() -> dict[str, dict[str, str]]:
    """The form as the modal proposes it (inputs left out keep what it prefilled), with "This run only" and a day."""
    return {"rule_scope": {"rule_scope_input": "run"}, "rule_expiry": {"rule_expiry_input": "86400"}}


async def submit_run_rule(slack: SlackStandIn, card: dict[str, Any]) -> dict[str, Any]:
    view = await rule_modal(slack, card, user=BOB)
    answer = await slack.submit_view(user=BOB, view_id=view["id"], values=this_run_only())
    assert answer.status == 200, answer.body
    assert isinstance(answer.json, dict), answer.body
    return answer.json


async def live_rules(worker: Worker) -> list[Any]:
    return await worker.services.store.rules.of_channel(SALES, now=time.time())


async def test_this_run_only_covers_one_program_run_and_a_body_rule_matches_that_body(
    api: Worker, slack: SlackStandIn
) -> None:
    client = Client(api, (await new_key(api)).key)
    status, first = await client.ask(wire_ask("pydantic-ai-7f3a"))
    assert status == 201, first
    answer = await submit_run_rule(slack, await nth_card(slack, 1))
    assert "errors" not in answer, answer
    rules = await live_rules(api)
    assert len(rules) == 1 and rules[0].scope == "run"
    assert dict(rules[0].match.where)["body"].op == "equals"  # proposed from free text: that body, not any value
    assert (await client.wait(first["id"], wait=0))["status"] == "approved"

    status, again = await client.ask(wire_ask("pydantic-ai-7f3a"))  # the same program run: the rule approves it
    assert status == 200 and again["status"] == "approved" and again["decided_by"].startswith("rule"), again
    status, other_body = await client.ask(wire_ask("pydantic-ai-7f3a", body="wire 90000 USD to account 66666 now"))
    assert status == 201 and other_body["status"] == "pending", other_body
    for run in ("langgraph-01", "openai-agents-9", None):  # other programs of the same key each get a card
        status, asked = await client.ask(wire_ask(run))
        assert status == 201 and asked["status"] == "pending", (run, asked)
    runs = {(await api.services.store.approvals.get(first["id"])).run_id}  # type: ignore[union-attr]
    for approval_id in (other_body["id"], asked["id"]):
        runs.add((await api.services.store.approvals.get(approval_id)).run_id)  # type: ignore[union-attr]
    assert len(runs) == 2  # the program run's, and the run of the programs that send none
    assert await api.services.store.runs.live() == []  # no worker runs them; no limit of BOB's counts them


async def test_this_run_only_is_refused_where_programs_send_no_run(api: Worker, slack: SlackStandIn) -> None:
    client = Client(api, (await new_key(api)).key)
    status, asked = await client.ask(wire_ask(None))
    assert status == 201, asked
    card = await nth_card(slack, 1)
    answer = await submit_run_rule(slack, card)
    assert "sent no run id" in str(answer.get("errors")), answer
    assert await live_rules(api) == []
    assert has_buttons(current(slack, card)) and (await client.wait(asked["id"], wait=0))["status"] == "pending"
    refused = await audit_events(api, "rule_refused")
    assert len(refused) == 1 and refused[0]["approval"] == asked["id"]
    status, bad = await client.ask({**wire_ask(None), "run": "has spaces"})
    assert status == 400 and bad["error"]["field"] == "run", bad


async def test_without_a_schema_the_proposed_rule_is_exactly_the_call(api: Worker, slack: SlackStandIn) -> None:
    """Arguments the tool's schema does not describe can only be "any value" as conditions: the form proposes
    "Exactly these arguments" instead, so a rule made as proposed approves that call only."""
    client = Client(api, (await new_key(api)).key)
    schemaless = {"kind": "tool", "title": "Pay", "run": "adk-1", "tool": {"name": "wire", "arguments":
                  {"amount": 50000, "currency": "USD", "account": "12345"}}}
    status, asked = await client.ask(schemaless)
    assert status == 201, asked
    answer = await submit_run_rule(slack, await nth_card(slack, 1))
    assert "errors" not in answer, answer
    (rule,) = await live_rules(api)
    assert rule.match.exact
    status, again = await client.ask(schemaless)
    assert status == 200 and again["status"] == "approved", again
    more = {**schemaless, "tool": {"name": "wire", "arguments": {"amount": 90000, "currency": "USD", "account": "666"}}}
    status, other = await client.ask(more)
    assert status == 201 and other["status"] == "pending", other


async def test_the_client_sends_its_own_run_so_this_run_only_stays_with_its_program(
    api: Worker, slack: SlackStandIn
) -> None:
    """Two programs of one key through `ApprovalsClient` (each its own run, sent with every ask): "This run only" on
    the first one's card approves its next identical call without a card; the second program's is asked."""
    key = (await new_key(api)).key
    async with ApprovalsClient(api.url, key, title="Pay the supplier") as first, \
            ApprovalsClient(api.url, key, title="Pay the supplier") as second:
        assert first.run != second.run
        asked = await first.request_tool("send_email", WIRE, schema=SCHEMA)
        answer = await submit_run_rule(slack, await nth_card(slack, 1))
        assert "errors" not in answer, answer
        assert (await first.wait(asked.id, at_most=10)).approved
        again = await first.request_tool("send_email", WIRE, schema=SCHEMA)
        assert again.approved and again.decided_by.startswith("rule"), again
        other = await second.request_tool("send_email", WIRE, schema=SCHEMA)
        assert other.pending  # another program of the same key: a card
    assert has_buttons(await nth_card(slack, 2))
