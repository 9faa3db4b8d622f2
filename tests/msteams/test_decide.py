"""Deciding in Microsoft Teams as a user runs it (issue 81's "Tested as a user runs it"): a real worker serving Slack
and Teams (the SDK's app at `/teams/messages`, every request's token verified), the local Slack and the local Bot
Connector (bot/devmsteams/: it signs what it sends, keeps what the bot sends), a program asking through the Approvals
API. A card in a Slack channel and in a Teams channel; a non-approver sees no buttons and their forged invoke is
refused; a quorum of a Teams approver and a Slack approver, one person counting once on both surfaces; a replayed
and a concurrent invoke counting once; Slack's decision redrawing the Teams card; a freeze refusing a Teams approve;
no hidden value sent to Teams; another tenant's user and a guest refused and audited; the receipt verifying, the same
whichever surface decided; the audit naming the person and `surface: teams`."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.approver import digest_of
from agent_approvals.receipts import verify

from bot.approvals.revisions import NOT_EDITABLE
from bot.devmsteams import TeamsStandIn
from bot.devmsteams.simulate import deliver
from bot.devslack.server import SlackStandIn
from bot.msteams.cards import plain
from bot.store import StoreUnavailable
from tests.conftest import BOB, CAROL, SALES
from tests.support.api import EMAIL, SCHEMA, Client, new_key, tool_ask
from tests.support.hitl import audit_events, click, nth_card, until
from tests.support.signing import ISSUER, jwks_of, verified
from tests.support.teams import (
    APPROVE,
    DANA_OID,
    World,
    card_nodes,
    cards,
    field_inputs,
    notice_of,
    shown_notice,
    start_teams_worker,
    verbs,
)


async def test_an_ask_posts_a_card_in_slack_and_in_teams(world: World) -> None:
    approval = await world.ask()
    slack_card = await nth_card(world.slack, 1)
    assert approval in json.dumps(slack_card["blocks"])
    activity = await world.teams_card(approval)
    shown = world.card_now(activity)
    assert verbs(shown) == set()  # read-only for everyone in the channel
    assert set(shown["refresh"]["userIds"]) == {world.bob, world.dana}  # the approvers see buttons
    assert shown["refresh"]["action"]["data"] == {"approval": approval}
    conversation = await world.worker.services.store.msteams.conversation(world.channel)
    assert conversation is not None and conversation.kind == "channel"


async def test_a_non_approver_sees_no_buttons_and_their_forged_invoke_is_refused(world: World) -> None:
    approval = await world.ask()
    activity = await world.teams_card(approval)
    with pytest.raises(LookupError):  # Teams does not refresh the card for someone not in its userIds
        await world.teams.refresh(world.channel, activity, world.carol)
    status, body = await world.teams.refresh(world.channel, activity, world.bob)
    assert status == 200 and {APPROVE, "reject"} <= verbs(body["value"])  # an approver's refresh: buttons
    status, body = await world.signed_invoke(activity, world.carol, APPROVE, approval)
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert verbs(body["value"]) == set() and "Nothing changed" in notice_of(body)
    said = body["value"]["body"][0]["text"]  # the notice on top, in the Slack path's words, people by name
    assert said.startswith("Only") and "Dana" in said and "teams:" not in said and "<@" not in said
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.voters == []
    refused = [e for e in await audit_events(world.worker, "refused") if e.get("approval") == approval]
    assert [e["by"] for e in refused] == [CAROL]  # the decide step audits it, naming the person


async def test_forged_tokens_are_refused_before_anything(world: World) -> None:
    approval = await world.ask()
    activity = await world.teams_card(approval)
    await world.teams.refresh(world.channel, activity, world.bob)
    for forgery in ("none", "other_key", "wrong_audience", "expired", "no_exp"):  # #87: a token with no end too
        status, _ = await world.teams.forged(world.channel, activity, world.bob, APPROVE, {"approval": approval},
                                             forgery=forgery)
        assert status == 401, forgery
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending"


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_teams_and_a_slack_approver_make_a_quorum_the_same_person_once(world: World) -> None:
    store = world.worker.services.store
    assert await store.settings.set(SALES, "required_approvals", "2", by="operator") is None
    approval = await world.ask()
    await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)  # Bob, in Slack
    await until(lambda: world.worker.services.store.approvals.get(approval), what="the approval")
    activity = await world.teams_card(approval)
    again = await world.execute(activity, world.bob, APPROVE, approval)  # Bob again, in Teams: the same person
    assert "already counts" in notice_of(again)
    got = await store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.voters == [BOB]
    await world.execute(activity, world.dana, APPROVE, approval)  # Dana, in Teams: the second
    got = await store.approvals.get(approval)
    assert got is not None and got.status == "approved"
    decision = [e for e in await audit_events(world.worker, "decision") if e.get("approval") == approval]
    assert decision and decision[-1]["by"] == world.dana_person and decision[-1]["surface"] == "teams"


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_replayed_and_a_concurrent_invoke_count_once(world: World) -> None:
    store = world.worker.services.store
    assert await store.settings.set(SALES, "required_approvals", "2", by="operator") is None
    approval = await world.ask()
    activity = await world.teams_card(approval)
    await world.teams.refresh(world.channel, activity, world.dana)
    data = {"approval": approval}
    both = await asyncio.gather(*(world.teams.execute(world.channel, activity, world.dana, APPROVE, data)
                                  for _ in range(2)))
    assert [status for status, _ in both] == [200, 200]
    replayed = world.teams.delivered[-1].activity  # the same invoke sent again, as a retry does
    again = await deliver(world.teams.messaging_url, replayed, world.teams.signin.bot_token())
    assert again.status == 200
    got = await store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.voters == [world.dana_person]
    votes = [e for e in await audit_events(world.worker, "vote") if e.get("approval") == approval]
    assert len(votes) == 1 and votes[0]["surface"] == "teams"


async def test_slacks_decision_redraws_the_teams_card(world: World) -> None:
    approval = await world.ask()
    activity = await world.teams_card(approval)
    await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)

    def redrawn() -> dict[str, Any] | None:
        card = world.card_now(activity)
        return card if "refresh" not in card and "Approved" in json.dumps(card) else None

    card = await until(redrawn, what="the Teams card redrawn decided")
    assert verbs(card) == set() and "Bob" in json.dumps(card)
    status, body = await world.signed_invoke(activity, world.dana, APPROVE, approval)
    assert status == 200 and "already approved" in notice_of(body)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_freeze_refuses_a_teams_approve(world: World) -> None:
    store = world.worker.services.store
    approval = await world.ask()
    activity = await world.teams_card(approval)
    assert await store.freezes.freeze("all", reason="incident 42", by="U0ADMIN")
    body = await world.execute(activity, world.dana, APPROVE, approval)
    assert "Frozen" in notice_of(body) and "incident 42" in notice_of(body)
    assert "reject" in verbs(body["value"])  # "Reject still works": their buttons stay
    got = await store.approvals.get(approval)
    assert got is not None and got.status == "pending"
    status, _ = await world.teams.execute(world.channel, activity, world.dana, "reject", {"approval": approval},
                                          {"reason": "frozen anyway"})
    got = await store.approvals.get(approval)
    assert status == 200 and got is not None and got.status == "rejected"


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_no_hidden_value_is_sent_to_teams(world: World) -> None:
    card_number, token = "4111 1111 1111 1111", "ghp_" + "a1B2" * 9
    approval = await world.ask(title=f"Pay with {card_number}",
                               tool={"name": "send_email", "arguments": {**EMAIL, "body": f"token {token}"}})
    activity = await world.teams_card(approval)
    await world.execute(activity, world.dana, APPROVE, approval)
    sent = json.dumps([call.body for call in world.teams.sent]) + json.dumps(
        [d.body for d in world.teams.delivered])
    assert approval in sent
    for hidden in (card_number, card_number.replace(" ", ""), token):
        assert hidden not in sent


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_another_tenants_user_and_a_guest_are_refused_and_audited(world: World) -> None:
    approval = await world.ask()
    activity = await world.teams_card(approval)
    other_oid = str(uuid.uuid4())
    outsider = world.teams.add_member(name="Olga", email="olga@fabrikam.example", object_id=other_oid,
                                      tenant_id=str(uuid.uuid4()))
    guest_oid = str(uuid.uuid4())
    guest = world.teams.add_member(name="Gus", email="gus@example.org", object_id=guest_oid, role="guest")
    world.teams.state.conversation(world.channel).members.extend([outsider, guest])
    for user in (outsider, guest):
        status, body = await world.signed_invoke(activity, user, APPROVE, approval)
        assert status == 200 and verbs(body.get("value") or {}) == set()
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.voters == []
    refused = {e["by"]: e for e in await audit_events(world.worker, "refused")}
    assert refused[f"teams:{other_oid}"]["surface"] == "teams"
    assert refused[f"teams:{guest_oid}"]["surface"] == "teams"


@pytest.mark.slow
async def test_the_receipt_verifies_and_is_the_same_whichever_surface_decided(world: World) -> None:
    first = await world.ask()
    await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)  # Bob in Slack
    second = await world.ask()
    activity = await world.teams_card(second)
    await world.execute(activity, world.bob, APPROVE, second)  # Bob in Teams
    key = await world.worker.services.store.api_keys.get("nightly")
    assert key is not None
    jwks = await jwks_of(world.worker)
    claims = []
    for approval in (first, second):
        answer = await world.client.wait(approval)
        receipt = answer["receipt"]
        _, read = await verified(world.worker, receipt)
        assert verify(receipt, jwks, tool="send_email", arguments=EMAIL, audience=key.id, issuer=ISSUER) == read
        claims.append(read)
    assert claims[0]["decided_by"] == claims[1]["decided_by"] == [{"type": "person", "id": BOB, "name": "bob"}]
    same = {"iat", "exp", "jti", "sub", "audit", "nbf"}
    assert {k: v for k, v in claims[0].items() if k not in same} == {
        k: v for k, v in claims[1].items() if k not in same}
    decision = [e for e in await audit_events(world.worker, "decision") if e.get("approval") == second]
    assert decision[-1]["by"] == BOB and decision[-1]["surface"] == "teams"


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_reject_and_revise_from_teams_send_their_words(world: World) -> None:
    store = world.worker.services.store
    rejected = await world.ask()
    activity = await world.teams_card(rejected)
    await world.execute(activity, world.dana, "reject", rejected, reason="not before the board meets")
    got = await store.approvals.get(rejected)
    assert got is not None and got.status == "rejected" and got.feedback == "not before the board meets"
    revised = await world.ask()
    activity = await world.teams_card(revised)
    await world.execute(activity, world.dana, "revise", revised, reason="say 5%, not 9%",
                        arguments=json.dumps(EMAIL, indent=2))  # (the form's arguments, as the card showed them)
    got = await store.approvals.get(revised)
    assert got is not None and got.status == "revised" and got.feedback == "say 5%, not 9%"
    decision = [e for e in await audit_events(world.worker, "decision") if e.get("approval") == revised]
    assert decision[-1]["by"] == world.dana_person and decision[-1]["surface"] == "teams"


@pytest.mark.slow
async def test_step_up_holds_a_teams_approve_until_the_passkey(world: World) -> None:
    store = world.worker.services.store
    assert await store.settings.set(SALES, "step_up", "always", by="operator") is None
    approval = await world.ask()
    activity = await world.teams_card(approval)
    body = await world.execute(activity, world.bob, APPROVE, approval)
    assert "passkey" in notice_of(body).lower()  # the step-up words, as the Slack path says them
    got = await store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.voters == []


@pytest.mark.slow
async def test_a_teams_click_while_redis_is_down_is_answered_and_changes_nothing(
    slack: SlackStandIn, teams: TeamsStandIn, tmp_path: Path
) -> None:
    from tests.conftest import start_redis

    (tmp_path / "redis").mkdir()
    server = start_redis(workdir=str(tmp_path / "redis"), appendonly=True)
    dana = teams.add_member(name="Dana Diaz", email="dana@contoso.example", object_id=DANA_OID)
    channel = teams.add_conversation("channel", "Approvals", [dana])
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(f"people:\n  - {{object_id: {DANA_OID}, name: Dana}}\n"
                          f"routes:\n  {SALES}: {{conversation: \"{channel}\"}}\n")
    worker = await start_teams_worker(slack, teams, server.url, TEAMS_FILE=str(teams_file), REDIS_TIMEOUT="1")
    try:
        assert await teams.install(channel) == 200
        store = worker.services.store
        assert await store.settings.set(SALES, "approvers", f"teams:{DANA_OID}", by="operator") is None
        status, asked = await Client(worker, (await new_key(worker)).key).ask(tool_ask())
        assert status == 201, asked
        activity = await until(lambda: [a for a, card in cards(teams, channel) if asked["id"] in json.dumps(card)],
                               what="the card in Teams")
        await teams.refresh(channel, activity[0], dana)
        server.process.terminate()  # Redis stopped (the AOF keeps the approval)
        server.process.wait(timeout=10)
        status, body = await teams.execute(channel, activity[0], dana, APPROVE, {"approval": asked["id"]})
        assert status == 200 and "cannot reach its storage" in json.dumps(body)  # said, never the SDK's 500
        server = start_redis(port=server.port, workdir=server.workdir, appendonly=True)

        async def still_pending() -> bool:
            try:
                got = await store.approvals.get(asked["id"])
            except StoreUnavailable:
                return False
            return got is not None and got.status == "pending" and got.voters == []

        await until(still_pending, within=20, what="the approval read again, unchanged")
    finally:
        await worker.stop()
        if server.process.poll() is None:
            server.process.terminate()
            server.process.wait(timeout=10)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_click_naming_another_approval_than_its_card_is_refused(world: World) -> None:
    store = world.worker.services.store
    shown = await world.ask()
    other = await world.ask(title="Another ask")
    activity = await world.teams_card(shown)
    await world.teams_card(other)
    status, body = await world.signed_invoke(activity, world.dana, APPROVE, other)  # the card shows `shown`
    assert status == 200 and "does not belong to this card" in notice_of(body)
    got = await store.approvals.get(other)
    assert got is not None and got.status == "pending" and got.voters == []
    refused = [e for e in await audit_events(world.worker, "refused") if e.get("approval") == other]
    assert [(e["by"], e["reason"], e["surface"]) for e in refused] == [
        (world.dana_person, "approval not on this card", "teams")]


def arguments_inputs(card: dict[str, Any]) -> list[str]:
    """The Revise form's arguments inputs as the card prefills them (the stored, redacted arguments)."""
    return [str(n.get("value")) for n in card_nodes(card)
            if n.get("type") == "Input.Text" and n.get("id") == "arguments"]


