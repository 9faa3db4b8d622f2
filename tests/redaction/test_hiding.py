"""Hidden values where an approval is opened (bot/redaction/hiding.py), with a worker in this process and a real
redis-server: what the record keeps (the redacted copy, what was hidden), what a program's GET answers with and
without SECRETS_KEY, the values gone when the approval is rejected, a title quoting a value, a run's edited call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.records import ApprovalRecord
from bot.devslack.model import DeliveryResult
from bot.devslack.server import SlackStandIn
from bot.redaction.hiding import merged, scrubbed
from tests.conftest import ALICE, BOB, Worker, block_texts, bot_env, start_worker
from tests.support.api import Client, new_key
from tests.support.hitl import bot, call, nth_card, open_modal, reject, replay, start, until
from tests.support.leaks import leaks, redis_dump

CARD = "5500 0000 0000 0004"
ARGUMENTS = {"order": "B-12", "card": {"number": CARD}, "password": "correct-horse-battery"}


async def started(slack: SlackStandIn, redis_url: str, **env: str) -> Worker:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **env))
    slack.events_url = worker.url + "/slack/events"
    return worker


@pytest.fixture
async def keyless(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    """A worker without SECRETS_KEY."""
    worker = await started(slack, redis_url, SECRETS_KEY="")
    yield worker
    await worker.stop()


@pytest.fixture
async def keyed(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    worker = await started(slack, redis_url)
    yield worker
    await worker.stop()


async def ask(worker: Worker, **extra: Any) -> tuple[Client, dict[str, Any]]:
    client = Client(worker, (await new_key(worker, "refunds")).key)
    status, answer = await client.ask({"kind": "tool", "title": "Refund B-12", "requester": ALICE,
                                       "tool": {"name": "refund", "arguments": ARGUMENTS}, **extra})
    assert status == 201, answer
    return client, answer


async def stored(worker: Worker, approval_id: str) -> ApprovalRecord:
    approval = await worker.services.store.approvals.get(approval_id)
    assert approval is not None
    return approval


async def test_the_record_keeps_the_redacted_copy_and_the_program_its_arguments(keyed: Worker) -> None:
    _, answer = await ask(keyed)
    assert answer["arguments"] == ARGUMENTS and answer["arguments_redacted"] is False
    assert {(h["path"], h["shown"]) for h in answer["hidden"]} == {
        ("card.number", "card ending 0004"), ("password", "password (hidden)")}
    approval = await stored(keyed, answer["id"])
    assert json.loads(approval.arguments) == {"order": "B-12", "card": {"number": "card ending 0004"},
                                              "password": "password (hidden)"}
    assert CARD not in approval.proposal and "correct-horse" not in approval.proposal
    assert approval.digest == answer["digest"]  # bound to the full arguments, as before


async def test_without_secrets_key_values_are_hidden_and_not_kept(keyless: Worker, slack: SlackStandIn) -> None:
    client, answer = await ask(keyless)
    assert answer["arguments_redacted"] is True  # the program is told it does not get them back
    assert answer["arguments"]["card"]["number"] == "card ending 0004"
    assert not keyless.services.store.hidden.ready
    assert await keyless.services.redis.exists(keyless.services.store.keys.hidden(answer["id"])) == 0
    card = await nth_card(slack, 1)
    assert "card ending 0004" in block_texts(card) and CARD not in json.dumps(card)
    got = await client.wait(answer["id"], wait=0)
    assert got["arguments_redacted"] is True


async def test_a_rejected_approvals_values_are_dropped(keyed: Worker, slack: SlackStandIn) -> None:
    client, answer = await ask(keyed)
    key = keyed.services.store.keys.hidden(answer["id"])
    assert await keyed.services.redis.exists(key) == 1
    await reject(slack, await nth_card(slack, 1), user=BOB, reason="no")
    got = await client.wait(answer["id"])
    assert got["status"] == "rejected"

    async def gone() -> bool:
        return int(await keyed.services.redis.exists(key)) == 0

    await until(gone, what="the hidden values dropped")


async def test_a_title_quoting_a_hidden_value_shows_its_display(keyed: Worker, slack: SlackStandIn) -> None:
    _, answer = await ask(keyed, title=f"Refund to {CARD}")
    approval = await stored(keyed, answer["id"])
    assert approval.task == "Refund to card ending 0004"
    assert CARD not in json.dumps(await nth_card(slack, 1))


# a hidden value as the arguments had it, and the same value as another text spells it (#76 item 1): each is replaced
SPELLINGS = [
    ("4111111111111111", "refund 4111 1111 1111 1111 today", "refund card ending 1111 today"),
    ("4111 1111 1111 1111", "refund 4111111111111111.", "refund card ending 1111."),
    ("4111111111111111", "to 4111-1111-1111-1111, 4111.1111.1111.1111 and 4111/1111/1111/1111",
     "to card ending 1111, card ending 1111 and card ending 1111"),
    ("4111111111111111", "pay ４１１１ １１１１ １１１１ １１１１", "pay card ending 1111"),
    ("4111111111111111", "pay ٤١١١\u00a0١١١١\u00a0١١١١\u00a0١١١١!", "pay card ending 1111!"),
    ("4111111111111111", "pay 4111  1111  1111  1111", "pay card ending 1111"),
    ("4111111111111111.0", "pay 4111111111111111", "pay card ending 1111"),  # a JSON float's text
    ("4.111111111111111e15", "pay 4111 1111 1111 1111", "pay card ending 1111"),
    ("DE89370400440532013000", "iban de89 3704 0044 0532 0130 00.", "iban IBAN DE89 … 3000."),
    ("DE89 3704 0044 0532 0130 00", "iban DE89-3704-0044-0532-0130-00", "iban IBAN DE89 … 3000"),
    ("orchid-7391-lantern", "pin orchid 7391 lantern, ORCHID7391LANTERN", "pin X, X"),
    # not these: a longer number holding the digits, a value too short to find in other spellings
    ("4111111111111111", "id 94111111111111111 and 41111111111111112", "id 94111111111111111 and 41111111111111112"),
    ("123", "cvv 1 2 3 or 123", "cvv 1 2 3 or X"),
]


@pytest.mark.parametrize(("value", "text", "expected"), SPELLINGS)
def test_a_hidden_value_is_replaced_in_any_spelling(value: str, text: str, expected: str) -> None:
    shown = {"4": "card ending 1111", "D": "IBAN DE89 … 3000"}.get(value[0], "X")
    assert scrubbed(text, [(value, shown)]) == expected


def test_an_edit_keeps_each_value_left_as_shown() -> None:
    shown = {"order": "B-12", "card": {"number": "card ending 0004"}, "items": ["a", "b"]}
    original = {"order": "B-12", "card": {"number": CARD}, "items": ["a", "b"]}
    edit = {"order": "B-13", "card": {"number": "card ending 0004"}, "items": ["a", "c"]}
    assert merged(edit, shown, original) == {"order": "B-13", "card": {"number": CARD}, "items": ["a", "c"]}
    replaced = {"order": "B-12", "card": {"number": "4111111111111111"}, "items": ["a", "b"]}
    assert merged(replaced, shown, original)["card"]["number"] == "4111111111111111"


async def test_a_runs_edited_call_keeps_its_hidden_value_and_is_sent_whole(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """The bot's own run: the card hides a card number in an e-mail's body; a reviewer edits `to` (Save &
    approve); the run gets the edited call with the card number back, and the e-mail sent carries it."""
    email = {"to": "bob@example.com", "subject": "Refund", "body": f"Refunded to {CARD}."}
    model = replay(call("send_email", email), "Sent it.")
    async with bot(slack, redis_url, tmp_path, model):
        await start(slack, "--team email Tell bob@example.com about the refund")
        card = await nth_card(slack, 1)
        assert "card ending 0004" in block_texts(card) and CARD not in json.dumps(card)
        view = await open_modal(slack, card, user=BOB)
        assert CARD not in json.dumps(view)
        await slack.submit_view(user=BOB, view_id=view["id"],
                                values={"arg_0": {"arg_input": "carol@example.com"}, "then": {"then_input": "approve"}})
        sent = await until(lambda: sorted((tmp_path / "outbox").glob("*.eml")) if (tmp_path / "outbox").exists()
                           else [], what="the edited e-mail")
        text = sent[0].read_text()
        assert "carol@example.com" in text and CARD in text  # the run's own call, whole
        assert CARD not in json.dumps([c.args for c in slack.calls()])


async def test_a_runs_call_with_nothing_hidden_edited_with_a_card_is_sent_whole(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """The bot's own run: an e-mail with nothing hidden; a reviewer writes a card number into its body (Save &
    approve): no card in any Slack call nor Redis key, and the e-mail sent (the run's edited call) carries it."""
    email = {"to": "bob@example.com", "subject": "Refund", "body": "Refunded."}
    model = replay(call("send_email", email), "Sent it.")
    async with bot(slack, redis_url, tmp_path, model):
        await start(slack, "--team email Tell bob@example.com about the refund")
        view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        fields = {b["label"]["text"].split(" (")[0]: b for b in view["view"]["blocks"] if b["type"] == "input"}
        await slack.submit_view(user=BOB, view_id=view["id"], values={
            fields["body"]["block_id"]: {"arg_input": f"Refunded to {NEW_CARD}."}, "then": {"then_input": "approve"}})
        sent = await until(lambda: sorted((tmp_path / "outbox").glob("*.eml")) if (tmp_path / "outbox").exists()
                           else [], what="the edited e-mail")
        assert NEW_CARD in sent[0].read_text()  # the run's own call, whole
        assert not leaks(json.dumps([c.args for c in slack.calls()], ensure_ascii=False), [NEW_CARD])
        assert not leaks(await redis_dump(redis_url), [NEW_CARD])


async def test_a_call_recorded_as_allowed_is_audited_redacted_and_keeps_nothing(keyed: Worker) -> None:
    client = Client(keyed, (await new_key(keyed, "refunds")).key)
    status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body={
        "tool": {"name": "refund", "arguments": ARGUMENTS}, "allowed_by": "--allow refund"})
    assert status == 201, answer
    entries = [e for e in await keyed.services.store.audit.entries() if e["event"] == "allowed"]
    assert entries and "card ending 0004" in entries[-1]["arguments"]
    assert CARD not in json.dumps(entries) and "correct-horse" not in json.dumps(entries)
    assert not [key async for key in keyed.services.redis.scan_iter(match="*:hidden:*")]


