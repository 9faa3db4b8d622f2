"""Revise a tool call field by field (issue #36): a value of the wrong kind is refused on its field; Save &
approve approves the edited call for its editor, audited as an edit and an approval; under a quorum it is one
vote; the card that follows says what changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, CAROL, Worker
from tests.support.api import Client
from tests.support.hitl import (
    audit_events,
    bot,
    call,
    click,
    command,
    finished,
    nth_card,
    open_modal,
    replay,
    start,
    text_of,
    until,
)
from tests.support.homes import approval_id_of
from tests.support.policies import write_bundle

EMAIL = {"to": "bob@example.com", "subject": "Price change", "body": "Dear Bob,\nPrices change on May 1."}
TASK = "--team email Tell bob@example.com about the price change"


def outbox(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


@pytest.mark.slow
async def test_save_and_approve_sends_the_edited_call_and_says_what_changed(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    model = replay(call("send_email", EMAIL), "Sent it to Carol.")
    async with bot(slack, redis_url, tmp_path, model) as worker:
        run_id = await start(slack, TASK)
        view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        fields = {b["block_id"]: b for b in view["view"]["blocks"] if b["type"] == "input"}
        assert fields["arg_0"]["element"]["initial_value"] == "bob@example.com"
        assert fields["arg_2"]["element"]["initial_value"] == EMAIL["body"] and fields["arg_2"]["element"]["multiline"]
        assert fields["then"]["element"]["initial_option"]["value"] == "approve"  # bob may approve
        answer = await slack.submit_view(
            user=BOB, view_id=view["id"],
            values={"arg_0": {"arg_input": "carol@example.com"}, "then": {"then_input": "approve"}},
        )
        assert answer.status == 200 and not answer.body.strip()
        edited = await nth_card(slack, 2)
        shown = text_of(edited)
        assert "Changed: to: bob@example.com → carol@example.com" in shown and "*to*\ncarol@example.com" in shown
        await until(lambda: outbox(tmp_path), what="the edited email, approved by its editor")
        decisions = [(e["outcome"], e["by"]) for e in await audit_events(worker, "decision")]
        assert decisions == [("revised", BOB), ("approved", BOB)]  # an edit, then an approval
        turn = await nth_card(slack, 3)  # the human's turn: the run goes on after the edited call
        await click(slack, turn, "approval_approve", user=CAROL)
        assert (await finished(worker, run_id)).status == "completed"


async def test_under_a_quorum_save_and_approve_is_one_vote(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    model = replay(call("send_email", EMAIL), "Sent it to Carol.")
    async with bot(slack, redis_url, tmp_path, model):
        assert "2" in await command(slack, "config required_approvals 2")
        await start(slack, TASK)
        await save_and_approve(slack, to="carol@example.com")
        edited = await nth_card(slack, 2)
        await until(lambda: "1 of 2 approvals" in text_of(slack_current(slack, edited)), what="bob's vote")
        assert not outbox(tmp_path)  # one vote of two: nothing sent yet


async def save_and_approve(slack: SlackStandIn, *, to: str) -> None:
    """Bob edits the first card's `to` and chooses Save & approve."""
    view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
    await slack.submit_view(user=BOB, view_id=view["id"],
                            values={"arg_0": {"arg_input": to}, "then": {"then_input": "approve"}})


def slack_current(slack: SlackStandIn, card: dict[str, object]) -> dict[str, object]:
    return next(m for m in slack.messages(str(card["channel"])) if m["ts"] == card["ts"])


async def test_a_value_of_the_wrong_kind_is_refused_on_its_field(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", EMAIL), "unused")):
        await start(slack, TASK)
        view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        refused = await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arg_0": {"arg_input": "not an address"}}
        )
        assert refused.json["response_action"] == "errors"
        assert list(refused.json["errors"]) == ["arg_0"] and "schema" in refused.json["errors"]["arg_0"]
        assert not outbox(tmp_path)


