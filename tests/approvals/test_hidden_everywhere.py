"""Secrets hidden everywhere people look (#68 item 2), black box: a `python -m bot` worker logging at DEBUG, the
local Slack recording every call the bot makes (cards, DM copies, Homes, threads, modals, `/agent status`), a
program asking through the API with a card number inside a nested
list, an IBAN, a Stripe key, a `writeOnly` field and a value policy.yaml's `redact:` names, with a webhook of its
own. None of the secret strings appears in any Slack call, `audit export`, the report, the worker's log, a webhook's
body, or Redis's keys and values (every key SCANned, every type dumped); the program's own GET answers the full
arguments; the receipt verifies for them; a reviewer who edits a non-secret field via Revise leaves the hidden ones
unchanged in what the program receives; the audit keeps a keyed commitment, never the value; the values are gone
from Redis once the approvals end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_approvals.receipts import verify

from bot.core.key_files import ensure_keys_file
from bot.core.sealing import HiddenKeyring
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import ALICE, BOB, CAROL, SALES, TEST_SECRETS_KEY, block_texts
from tests.support.cli import bot_command
from tests.support.cluster import DEMO, Cluster, WorkerProcess
from tests.support.hitl import click, command, nth_card, open_modal, until
from tests.support.hitl import decided as decided_card
from tests.support.leaks import Receiver, redis_dump, webhook_receiver
from tests.support.signing import ISSUER

pytestmark = pytest.mark.slow  # a worker process

CARD = "4111 1111 1111 1111"
IBAN = "DE89370400440532013000"
STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
PIN = "orchid-7391-lantern"  # a writeOnly field's value: no detector knows it
TAX_ID = "TX-55-0192-8841"  # named by policy.yaml's redact:
SECRETS = (CARD, CARD.replace(" ", ""), IBAN, STRIPE, PIN, TAX_ID)
ARGUMENTS = {
    "order": "A-77",
    "note": "refund for order A-77",
    "payments": [{"amount": 12, "card": {"number": CARD, "holder": "Ada"}}],
    "iban": IBAN,
    "gateway": {"stripe": STRIPE},
    "pin": PIN,
    "customer": {"tax_id": TAX_ID},
}
SCHEMA = {"type": "object", "properties": {"pin": {"type": "string", "writeOnly": True}}}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with webhook_receiver() as got:
        yield got


@pytest.fixture
async def worker(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[WorkerProcess]:
    """One `python -m bot` at DEBUG, signing receipts, `redact:` naming `customer.tax_id` of `refund`."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "policy.yaml").write_text("redact:\n  refund:\n    - customer.tax_id\n")
    keys = tmp_path / "keys.json"
    ensure_keys_file(keys)
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    cluster = Cluster(slack, redis_url, tmp_path, model)
    started = await cluster.start(LOG_LEVEL="DEBUG", API_ALLOW_PRIVATE_CALLBACKS="1", POLICY_DIR=str(policies),
                                  SIGNING_KEYS_FILE=str(keys), RECEIPT_ISSUER=ISSUER)
    slack.events_url = started.events
    yield started
    cluster.stop_all()


async def api(worker: WorkerProcess, key: str, method: str, path: str,
              body: Any = None) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as session, session.request(
        method, worker.url + path, json=body, headers=headers
    ) as response:
        return response.status, await response.json()


async def ask(worker: WorkerProcess, key: str, hook: str) -> str:
    status, answer = await api(worker, key, "POST", "/api/v1/approvals", {
        "kind": "tool", "title": "Refund order A-77", "requester": ALICE, "callback_url": hook,
        "tool": {"name": "refund", "arguments": ARGUMENTS, "schema": SCHEMA}})
    assert status == 201, answer
    assert answer["arguments"] == ARGUMENTS  # the program's own answer: its arguments whole
    return str(answer["id"])


async def decided(worker: WorkerProcess, key: str, approval_id: str) -> dict[str, Any]:
    status, answer = await api(worker, key, "GET", f"/api/v1/approvals/{approval_id}?wait=10")
    assert status == 200 and answer["status"] != "pending", answer
    return answer