async def test_an_edit_whose_hidden_values_are_gone_is_never_answered_as_runnable(
    keyed: Worker, slack: SlackStandIn
) -> None:
    client, answer = await ask(keyed)
    view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
    fields = {b["label"]["text"].split(" (")[0]: b for b in view["view"]["blocks"] if b["type"] == "input"}
    assert fields["password"]["element"]["initial_value"] == "hidden: keep"
    assert CARD not in json.dumps(view) and "correct-horse" not in json.dumps(view)
    await slack.submit_view(user=BOB, view_id=view["id"],
                            values={fields["order"]["block_id"]: {"arg_input": "B-13"}})
    got = await client.wait(answer["id"])
    assert got["edited"] is True and got["arguments"] == {**ARGUMENTS, "order": "B-13"}
    await keyed.services.store.hidden.drop(answer["id"])  # (as when they expire)
    gone = await client.wait(answer["id"], wait=0)
    assert gone["edited"] is False and gone["arguments_redacted"] is True and "no longer kept" in gone["feedback"]


PLAIN = {"order": "B-12", "note": "refund the duplicate charge"}  # nothing hidden in it
NEW_CARD = "4111 1111 1111 1111"


async def edit_plain_call(worker: Worker, slack: SlackStandIn) -> tuple[Client, dict[str, Any], DeliveryResult]:
    """A call with nothing hidden, asked; a reviewer's Revise writes a card number into its `note`, with a note."""
    client = Client(worker, (await new_key(worker, "refunds")).key)
    status, answer = await client.ask({"kind": "tool", "title": "Refund B-12", "requester": ALICE,
                                       "tool": {"name": "refund", "arguments": PLAIN}})
    assert status == 201, answer
    assert "hidden" not in answer or not answer["hidden"]
    view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
    fields = {b["label"]["text"].split(" (")[0]: b for b in view["view"]["blocks"] if b["type"] == "input"}
    reply = await slack.submit_view(user=BOB, view_id=view["id"],
                                    values={fields["note"]["block_id"]: {"arg_input": f"refund to {NEW_CARD}"}})
    return client, answer, reply


