"""The contract every framework integration keeps, run once per integration against a real worker (programs in
`tests.support.frameworks`, each with its framework's scripted model): the call waits for a person's card, naming
the tool, its arguments and who asks; Approve runs it once with exactly those arguments; Reject runs nothing and
the model reads who refused and why; a decision that does not come in time runs nothing and the model is told so;
an "always allow" rule runs the call with no card; and the policies of POLICY_DIR (the bundle every way in shares,
tests/support/policies.py) decide at once, with no card: a call they refuse never runs and the model reads their
reason, one they allow runs. What only one framework does (edits, kills, resumes) is in that framework's own
module."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from agent_approvals import ApprovalsClient

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, StartPolicyWorker, Worker, block_texts
from tests.support.api import new_key
from tests.support.frameworks import EMAIL, PROGRAMS, Sent
from tests.support.hitl import audit_events, click, nth_card, reject
from tests.support.policies import WAYS_IN

pytestmark = pytest.mark.slow  # each framework's first test pays its SDK's import: 1 to 1.6 s of CPU (slow.py)

TIMED_OUT = re.compile(r"nobody decided in time|no decision within", re.IGNORECASE)


@pytest.mark.parametrize("framework", sorted(PROGRAMS))
async def test_approve_reject_timeout_and_rule(
    framework: str, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    make = PROGRAMS[framework]
    bot, key = emailer
    sent: Sent = []
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        program = make(sent, tmp_path)
        running = asyncio.create_task(program.run(client))
        card = await nth_card(slack, 1)
        shown = block_texts(card)
        assert "send_email" in shown and "bob@example.com" in shown and program.label in shown
        assert sent == []  # nothing runs before a person decides
        await click(slack, card, "approval_approve", user=BOB)
        await asyncio.wait_for(running, 20)
        assert sent == [EMAIL] and "sent to bob@example.com" in program.told(), program.told()

        program = make(sent, tmp_path)
        running = asyncio.create_task(program.run(client))
        await reject(slack, await nth_card(slack, 2), user=BOB, reason="not before the board meets")
        await asyncio.wait_for(running, 20)
        assert sent == [EMAIL]
        told = program.told()
        assert ("@bob" in told or BOB in told) and "not before the board meets" in told, told

    async with ApprovalsClient(bot.url, key, title="price update", within=1) as hurried:
        program = make(sent, tmp_path)
        await asyncio.wait_for(program.run(hurried), 20)
        assert sent == [EMAIL] and TIMED_OUT.search(program.told()), program.told()

        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        if framework == "claude_agent_sdk":  # its tool is the MCP tool's full name
            from tests.support.frameworks import CLAUDE_TOOL

            rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match(CLAUDE_TOOL, EMAIL),
                        created_by=BOB, created_at=0, expires_at=2e10)
        assert await bot.services.store.rules.create(rule)
        cards = len(slack.messages(APPROVALS))
        await asyncio.wait_for(make(sent, tmp_path).run(hurried), 20)
    assert sent == [EMAIL, EMAIL]
    assert len(slack.messages(APPROVALS)) == cards  # the rule approved it: no card


@pytest.mark.parametrize("framework", sorted(PROGRAMS))
async def test_a_policy_refuses_or_allows_at_once(
    framework: str, policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = await policy_worker({"ways.cedar": WAYS_IN})
    make = PROGRAMS[framework]
    sent: Sent = []
    async with ApprovalsClient(bot.url, (await new_key(bot, "intern")).key, title="price update") as client:
        program = make(sent, tmp_path)
        await asyncio.wait_for(program.run(client), 20)
    told = program.told()
    assert sent == [] and "by policy" in told and "interns do not send email" in told, told
    async with ApprovalsClient(bot.url, (await new_key(bot, "emailer")).key, title="price update") as client:
        program = make(sent, tmp_path)
        await asyncio.wait_for(program.run(client), 20)
    assert sent == [EMAIL] and "sent to bob@example.com" in program.told(), program.told()  # mail-our-domain
    assert slack.messages(APPROVALS) == []  # no card: the policies decided both
    entries = await audit_events(bot, "auto_approved", "auto_rejected")
    decided = sorted((e["key"], e["outcome"], e["by"]) for e in entries)
    assert decided == [("emailer", "approved", "policy"), ("intern", "rejected", "policy")], decided