def field_of(view: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """The revise modal's input block of argument `name`: (its block id, the block)."""
    for block in view["view"]["blocks"]:
        if block["type"] == "input" and block["label"]["text"].startswith(f"{name} ("):
            return str(block["block_id"]), block
    raise AssertionError(f"no field {name}")


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


async def test_no_secret_leaves_the_bot_in_the_clear_and_the_program_gets_its_arguments_whole(
    worker: WorkerProcess, slack: SlackStandIn, store: Store, redis_url: str, receiver: Receiver, tmp_path: Path,
) -> None:
    store.hidden.use(HiddenKeyring.from_setting(TEST_SECRETS_KEY))  # (the worker's SECRETS_KEY: to look inside)
    made = await store.api_keys.create("refunds", (SALES,), by="test")
    assert made is not None
    key = made.key

    # 1. asked; the card shows kinds and how many values are hidden
    first = await ask(worker, key, receiver.url)
    card = await nth_card(slack, 1, within=20)
    shown = block_texts(card)
    assert "card ending 1111" in shown and "IBAN DE89 … 3000" in shown and "Stripe secret key (hidden)" in shown
    assert "5 values hidden" in shown
    kept = await store.hidden.get(first)
    assert kept is not None  # sealed (opened here with the tests' SECRETS_KEY)

    # the App Home of a reviewer and /agent status show it too: redacted
    assert (await slack.open_home(user=BOB)).status == 200
    await slack.wait_for(lambda: [c for c in slack.calls("views.publish") if "card ending 1111" in json.dumps(
        c.args, ensure_ascii=False)], timeout=20, description="Bob's Home with the approval")
    status_reply = await command(slack, "status", user=ALICE)
    assert not leaks(status_reply)

    # 2. a reviewer edits a non-secret field via Revise; hidden fields read "hidden: keep"
    view = await open_modal(slack, card, user=BOB)
    note, _ = field_of(view, "note")
    _, pin = field_of(view, "pin")
    _, iban = field_of(view, "iban")
    assert pin["element"]["initial_value"] == "hidden: keep" and iban["element"]["initial_value"] == "hidden: keep"
    answer = await slack.submit_view(user=BOB, view_id=view["id"], values={
        note: {"arg_input": "refund for order A-78"}})
    assert answer.status == 200, answer.body
    revised = await decided(worker, key, first)
    assert revised["status"] == "revised" and revised.get("edited") is True, revised
    assert revised["arguments"] == {**ARGUMENTS, "note": "refund for order A-78"}  # the hidden ones unchanged

    # 3. asked again, approved: the receipt verifies for the full arguments; the program uses it
    second = await ask(worker, key, receiver.url)
    second_card = await nth_card(slack, 2, within=20)
    await click(slack, second_card, "approval_approve", user=CAROL)
    approved = await decided(worker, key, second)
    assert approved["status"] == "approved" and approved["arguments"] == ARGUMENTS
    async with aiohttp.ClientSession() as session, session.get(worker.url + "/api/v1/jwks.json") as response:
        jwks = await response.json()
    claims = verify(approved["receipt"], jwks, tool="refund", arguments=ARGUMENTS, audience=made.record.id,
                    issuer=ISSUER)
    assert claims["sub"] == second
    status, used = await api(worker, key, "POST", f"/api/v1/approvals/{second}/use", {"token": "executor-1"})
    assert status == 200 and used["used"] is True, used
    assert await store.hidden.get(second) is None  # used: its hidden values are gone

    # the audit keeps a keyed commitment of each hidden value, never the value
    requested = [e for e in await store.audit.entries() if e["event"] == "requested" and e.get("approval") == second]
    commitments = json.loads(requested[0]["hidden"])
    assert {c["path"] for c in commitments} >= {"pin", "iban", "customer.tax_id", "payments[0].card.number"}
    assert all(c["hmac"].startswith("t1:") and len(c["hmac"]) == 3 + 64 for c in commitments)

    # webhooks: each program's decision sent, redacted
    await until(lambda: len(receiver.bodies) >= 2, within=20, what="both webhooks")
    for body in receiver.bodies:
        assert not leaks(body.decode()), body
        assert json.loads(body)["arguments_redacted"] is True

    # 4. nowhere in the clear
    await decided_card(slack, second_card, within=20)  # (its redraw made)
    for call in slack.calls():
        assert not leaks(json.dumps(call.args, ensure_ascii=False)), (call.method, call.args)
    exported = await bot_command("audit", environ={"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "", "SLACK_API_URL": ""})
    assert exported.returncode == 0 and "refund" in exported.stdout, exported.stderr
    assert not leaks(exported.stdout + exported.stderr)
    report = tmp_path / "report.html"
    made_report = await bot_command("report", "--out", str(report),
                                    environ={"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "", "SLACK_API_URL": ""})
    assert made_report.returncode == 0, made_report.stderr
    assert not leaks(report.read_text() + made_report.stdout + made_report.stderr)
    dumped = await redis_dump(redis_url)
    assert "hidden" in dumped and not leaks(dumped)
    logged = worker.log.read_text()
    assert "DEBUG" in logged and not leaks(logged)
