"""Revise a change (#79.5), as a user runs it: a program (the Python client) asks to send an email, its body a message
artefact; the reviewer's Revise modal shows the body, they edit it and Save & approve; the program gets the edited
artefact whole (its new digest, `edited: true`), and sends the edited body once, however often it asks again; the
record keeps the edited artefact with its new `sha256` (what the receipt binds) and the audit log names it. An edit
holding a value the bot hides is refused (nothing decided, nothing kept in the clear); an artefact whose text holds
one is not offered for editing; a revision carries the edit back without a receipt. Every Block Kit payload is valid
by slack_sdk."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.artifacts import artifact_sha256, message
from slack_sdk.models.blocks import Block

from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.api import EMAIL, new_key
from tests.support.blockkit import assert_valid
from tests.support.hitl import audit_events, nth_card, open_modal, text_of
from tests.support.hitl import decided as decided_card
from tests.support.leaks import redis_dump
from tests.support.signing import signing_worker, verified

BODY = "Dear Bob,\nPrices go up 5% on May 1.\nBest, Alice"
EDITED = "Dear Bob,\nPrices go up 3% on June 1.\nBest, Alice"
CARD = "4111 1111 1111 1111"


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    worker = await signing_worker(slack, redis_url, tmp_path / "keys" / "signing-keys.json")
    yield worker
    await worker.stop()


def assert_blocks_valid(blocks: list[dict[str, Any]]) -> None:
    """A message's blocks valid for slack_sdk's models and the local Slack's checks."""
    for block in blocks:
        parsed = Block.parse(copy.deepcopy(block))
        assert parsed is not None
        parsed.to_dict()
    assert validate_blocks(blocks) is None, validate_blocks(blocks)


async def ask_email(client: ApprovalsClient, body: str = BODY) -> str:
    asked = await client.request_tool("send_email", {**EMAIL, "body": body}, title="Tell Bob about the prices",
                                      requester="U0ALICE", artifacts=[message(["bob@example.com"], body, "Prices")])
    assert asked.pending
    return asked.id


async def program_sends(client: ApprovalsClient, approval_id: str, outbox: list[str]) -> None:
    """The program: the decision read (again, after a crash), used once, and the edited body sent only then."""
    decided = await client.wait(approval_id)
    if decided.approved and await client.use(decided.id):
        edited = decided.edited_artifacts
        outbox.append(edited[0]["body"] if edited else decided.arguments["body"])


async def test_the_reviewer_edits_the_email_body_and_the_program_sends_it_once(
    signer: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    key = (await new_key(signer)).key
    async with ApprovalsClient(signer.url, key=key) as program:
        approval_id = await ask_email(program)
        card = await nth_card(slack, 1)
        assert_blocks_valid(card["blocks"])
        modal = await open_modal(slack, card, user=BOB)
        assert_valid(modal["view"])
        inputs = {b["block_id"]: b for b in modal["view"]["blocks"] if b["type"] == "input"}
        assert inputs["artifact"]["element"]["initial_value"] == BODY  # the body, as it will be sent
        assert inputs["then"]["element"]["initial_option"]["value"] == "approve"
        answer = await slack.submit_view(user=BOB, view_id=modal["id"],
                                         values={"artifact": {"artifact_input": EDITED},
                                                 "then": {"then_input": "approve"}})
        assert answer.status == 200 and not answer.body.strip(), answer.body

        outbox: list[str] = []
        await program_sends(program, approval_id, outbox)
        decided = await program.get(approval_id)
    new_digest = artifact_sha256(message(["bob@example.com"], EDITED, "Prices"))
    assert decided.status == "approved" and decided.decided_by == BOB
    assert decided.edited_artifacts == [{"kind": "message", "to": ["bob@example.com"], "subject": "Prices",
                                         "body": EDITED, "sha256": new_digest, "edited": True}]
    assert outbox == [EDITED]
    async with ApprovalsClient(signer.url, key=key) as resumed:  # the program again (a retry, a restarted process)
        await program_sends(resumed, approval_id, outbox)
        again = await resumed.get(approval_id)
    assert outbox == [EDITED]  # the approval's one use was spent: never sent twice
    assert again.edited_artifacts == decided.edited_artifacts and again.used_at

    record = await signer.services.store.approvals.get(approval_id)
    assert record is not None
    assert [item["sha256"] for item in record.artifact_items] == [new_digest]  # what the receipt binds
    assert decided.receipt is not None
    _, claims = await verified(signer, decided.receipt)
    assert claims["sub"] == approval_id and claims["decided_by"][0]["id"] == BOB
    assert claims["artifacts"] == [new_digest]  # the receipt binds the edited artefact, not the one asked
    decision = (await audit_events(signer, "decision"))[-1]
    assert decision["outcome"] == "approved" and decision["edited_artifacts"] == new_digest
    shown = await decided_card(slack, card)
    assert_blocks_valid(shown["blocks"])
    assert f"The change was edited by <@{BOB}>" in text_of(shown)


async def test_an_edit_with_a_hidden_value_is_refused_and_nothing_kept(
    signer: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    async with ApprovalsClient(signer.url, key=(await new_key(signer)).key) as program:
        approval_id = await ask_email(program)
        modal = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        refused = await slack.submit_view(user=BOB, view_id=modal["id"],
                                          values={"artifact": {"artifact_input": f"Charge card {CARD} today."},
                                                  "then": {"then_input": "approve"}})
        errors = refused.json
        assert errors is not None and errors["response_action"] == "errors"
        assert "hides" in errors["errors"]["artifact"]
        still = await program.get(approval_id)
    assert still.pending and still.edited_artifacts == []
    dumped = await redis_dump(redis_url)
    assert CARD not in dumped and CARD.replace(" ", "") not in dumped


async def test_an_artefact_holding_a_hidden_value_is_not_offered_for_editing(
    signer: Worker, slack: SlackStandIn
) -> None:
    async with ApprovalsClient(signer.url, key=(await new_key(signer)).key) as program:
        await ask_email(program, body=f"Your card {CARD} is charged.")
        modal = await open_modal(slack, await nth_card(slack, 1), user=BOB)
    assert_valid(modal["view"])
    blocks = modal["view"]["blocks"]
    assert not [b for b in blocks if b.get("block_id") == "artifact"]  # the arguments' form instead
    assert CARD not in str(blocks)


async def test_a_revision_carries_the_edited_change_back_without_a_receipt(
    signer: Worker, slack: SlackStandIn
) -> None:
    async with ApprovalsClient(signer.url, key=(await new_key(signer)).key) as program:
        approval_id = await ask_email(program)
        modal = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        await slack.submit_view(user=BOB, view_id=modal["id"],
                                values={"artifact": {"artifact_input": EDITED}, "then": {"then_input": "ask"}})
        revised = await program.wait(approval_id)
    assert revised.status == "revised" and revised.receipt is None
    assert [a["body"] for a in revised.edited_artifacts] == [EDITED]
    assert revised.feedback == "Edited the message's body."