@pytest.mark.slow
async def test_a_teams_revise_with_edited_arguments_reaches_the_program_as_slacks_does(world: World) -> None:
    """The edited call goes to the program as the Slack modal's JSON edit sends it: decided revised, the edited
    arguments (and their digest) in the API's answer, the note with them, the audit naming Dana and Teams."""
    approval = await world.ask()
    activity = await world.teams_card(approval)
    edited = {**EMAIL, "to": "carol@example.com"}
    body = await world.execute(activity, world.dana, "revise", approval, reason="ask Carol first",
                               arguments=json.dumps(edited))
    assert "Nothing was run" not in notice_of(body)
    answer = await world.client.wait(approval)
    assert answer["status"] == "revised" and answer["arguments"] == edited and answer["edited"] is True
    assert answer["digest"] == digest_of(edited)
    assert answer["refusal"].endswith(f"Edited arguments to use instead: {json.dumps(edited)}.")
    assert "ask Carol first" in answer["feedback"]
    decision = [e for e in await audit_events(world.worker, "decision") if e.get("approval") == approval]
    assert decision[-1]["by"] == world.dana_person and decision[-1]["surface"] == "teams"
    assert decision[-1]["outcome"] == "revised"


@pytest.mark.slow
async def test_a_hidden_value_left_as_its_mask_is_kept_whole_and_never_sent_to_teams(world: World) -> None:
    card_number = "4111 1111 1111 1111"
    arguments = {**EMAIL, "body": f"Refund {card_number} today."}
    approval = await world.ask(tool={"name": "send_email", "arguments": arguments, "schema": SCHEMA})
    activity = await world.teams_card(approval)
    await world.teams.refresh(world.channel, activity, world.dana)
    shown = {name: field["value"] for name, field in field_inputs(world.card_now(activity, world.dana)).items()}
    assert card_number not in json.dumps(shown) and shown["body"] != arguments["body"]  # (masked on the card)
    body = await world.execute(activity, world.dana, "revise", approval, reason="",
                               arguments=json.dumps({**shown, "to": "carol@example.com"}))
    assert "Nothing was run" not in notice_of(body)
    answer = await world.client.wait(approval)  # the program's own answer: the hidden value back, whole
    assert answer["status"] == "revised" and answer["edited"] is True
    assert answer["arguments"] == {**arguments, "to": "carol@example.com"}
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and card_number not in got.feedback
    edit_shown = json.dumps(plain("carol@example.com"))[1:-1]  # (as the card's JSON spells it)
    await until(lambda: edit_shown in json.dumps(world.card_now(activity)),
                what="the revised card, with the edit, in Teams")
    sent = json.dumps([call.body for call in world.teams.sent]) + json.dumps(
        [d.body for d in world.teams.delivered])
    for hidden in (card_number, card_number.replace(" ", "")):
        assert hidden not in sent


