"""What the client says about a decision: who decided (`Approval.who`: "@bob", "rule R1", "the input mode",
"timeout"), which rule (`Approval.rule`), what the agent's model reads (`refusal`), each as the bot said it (never
composed by the client: an older bot's answer without them gets "Not run: <status>"), and the INFO line of the
`agent_approvals.client` logger when a person, a rule or the input mode decided (against a real worker)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.client import Approval, refusal

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker
from tests.support.hitl import click, nth_card, reject

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


def approval(status: str, decided_by: str, **extra: str | None) -> Approval:
    return Approval.from_json({"id": "a-1", "status": status, "decided_by": decided_by, **extra})


def test_the_client_prints_the_bots_words_and_composes_none() -> None:
    """`who` and `refusal` are the bot's (bot/core/verdicts.py, tests/core/test_verdicts.py): printed as sent."""
    decided = approval("rejected", "U0BOB", decided_by_name="bob", reason="not yet", who="@bob",
                       refusal="Not run: rejected by @bob: not yet")
    assert decided.who == "@bob" and refusal(decided) == "Not run: rejected by @bob: not yet"
    assert decided.rule == "" and approval("rejected", "rule R1").rule == "R1"


def test_an_older_bot_that_sends_no_words_gets_the_least() -> None:
    assert refusal(approval("rejected", "U0BOB", reason="not yet")) == "Not run: rejected (not yet)"
    assert refusal(approval("cancelled", "system")) == "Not run: cancelled"
    assert refusal(approval("revised", "U0BOB", feedback="shorter")) == "Not run: revised"
    assert approval("rejected", "U0BOB").who == ""


def test_an_unknown_field_is_ignored_and_a_null_name_is_none_given() -> None:
    decided = Approval.from_json({"id": "a-1", "status": "approved", "decided_by": "U0BOB",
                                  "decided_by_name": None, "later_field": 1, "who": "U0BOB", "refusal": None})
    assert decided.decided_by_name == "" and decided.who == "U0BOB" and decided.refusal is None


def test_summary_says_who_which_rule_and_why() -> None:
    assert approval("approved", "U0BOB", who="@bob").summary == "approved by @bob"
    assert approval("rejected", "U0BOB", who="@bob", reason="no").summary == "rejected by @bob: no"
    assert approval("approved", "rule R1", who="rule R1", reason="auto-approved by rule R1").summary == \
        "approved by rule R1 (auto-approved by rule R1)"
    assert approval("rejected", "auto", who="the input mode", reason="mode never").summary == \
        "rejected by the input mode (mode never)"
    timed_out = approval("timed_out", "timeout", reason="no decision within 1s", timeout_outcome="reject")
    assert timed_out.summary == "timed out: rejected (no decision within 1s)"
    assert approval("pending", "").summary == "pending"


def decided_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "agent_approvals.client" and r.levelno == logging.INFO]


async def test_the_client_logs_each_decision_once_at_info(
    slack: SlackStandIn, emailer: tuple[Worker, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A person's decisions, then a rule's at once: each logged once, as it happened; `on_decided` sees them."""
    caplog.set_level(logging.INFO, logger="agent_approvals.client")
    worker, key = emailer
    told: list[Approval] = []
    async with ApprovalsClient(worker.url, key, title="price update", on_decided=told.append) as client:
        asking = asyncio.create_task(client.tool_decision("send_email", EMAIL))
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        approved = await asyncio.wait_for(asking, 20)
        by = f"@{approved.decided_by_name}" if approved.decided_by_name else BOB  # the name once the API sends it
        assert approved.approved and approved.decided_by == BOB and approved.who == by and approved.rule == ""

        asking = asyncio.create_task(client.tool_decision("send_email", {**EMAIL, "to": "carol@example.com"}))
        await reject(slack, await nth_card(slack, 2), user=BOB, reason="not before the board meets")
        rejected = await asyncio.wait_for(asking, 20)
        assert refusal(rejected) == f"Not run: rejected by {by}: not before the board meets"
        await client.wait(rejected.id)  # waited for again: not logged again

        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await worker.services.store.rules.create(rule)
        by_rule = await asyncio.wait_for(client.tool_decision("send_email", EMAIL), 20)
    assert by_rule.approved and by_rule.rule and by_rule.who == f"rule {by_rule.rule}"
    assert decided_lines(caplog) == [
        f"approval {approved.id} approved by {by}",
        f"approval {rejected.id} rejected by {by}: not before the board meets",
        f"approval {by_rule.id} approved by rule {by_rule.rule} (auto-approved by rule {by_rule.rule})",
    ]
    assert [a.id for a in told] == [approved.id, rejected.id, by_rule.id]