EDITED_POLICIES = {
    "mail.cedar": '''
@id("mail-outside")
@outcome("ask")
@approvers("U0CAROL")
@reason("{args.to} is outside example.com: Carol checks it")
forbid (principal, action == Action::"send_email", resource)
when { !(context.args.to like "*@example.com") };

@id("mail-budget")
@outcome("ask")
@approvers("U0CAROL")
@reason("more than one email an hour")
forbid (principal, action == Action::"send_email", resource)
when { context.window.mails_1h >= 1 };
''',
    "policy.yaml": "windows:\n  mails_1h: {count: true, per: [action], over: 1h, actions: [send_email]}\n",
}


async def test_an_edited_call_is_a_new_call_the_policies_route(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """#51.7: the policies and windows decide the edited call before any vote counts: an edit the policies route
    to Carol is never approved by its editor alone (Save & approve is then Bob's vote, refused), and the window
    counts the edited call once, the original not at all after its revision."""
    model = replay(call("send_email", EMAIL), "Sent it.")
    folder = write_bundle(tmp_path / "policies", EDITED_POLICIES)
    async with bot(slack, redis_url, tmp_path, model, POLICY_DIR=str(folder)) as worker:
        await start(slack, TASK)
        await save_and_approve(slack, to="eve@rival.com")
        edited = await nth_card(slack, 2)
        shown = text_of(edited)
        assert "Policy mail-outside: eve@rival.com is outside example.com: Carol checks it" in shown, shown
        assert "more than one email an hour" not in shown  # the revised original no longer counts
        await until(lambda: _refused_vote(worker), what="Bob's Save & approve refused on the routed call")
        pending = await worker.services.store.approvals.get(approval_id_of(edited))
        assert pending is not None and pending.pending
        assert pending.approvers == (CAROL,) and pending.voters == []  # Bob's Save & approve did not count
        assert not outbox(tmp_path)
        await click(slack, edited, "approval_approve", user=CAROL)
        await until(lambda: outbox(tmp_path), what="the edited email, approved by Carol")
        decisions = [(e["outcome"], e["by"]) for e in await audit_events(worker, "decision")]
        assert decisions == [("revised", BOB), ("approved", CAROL)]


async def _refused_vote(worker: Worker) -> bool:
    return any(e.get("by") == BOB for e in await audit_events(worker, "refused"))


async def test_a_programs_call_offers_no_save_and_approve(emailer: tuple[Worker, str], slack: SlackStandIn) -> None:
    """A program asks about an edited call anew itself (a new card nobody voted on): its Revise form offers no
    Save & approve, which would say a vote counted that never does."""
    worker, key = emailer
    status, asked, _ = await Client(worker, key).call("POST", "/api/v1/approvals", body={
        "kind": "tool", "title": "Tell Bob", "tool": {"name": "send_email", "arguments": EMAIL}})
    assert status == 201, asked
    view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
    blocks = {b.get("block_id") for b in view["view"]["blocks"]}
    assert "arg_0" in blocks and "then" not in blocks, blocks


FORBIDDING_POLICIES = {
    "mail.cedar": '''
@id("mail-no-rivals")
@reason("never to a rival")
forbid (principal, action == Action::"send_email", resource)
when { context.args.to like "*@rival.com" };
''',
}


@pytest.mark.slow
async def test_an_edit_the_policies_forbid_is_refused_not_approved_by_its_editor(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """#51.7: a forbid on the edited call refuses it: the editor's Save & approve does not run it."""
    model = replay(call("send_email", EMAIL), "Sent it.")
    folder = write_bundle(tmp_path / "policies", FORBIDDING_POLICIES)
    async with bot(slack, redis_url, tmp_path, model, POLICY_DIR=str(folder)) as worker:
        await start(slack, TASK)
        await save_and_approve(slack, to="eve@rival.com")
        await until(lambda: _policy_refusal(worker), what="the edited call refused by a policy")
        assert not outbox(tmp_path)
        decisions = [(e["outcome"], e["by"]) for e in await audit_events(worker, "decision")]
        assert ("approved", BOB) not in decisions, decisions
        refused = await audit_events(worker, "auto_rejected")
        assert [(e["by"], e["tool"]) for e in refused] == [("policy", "send_email")], refused
        assert '"ids":["mail-no-rivals"]' in refused[0]["policy"]


async def _policy_refusal(worker: Worker) -> bool:
    return bool(await audit_events(worker, "auto_rejected"))
