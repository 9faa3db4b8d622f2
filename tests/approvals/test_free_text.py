"""Free text through the one door (#76 item 1, bot/redaction/hiding.py `Hiding.text`), one field at a time, with a
worker in this process, a real redis-server and the local Slack: a program's title and a message's text, a value of
the arguments restated in the title, a reviewer's revise note and reject reason, a policy's reason quoting an
argument (asked, and refused at once), an `/agent` task (its header), what a program's allow-list let through, a
freeze's reason. Each is hidden before it is stored or posted:
in the record, every Slack call, the audit log (the `requested` entry carries the title as reviewers saw it) and
what the program reads back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, SALES, StartPolicyWorker, Worker, bot_env, find_header, start_worker
from tests.support.api import Client, new_key
from tests.support.flow import start_run
from tests.support.hitl import audit_events, command, nth_card, open_modal, reject, until
from tests.support.leaks import leaks

CARDS = ("4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111")
IBAN = "GB82 WEST 1234 5698 7654 32"
LIVE_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
PASSWORD = "orchid-lantern-7391"  # a writeOnly value: no detector knows it
SECRETS = (*CARDS, IBAN, LIVE_KEY, PASSWORD)
TITLE = f"Refund {CARDS[0]} / {CARDS[1]} / {CARDS[2]} to {IBAN}, key {LIVE_KEY}"
SCHEMA = {"type": "object", "properties": {"password": {"type": "string", "writeOnly": True}}}


def slack_calls(slack: SlackStandIn) -> str:
    return "\n".join(json.dumps(call.args, ensure_ascii=False) for call in slack.calls())


async def ask(worker: Worker, body: dict[str, Any], client: Client | None = None) -> tuple[Client, dict[str, Any]]:
    client = client or Client(worker, (await new_key(worker, "refunds")).key)
    status, answer = await client.ask({"requester": ALICE, **body})
    assert status in (200, 201), answer
    return client, answer


def refund(title: str = TITLE, **arguments: Any) -> dict[str, Any]:
    return {"kind": "tool", "title": title,
            "tool": {"name": "refund", "arguments": {"order": "A-77", **arguments}, "schema": SCHEMA}}


async def test_a_title_restating_a_card_an_iban_and_a_key_is_hidden_before_it_is_stored_or_posted(
    api: Worker, slack: SlackStandIn
) -> None:
    _, answer = await ask(api, refund(card=CARDS[2]))
    assert not leaks(json.dumps(answer["title"]), SECRETS), answer["title"]
    approval = await api.services.store.approvals.get(answer["id"])
    assert approval is not None
    assert approval.task == ("Refund card ending 1111 / card ending 1111 / card ending 1111 to IBAN GB82 … 5432,"
                             " key Stripe secret key (hidden)")
    card = await nth_card(slack, 1)
    assert "Refund card ending 1111" in json.dumps(card, ensure_ascii=False)
    assert not leaks(slack_calls(slack), SECRETS)
    requested = await audit_events(api, "requested")
    assert [e["title"] for e in requested] == [approval.task]  # as reviewers saw it: `audit export`, evidence
    assert not leaks(json.dumps(await api.services.store.audit.entries()), SECRETS)


async def test_a_value_of_the_arguments_restated_in_the_title_and_a_reject_reason_is_hidden(
    api: Worker, slack: SlackStandIn
) -> None:
    client, answer = await ask(api, refund(title=f"Refund with password {PASSWORD}", password=PASSWORD))
    approval = await api.services.store.approvals.get(answer["id"])
    assert approval is not None and approval.task == "Refund with password sensitive field (hidden)"
    rejected = await reject(slack, await nth_card(slack, 1), user=BOB,
                           reason=f"never with {PASSWORD}, nor to {IBAN}")
    assert rejected.status == 200
    got = await client.wait(answer["id"])
    assert got["status"] == "rejected"
    assert got["reason"] == "never with sensitive field (hidden), nor to IBAN GB82 … 5432"
    decided = await api.services.store.approvals.get(answer["id"])
    assert decided is not None and not leaks(decided.feedback, SECRETS)
    assert not leaks(slack_calls(slack) + json.dumps(await api.services.store.audit.entries()), SECRETS)


async def test_an_expiry_and_cvc_next_to_a_card_of_the_arguments_are_hidden(api: Worker, slack: SlackStandIn) -> None:
    """A reason quoting the call's own card (a known value) with its expiry and CVC: the detectors read the text as
    written, so the expiry and the CVC are found by the card next to them before the card is replaced."""
    client, answer = await ask(api, refund(title="Refund A-77", card=CARDS[2]))
    rejected = await reject(slack, await nth_card(slack, 1), user=BOB, reason=f"not {CARDS[0]} exp 11/28, CVC: 4321")
    assert rejected.status == 200
    got = await client.wait(answer["id"])
    assert got["reason"] == "not card ending 1111 exp card expiry (hidden), CVC: card security code (hidden)"
    said = slack_calls(slack) + json.dumps(await api.services.store.audit.entries())
    assert not leaks(said, (*SECRETS, "11/28", "4321"))


async def test_the_text_of_a_message_or_code_ask_is_hidden_before_its_card(api: Worker, slack: SlackStandIn) -> None:
    client, message = await ask(api, {"kind": "message", "title": "Tell the customer",
                                      "text": f"Your card {CARDS[0]} was refunded to {IBAN}."})
    _, code = await ask(api, {"kind": "code", "title": "Run the refund",
                              "text": f"refund(card='{CARDS[1]}', key='{LIVE_KEY}')"}, client)
    said = [await api.services.store.approvals.get(answer["id"]) for answer in (message, code)]
    assert [approval.proposal if approval else None for approval in said] == [
        "Your card ending 1111 was refunded to IBAN GB82 … 5432.",
        "refund(card='card ending 1111', key='Stripe secret key (hidden)')"]
    await nth_card(slack, 2)
    assert not leaks(slack_calls(slack), SECRETS)


async def test_a_reviewers_revise_note_is_hidden(api: Worker, slack: SlackStandIn) -> None:
    client, answer = await ask(api, {"kind": "message", "title": "Tell the customer", "text": "Refunded."})
    view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
    note = f"say it went to {IBAN}, card {CARDS[1]} exp 12/29, cvv 737"
    assert (await slack.submit_view(user=BOB, view_id=view["id"],
                                    values={"feedback": {"feedback_input": note}})).status == 200
    got = await client.wait(answer["id"])
    assert got["status"] == "revised" and not leaks(json.dumps(got), SECRETS), got
    decided = await api.services.store.approvals.get(answer["id"])
    assert decided is not None and decided.feedback == ("say it went to IBAN GB82 … 5432, card ending 1111 exp"
                                                        " card expiry (hidden), cvv card security code (hidden)")
    assert not leaks(slack_calls(slack) + json.dumps(await api.services.store.audit.entries()), SECRETS)


POLICIES = '''
@id("iban-asks")
@outcome("ask")
@reason("a refund to {args.iban} needs a person")
forbid (principal, action == Action::"refund", resource) when { context.args has iban };

@id("no-cards")
@reason("refused: {args.card} is a raw card number")
forbid (principal, action == Action::"refund", resource) when { context.args has card };
'''


async def test_a_policys_reason_quoting_an_argument_is_hidden_asked_or_refused(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": POLICIES})
    client, asked = await ask(worker, refund(title="Refund", iban=IBAN))
    pending = await worker.services.store.approvals.get(asked["id"])
    assert pending is not None and pending.policy_reason == "a refund to IBAN GB82 … 5432 needs a person"
    await nth_card(slack, 1)
    _, refused = await ask(worker, refund(title="Refund", card=CARDS[0]), client)
    assert refused["status"] == "rejected" and refused["reason"] == "refused: card ending 1111 is a raw card number"
    stored = await worker.services.store.approvals.get(refused["id"])
    assert stored is not None and not leaks(stored.policy_reason + stored.feedback, SECRETS)
    assert asked["policy"]["reason"] == pending.policy_reason  # (the program's own answer has its arguments whole)
    assert not leaks(slack_calls(slack) + json.dumps(await worker.services.store.audit.entries()), SECRETS)


async def test_an_agent_task_with_a_card_is_hidden_before_its_header(worker: Worker, slack: SlackStandIn) -> None:
    run_id = await start_run(slack, task=f"Refund {CARDS[0]} and tell the vendor")
    header = await until(lambda: find_header(slack, SALES, run_id), what="the run's header")
    assert "Refund card ending 1111 and tell the vendor" in json.dumps(header, ensure_ascii=False)
    run = await worker.services.store.runs.get(run_id)
    assert run is not None and run.task == "Refund card ending 1111 and tell the vendor"
    await nth_card(slack, 1)
    assert not leaks(slack_calls(slack) + json.dumps(await worker.services.store.audit.entries()), SECRETS)


@pytest.mark.slow
async def test_a_call_recorded_as_allowed_names_its_allow_list_hidden(api: Worker) -> None:
    client = Client(api, (await new_key(api, "mailbox")).key)
    status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body={
        "tool": {"name": "list_inbox", "arguments": {"limit": 2}}, "allowed_by": f"--allow list_* (card {CARDS[0]})"})
    assert status == 201 and answer["allowed_by"] == "--allow list_* (card ending 1111)", answer
    assert not leaks(json.dumps(await api.services.store.audit.entries()), SECRETS)


async def test_a_freeze_reason_is_hidden(slack: SlackStandIn, redis_url: str) -> None:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, ADMIN_USERS=ALICE))
    slack.events_url = worker.url + "/slack/events"
    try:
        said = await command(slack, f"freeze all card {CARDS[1]} leaked", user=ALICE)
        assert said.startswith("Frozen: everything"), said
        client = Client(worker, (await new_key(worker, "refunds")).key)
        _, refused = await ask(worker, refund(title="Refund"), client)
        assert refused["refusal"] == f"Not run: frozen: card ending 1111 leaked (scope all, by {ALICE})"
        frozen = json.dumps(await worker.services.store.freezes.all(), default=str)
        assert not leaks(frozen + slack_calls(slack) + json.dumps(await worker.services.store.audit.entries()),
                         SECRETS)
    finally:
        await worker.stop()