@pytest.mark.parametrize(("typed", "said"), [
    ('{"to": "bob@example.com",', "This is not valid JSON: Expecting property name enclosed in double quotes"
                                  " (line 1, column 26). Nothing was run."),
    (json.dumps({**EMAIL, "cc": "carol@example.com"}), "These arguments do not match the tool's schema: "),
])
async def test_a_bad_edit_from_teams_is_refused_in_slacks_words_and_changes_nothing(
        world: World, typed: str, said: str) -> None:
    approval = await world.ask()
    activity = await world.teams_card(approval)
    body = await world.execute(activity, world.dana, "revise", approval, reason="with the fix", arguments=typed)
    assert said in shown_notice(body["value"])
    assert "revise" in verbs(body["value"])  # (still theirs: the card answered with its buttons)
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.feedback == "" and got.voters == []
    assert [e for e in await audit_events(world.worker, "decision") if e.get("approval") == approval] == []


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_an_edit_of_a_call_its_program_runs_only_as_made_is_refused(world: World) -> None:
    """No edit offered for a call whose arguments are fixed (`editable: false`), and one a crafted client sends is
    refused in the Slack path's words, nothing changed."""
    approval = await world.ask(tool={"name": "send_email", "arguments": EMAIL, "schema": SCHEMA, "editable": False})
    activity = await world.teams_card(approval)
    await world.teams.refresh(world.channel, activity, world.dana)
    assert arguments_inputs(world.card_now(activity, world.dana)) == []
    body = await world.execute(activity, world.dana, "revise", approval, reason="",
                               arguments=json.dumps({**EMAIL, "to": "carol@example.com"}))
    assert shown_notice(body["value"]) == NOT_EDITABLE
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None and got.status == "pending" and got.feedback == ""
