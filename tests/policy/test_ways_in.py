"""One evaluation path for every way in (#42): the same POLICY_DIR bundle (`WAYS_IN`, tests/support/policies.py)
decides a program's ask through the Approvals API, a call through the MCP gateway, Claude Code's Bash through its
hook (the command hook in the real CLI, and the bot's HTTP hook), and a step of the bot's own /agent run, each with
a real worker, Redis and the Slack stand-in. What it refuses never runs and the agent reads the policy's reason;
what it allows runs with no card; what it asks about is a card naming the policy and its reason. Each framework
integration meets the same bundle in its contract (tests/agents/frameworks/test_contract.py,
`test_a_policy_refuses_or_allows_at_once`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, APPROVALS, BOB, StartPolicyWorker
from tests.support.api import Client, new_key
from tests.support.claude_code import claude, runs
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.hitl import (
    DEMO,
    audit_events,
    bot,
    cards,
    click,
    finished,
    nth_card,
    reject,
    start,
    text_of,
    until,
)
from tests.support.mcp_gateway import EMAIL, over_stdio, text
from tests.support.policies import WAYS_IN, write_bundle

BUNDLE = {"ways.cedar": WAYS_IN}
RIVAL = {**EMAIL, "to": "eve@rival.com"}
PARTNER = {**EMAIL, "to": "carol@partner.org"}
RIVAL_REASON = "we never email a competitor (eve@rival.com)"
PARTNER_REASON = "carol@partner.org is outside example.com: a person checks it"


def send(email: dict[str, str]) -> dict[str, object]:
    return {"kind": "tool", "title": "Tell about the prices", "requester": ALICE,
            "tool": {"name": "send_email", "arguments": email}}


async def test_the_approvals_api(policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    worker = await policy_worker(BUNDLE)
    client = Client(worker, (await new_key(worker, "emailer")).key)
    _, refused = await client.ask(send(RIVAL))
    assert (refused["status"], refused["decided_by"], refused["reason"]) == ("rejected", "policy", RIVAL_REASON)
    _, allowed = await client.ask(send(EMAIL))
    assert (allowed["status"], allowed["decided_by"]) == ("approved", "policy"), allowed
    assert slack.messages(APPROVALS) == []
    _, asked = await client.ask(send(PARTNER))
    assert asked["status"] == "pending", asked
    shown = text_of(await nth_card(slack, 1))
    assert f"Policy mail-elsewhere: {PARTNER_REASON}" in shown, shown


@pytest.mark.slow
async def test_the_mcp_gateway(policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path) -> None:
    worker = await policy_worker(BUNDLE)
    async with over_stdio(worker, (await new_key(worker, "emailer")).key, tmp_path) as gw:
        refused = await gw.session.call_tool("send_email", dict(RIVAL))
        assert refused.is_error and text(refused) == f"Not run: rejected by policy: {RIVAL_REASON}", text(refused)
        assert gw.calls("send_email") == []  # the upstream never saw it
        sent = await gw.session.call_tool("send_email", dict(EMAIL))
        assert not sent.is_error and text(sent) == "sent to bob@example.com"
        assert [c["arguments"] for c in gw.calls("send_email")] == [EMAIL]
    assert slack.messages(APPROVALS) == []


@pytest.mark.slow
async def test_the_mcp_gateways_allow_list_comes_after_the_policies(
    policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path
) -> None:
    """#51.6: with `--allow 'send_*'`, a call a policy forbids once ran upstream, audited only as "allowed by the
    allow-list". The policies decide first, whichever way a call comes in: a forbid refuses an allow-listed call,
    an ask makes it a card; what they leave alone the allow-list lets through."""
    worker = await policy_worker(BUNDLE)
    async with over_stdio(worker, (await new_key(worker, "emailer")).key, tmp_path, "--allow", "send_*") as gw:
        refused = await gw.session.call_tool("send_email", dict(RIVAL))
        assert refused.is_error and text(refused) == f"Not run: refused by policy mail-no-rivals: {RIVAL_REASON}", text(
            refused)
        assert gw.calls("send_email") == []  # the upstream never saw it
        sent = await gw.session.call_tool("send_email", dict(EMAIL))
        assert not sent.is_error and text(sent) == "sent to bob@example.com"
        asking = asyncio.ensure_future(gw.session.call_tool("send_email", dict(PARTNER)))
        card = await nth_card(slack, 1)
        assert f"Policy mail-elsewhere: {PARTNER_REASON}" in text_of(card)
        assert len(gw.calls("send_email")) == 1  # not forwarded while a person decides
        await reject(slack, card, user=BOB, reason="not to partners")
        rejected = await asyncio.wait_for(asking, 30)
        assert rejected.is_error and len(gw.calls("send_email")) == 1
    refusals = [e for e in await audit_events(worker, "api_refused") if e.get("reason") == "refused_by_policy"]
    assert len(refusals) == 1 and refusals[0]["tool"] == "send_email" and "mail-no-rivals" in refusals[0]["policy"]
    allowed = await audit_events(worker, "allowed")
    assert len(allowed) == 1 and "mail-" in allowed[0].get("policy", ""), allowed


@pytest.mark.slow
async def test_claude_codes_hooks(policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path) -> None:
    worker = await policy_worker(BUNDLE)
    key = (await new_key(worker, "claude-code")).key
    destroy = {"command": "rm -rf build; echo ran >> ran.txt", "description": "Clean and record"}
    model = FakeAnthropic()
    await model.start()
    try:
        cli = claude(tmp_path, model, worker.url, key, "--wait", "30")
        (cli.project / "notes.txt").write_text("the prices go up in May\n")
        done = await cli.run(("Bash", destroy), ("Read", {"file_path": str(cli.project / "notes.txt")}))
    finally:
        await model.stop()
    refused, read = done.told
    reason = f"destructive commands never run ({destroy['command']})"
    assert refused["error"] and reason in refused["text"], refused
    assert runs(cli.project) == 0  # the Bash call never ran
    assert not read["error"] and "the prices go up in May" in read["text"]  # reads: allowed at once
    # the bot's own HTTP hook (`install --http`) is decided by the same evaluation
    hook = {"session_id": "s-2", "cwd": str(cli.project), "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": destroy, "tool_use_id": "toolu_2"}
    status, body, _ = await Client(worker, key).call("POST", "/api/v1/hooks/claude-code?wait=5", body=hook)
    out = body["hookSpecificOutput"]
    assert status == 200 and out["permissionDecision"] == "deny" and reason in out["permissionDecisionReason"], body
    assert slack.messages(APPROVALS) == []


def outbox(tmp_path: Path) -> list[str]:
    folder = tmp_path / "outbox"
    return sorted(path.read_text() for path in folder.glob("*.eml")) if folder.exists() else []


async def test_the_bots_own_runs(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    """The demo model's `email` team under `--mode policy`, whose risk words would ask about any `send_email`: the
    bundle's permit runs it with no card, its forbid ends the run rejected with the reason, its ask is a card."""
    folder = write_bundle(tmp_path / "policies", BUNDLE)
    async with bot(slack, redis_url, tmp_path, DEMO, POLICY_DIR=str(folder)) as worker:
        allowed = await start(slack, "--mode policy --team email Tell bob@example.com about the price change")
        assert (await finished(worker, allowed)).status == "completed"
        assert [mail for mail in outbox(tmp_path) if "To: bob@example.com" in mail] and cards(slack) == []

        refused = await start(slack, "--mode policy --team email Tell eve@rival.com about the price change")
        run = await finished(worker, refused)
        assert run.status == "rejected" and RIVAL_REASON in run.reason, (run.status, run.reason)
        assert len(outbox(tmp_path)) == 1 and cards(slack) == []

        asked = await start(slack, "--mode policy --team email Tell carol@partner.org about the price change")
        card = await nth_card(slack, 1)
        shown = text_of(card)
        assert "`send_email`" in shown and f"Policy mail-elsewhere: {PARTNER_REASON}" in shown, shown
        await click(slack, card, "approval_approve", user=BOB)
        assert (await finished(worker, asked)).status == "completed"
        await until(lambda: len(outbox(tmp_path)) == 2, what="the approved email in the outbox")
        decided = [(e["run"], e["outcome"], e["by"]) for e in await audit_events(worker, "auto_approved",
                                                                                  "auto_rejected")]
        assert (allowed, "approved", "policy") in decided and (refused, "rejected", "policy") in decided, decided
        stored = [a for a in await worker.services.store.approvals.of_run(asked) if a.kind == "tool_call"]
        assert [json.loads(a.policy)["ids"] for a in stored] == [["mail-elsewhere"]]
