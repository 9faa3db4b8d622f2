"""Fit to decide (issue 80.5): an approval a policy (`@require_attestation("refunds")`) or a channel
(`require_attestation true`) marks needs each approver's current attestation to its brief. The brief is written by
its owner in a modal (`/agent attest brief refunds`); a person attests (`/agent attest refunds`); an admin grants or
revokes (`/agent attest grant|revoke @person refunds`); each audited. A vote without a current attestation is refused
with the words to get one and audited (`refused`, action "vote"); an ended one is refused again (the service's
clock moved); a reminder comes once, a week before. The real Bolt app over signed HTTP, the local Slack, Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.devslack.blockkit import validate_view
from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import ACTION_APPROVE
from tests.conftest import ALICE, BOB, CAROL, SALES, StartPolicyWorker, Worker, name_admins
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import click, command, nth_card, text_of, until

REFUNDS = '''
@id("refunds-ask")
@outcome("ask")
@require_attestation("refunds")
@reason("a refund: a person fit to decide refunds checks it")
forbid (principal, action == Action::"refund", resource);
'''
BRIEF = "Refunds over $50 need the order's receipt.\n<!channel> is not how we ask: read the policy first."
DAY = 86400


async def audited(worker: Worker, event: str) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == event]


async def write_brief(slack: SlackStandIn, *, user: str = ALICE, valid: str = "90d") -> str:
    """`/agent attest brief refunds` as `user`, its modal (valid Block Kit) filled and saved; the reply."""
    before = {v["id"] for v in slack.open_views(user)}
    said = await command(slack, "attest brief refunds", user=user)
    views = await slack.wait_for(lambda: [v for v in slack.open_views(user) if v["id"] not in before])
    view: dict[str, Any] = views[-1]
    assert view["view"]["callback_id"] == "attest_brief_modal"
    assert validate_view({k: view["view"][k] for k in ("type", "title", "submit", "close", "blocks")}) is None
    answer = await slack.submit_view(user=user, view_id=view["id"], values={
        "attest_brief_text": {"text": BRIEF}, "attest_brief_valid": {"valid": valid}})
    assert answer.status == 200
    return said


async def refund_card(worker: Worker, slack: SlackStandIn, n: int, key: str) -> tuple[str, dict[str, Any]]:
    status, answer = await Client(worker, key).ask(tool_ask(tool={"name": "refund", "arguments": {"order": f"A-{n}"}}))
    assert status == 201, answer
    return str(answer["id"]), await nth_card(slack, n)


async def told(slack: SlackStandIn, user: str, before: int) -> str:
    found = await slack.wait_for(lambda: slack.ephemerals(user)[before:], description=f"{user}'s answer")
    return str(found[-1]["text"])


async def test_a_vote_without_a_current_attestation_is_refused_then_counts_once_attested_and_not_once_ended(
    policy_worker: StartPolicyWorker, slack: SlackStandIn,
) -> None:
    worker = await policy_worker({"refunds.cedar": REFUNDS}, ADMIN_USERS=ALICE)
    key = (await new_key(worker, "refunder")).key
    assert "Nobody has written the brief `refunds` yet" in await command(slack, "attest refunds", user=BOB)
    assert not await audited(worker, "attested")
    await write_brief(slack)
    brief = await worker.services.store.attestations.brief("policy:refunds")
    assert brief is not None and brief.text == BRIEF and brief.valid == 90 * DAY
    assert [(e["by"], e["scope"]) for e in await audited(worker, "attestation_brief")] == [(ALICE, "policy:refunds")]

    approval_id, card = await refund_card(worker, slack, 1, key)
    before = len(slack.ephemerals(BOB))
    await click(slack, card, ACTION_APPROVE, user=BOB)
    said = await told(slack, BOB, before)
    assert "needs your current attestation to the brief `refunds`" in said and "`/agent attest refunds`" in said
    record = await worker.services.store.approvals.get(approval_id)
    assert record is not None and record.pending and record.attest == ("policy:refunds",)
    assert "needs your current attestation to the brief of `refunds`" in text_of(card)
    assert validate_view({"type": "modal", "title": {"type": "plain_text", "text": "card"},
                          "blocks": card["blocks"]}) is None
    refused = [e for e in await audited(worker, "refused") if e.get("action") == "vote"]
    assert [(e["by"], e["approval"], e["scope"]) for e in refused] == [(BOB, approval_id, "policy:refunds")]
    assert "/agent attest refunds" in refused[0]["reason"]

    said = await command(slack, "attest refunds", user=BOB)
    assert said.startswith("You attested to the brief `refunds`"), said
    (entry,) = await audited(worker, "attested")
    assert (entry["by"], entry["scope"]) == (BOB, "policy:refunds")
    assert abs(float(entry["until"]) - (time.time() + 90 * DAY)) < 60
    await click(slack, card, ACTION_APPROVE, user=BOB)

    async def approved() -> bool:
        found = await worker.services.store.approvals.get(approval_id)
        return found is not None and found.status == "approved" and found.decided_by == BOB

    await until(approved, what="the approval approved by Bob")

    second, card = await refund_card(worker, slack, 2, key)
    worker.services.approvals.decisions.clock = lambda: time.time() + 91 * DAY  # 91 days on: Bob's has ended
    before = len(slack.ephemerals(BOB))
    await click(slack, card, ACTION_APPROVE, user=BOB)
    assert "needs your current attestation" in await told(slack, BOB, before)
    record = await worker.services.store.approvals.get(second)
    assert record is not None and record.pending
    assert len([e for e in await audited(worker, "refused") if e.get("action") == "vote"]) == 2


async def test_an_admin_grants_and_revokes_and_anyone_else_is_refused_and_audited(
    policy_worker: StartPolicyWorker, slack: SlackStandIn,
) -> None:
    worker = await policy_worker({"refunds.cedar": REFUNDS}, ADMIN_USERS=ALICE)
    await write_brief(slack)
    refused = await command(slack, "attest grant @carol refunds", user=BOB)
    assert refused.startswith("Only the operator's admins (ADMIN_USERS) may grant attestations to the brief"), refused
    (entry,) = [e for e in await audited(worker, "refused") if e.get("action") == "attestation_grant"]
    assert (entry["by"], entry["scope"]) == (BOB, "policy:refunds")
    assert not await audited(worker, "attestation_granted")
    assert await command(slack, "attest brief refunds", user=BOB) != ""  # no modal for Bob: refused too
    assert not [v for v in slack.open_views(BOB) if v["view"]["callback_id"] == "attest_brief_modal"]

    for bad in ("attest grant carol refunds", "attest Refunds!", "attest brief", "attest revoke @carol"):
        assert (await command(slack, bad, user=ALICE)).startswith("Usage: `/agent attest NAME|#channel`"), bad
    granted = await command(slack, "attest grant @carol refunds", user=ALICE)
    assert granted.startswith(f"Granted: <@{CAROL}>"), granted
    (entry,) = await audited(worker, "attestation_granted")
    assert (entry["by"], entry["person"], entry["scope"]) == (ALICE, CAROL, "policy:refunds") and entry["until"]
    key = (await new_key(worker, "refunder")).key
    _, card = await refund_card(worker, slack, 1, key)
    revoked = await command(slack, "attest revoke @carol refunds", user=ALICE)
    assert revoked.startswith(f"Revoked: <@{CAROL}>"), revoked
    (entry,) = await audited(worker, "attestation_revoked")
    assert (entry["by"], entry["person"], entry["scope"]) == (ALICE, CAROL, "policy:refunds")
    before = len(slack.ephemerals(CAROL))
    await click(slack, card, ACTION_APPROVE, user=CAROL)
    assert "needs your current attestation" in await told(slack, CAROL, before)
    assert "holds no attestation" in await command(slack, "attest revoke @carol refunds", user=ALICE)


async def test_a_channel_that_requires_it_refuses_and_a_reject_never_needs_it(
    worker: Worker, slack: SlackStandIn,
) -> None:
    await name_admins(worker, ALICE)
    assert "require_attestation" in await command(slack, "config require_attestation true", user=ALICE)
    key = (await new_key(worker, "mailer")).key
    approval_id, card = await refund_card(worker, slack, 1, key)
    before = len(slack.ephemerals(BOB))
    await click(slack, card, ACTION_APPROVE, user=BOB)
    said = await told(slack, BOB, before)
    assert f"the brief of <#{SALES}>" in said and f"`/agent attest <#{SALES}>`" in said
    record = await worker.services.store.approvals.get(approval_id)
    assert record is not None and record.attest == (f"channel:{SALES}",)
    lowered = await command(slack, "config require_attestation false", user=BOB)  # only an admin lowers it
    assert "unchanged" in lowered and (await worker.services.approvals.channel_settings(SALES)).require_attestation
    await click(slack, card, "approval_reject", user=BOB)  # the reject modal opens: stopping needs no attestation
    await until(lambda: [v for v in slack.open_views(BOB) if v["view"]["callback_id"] == "approval_reject_modal"],
                what="the reject modal")


async def test_a_reminder_comes_once_a_week_before_an_attestation_ends(
    policy_worker: StartPolicyWorker, slack: SlackStandIn,
) -> None:
    worker = await policy_worker({"refunds.cedar": REFUNDS}, ADMIN_USERS=ALICE)
    await write_brief(slack, valid="30d")
    await command(slack, "attest refunds", user=BOB)
    dm = slack.dm_channel(BOB)
    nudger = worker.services.nudger
    assert await nudger.sweep(now=time.time() + 22 * DAY) == 0  # not yet
    assert await nudger.sweep(now=time.time() + 23 * DAY + 60) == 1
    reminders = [m for m in slack.messages(dm) if "Your attestation to the brief `refunds` ends" in m.get("text", "")]
    assert len(reminders) == 1 and "`/agent attest refunds`" in reminders[0]["text"]
    assert await nudger.sweep(now=time.time() + 24 * DAY) == 0  # once
    assert len([m for m in slack.messages(dm) if "Your attestation" in m.get("text", "")]) == 1


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_the_decide_step_itself_refuses_an_attestation_revoked_since_the_check(
    policy_worker: StartPolicyWorker, slack: SlackStandIn,
) -> None:
    """The service checks a voter's attestation before the decide step; the step checks it again in the same atomic
    write that counts the vote, so one revoked (or ended) between the two never counts: the step itself refuses,
    audited, and the approval stays pending."""
    worker = await policy_worker({"refunds.cedar": REFUNDS}, ADMIN_USERS=ALICE)
    key = (await new_key(worker, "refunder")).key
    await write_brief(slack)
    store = worker.services.store
    await store.attestations.attest(BOB, "policy:refunds", valid=90 * DAY, by=BOB)
    approval_id, _ = await refund_card(worker, slack, 1, key)
    checked = await worker.services.approvals.decisions.may_decide(BOB, "slack", "approve", approval_id=approval_id)
    assert checked.status == "allowed"  # the service's own check passes: BOB holds a current one
    assert await store.attestations.revoke(BOB, "policy:refunds", by=ALICE)  # revoked right after that check
    decided = await store.approvals.decide(approval_id, outcome="approved", by=BOB, check_auth=True,
                                           in_groups=False, principals=())
    assert decided.status == "attestation", decided.status
    record = await store.approvals.get(approval_id)
    assert record is not None and record.pending and not record.voters
    refused = [e for e in await audited(worker, "refused") if e.get("action") == "vote"]
    assert [(e["by"], e["scope"], e["outcome"]) for e in refused] == [(BOB, "policy:refunds", "approved")], refused
    said = await worker.services.approvals.decisions.decide(BOB, "slack", "approve", approval_id=approval_id)
    assert said.status == "attestation" and said.attest == "policy:refunds"  # the service's words name it