async def test_an_edit_bringing_a_new_value_into_a_plain_call_is_hidden_and_sealed(
    keyed: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    """#76: a reviewer's edit of a call that had nothing hidden, writing a card number into it: the approval's
    record and its `decision` audit entry keep the redacted edit (no card in any Redis key), the program's GET gets
    the full edited arguments."""
    client, answer, _ = await edit_plain_call(keyed, slack)
    got = await client.wait(answer["id"])
    assert got["status"] == "revised" and got["edited"] is True
    assert got["arguments"] == {**PLAIN, "note": f"refund to {NEW_CARD}"} and not got.get("arguments_redacted")
    dump = await redis_dump(redis_url)
    assert not leaks(dump, [NEW_CARD]), "the edit's card number is kept in the clear in Redis"
    decisions = [e for e in await keyed.services.store.audit.entries() if e["event"] == "decision"]
    assert decisions and "card ending 1111" in decisions[-1]["feedback"]
    assert not leaks(json.dumps(decisions), [NEW_CARD])
    assert not leaks(json.dumps([c.args for c in slack.calls()]), [NEW_CARD])


async def test_without_secrets_key_an_edit_bringing_a_new_value_is_refused(
    keyless: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    """Without SECRETS_KEY the edit cannot be kept whole: refused in the modal as an edit of an approval with hidden
    values is, nothing decided, nothing kept."""
    client, answer, reply = await edit_plain_call(keyless, slack)
    assert "SECRETS_KEY" in json.dumps(reply.json), reply
    got = await client.wait(answer["id"], wait=0)
    assert got["status"] == "pending"
    assert not leaks(await redis_dump(redis_url), [NEW_CARD])
