"""Trust by what a thing is, not how it is spelled, against real workers, real Redis and the Slack stand-in:
callback hosts spelled in full-width digits or ideographic full stops never reach loopback (a real listener on
127.0.0.1 sees no connection); integers JSON cannot carry exactly are refused at the ask, naming the field; a
receipt's `aud` is the key's immutable id, so a new key given a revoked key's name gets no receipt for it;
a revoked key's receipts no longer spend; and an Idempotency-Key is compared on the canonical JSON of the
body, so the same call with its keys in another order is the same ask."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.receipts import ReceiptError, verify

from bot.api.requests import ApiError, ask_body
from bot.api.service import new_approval_id
from bot.api.webhooks import WebhookSender
from bot.cli.keys import announce
from bot.core.records import API_OWNER, ApprovalRecord
from bot.devslack.server import SlackStandIn
from bot.store.api_keys import describe
from tests.conftest import BOB, SALES, Worker, bot_env, start_worker
from tests.support.api import EMAIL, Client, new_key, tool_ask
from tests.support.hitl import audit_events, click, nth_card
from tests.support.signing import jwks_of, signing_worker, spend, unverified_claims

SPELLINGS = ("１２７．０．０．１", "127。0。0。1", "１２７.0.0.1", "127．0．0．1", "127｡0｡0｡1", "ｌｏｃａｌｈｏｓｔ")


class Listener:
    """A bare TCP listener on 127.0.0.1 that counts the connections it is offered (and closes them)."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def strict(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    """A worker as deployed: webhooks never to loopback, private or link-local addresses."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    worker = await signing_worker(slack, redis_url, tmp_path / "signing-keys.json")
    yield worker
    await worker.stop()


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_callback_hosts_spelled_in_wide_digits_or_ideographic_stops_never_reach_loopback(
    strict: Worker, api: Worker
) -> None:
    async with Listener() as listener:
        urls = [f"https://{host}:{listener.port}/hook" for host in SPELLINGS]
        client = Client(strict, (await new_key(strict)).key)
        for url in urls:  # refused when asked, naming the field
            status, answer = await client.ask(tool_ask(callback_url=url))
            assert status == 400 and answer["error"]["field"] == "callback_url", (url, answer)
            with pytest.raises(ApiError):
                ask_body(json.dumps(tool_ask(callback_url=url)).encode())
        # one stored anyway (asked where private callbacks are allowed) is never sent by a strict sender
        await api.services.webhooks.stop()  # (that worker's own sender may send to loopback: only ours runs)
        lenient = Client(api, (await new_key(api, "lenient")).key)
        ids = []
        for url in urls:
            status, asked = await lenient.ask(tool_ask(callback_url=url))
            assert status == 201, asked
            await api.services.store.approvals.decide(asked["id"], outcome="approved", by=BOB)
            ids.append(asked["id"])
        sender = WebhookSender(api.services.store, allow_private=False, connect_timeout=1.0, send_timeout=2.0)
        try:
            for approval_id in ids:
                assert await sender.deliver(approval_id) is False
        finally:
            await sender.stop()
        assert listener.connections == 0, "the sender connected to 127.0.0.1"
        for approval_id in ids:  # failed tries (ours, and the strict worker's own sender's), kept for the next
            assert (await api.services.store.webhooks.tries(approval_id))[0] >= 1


async def test_integers_json_cannot_carry_exactly_are_refused_at_the_ask(signer: Worker, slack: SlackStandIn) -> None:
    client = Client(signer, (await new_key(signer)).key)
    for arguments, field in (
        ({"n": 9007199254740993}, "tool.arguments.n"),
        ({"n": -9007199254740993}, "tool.arguments.n"),
        ({"ids": [1, 2**63 - 1]}, "tool.arguments.ids[1]"),
        ({"page": {"after": 2**64}}, "tool.arguments.page.after"),
    ):
        status, answer = await client.ask(tool_ask(tool={"name": "lookup", "arguments": arguments}))
        assert status == 400, answer
        assert answer["error"]["code"] == "invalid_request" and answer["error"]["field"] == field, answer
        assert "2^53" in answer["error"]["message"] and "string" in answer["error"]["message"]
    assert await audit_events(signer, "requested") == []  # a refusal changes nothing
    largest = {"n": 2**53 - 1, "m": -(2**53 - 1)}  # the largest exact ones are fine, read and signed
    status, asked = await client.ask(tool_ask(tool={"name": "lookup", "arguments": largest}))
    assert status == 201, asked
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    answer = await client.wait(asked["id"])
    assert answer["status"] == "approved" and answer["arguments"] == largest and answer["receipt"]
    verify(answer["receipt"], await jwks_of(signer), tool="lookup", arguments=largest)


async def test_a_receipts_audience_is_the_keys_id_not_its_name(signer: Worker, slack: SlackStandIn) -> None:
    store = signer.services.store
    first = await new_key(signer, "mailer")
    client = Client(signer, first.key)
    _, asked = await client.ask(tool_ask())
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    receipt = (await client.wait(asked["id"]))["receipt"]
    assert unverified_claims(receipt)["aud"] == first.record.id and first.record.id.startswith("k-")
    assert first.record.id in announce(first) and json.loads(describe(first.record))["id"] == first.record.id
    jwks = await jwks_of(signer)
    verify(receipt, jwks, tool="send_email", arguments=EMAIL, audience=first.record.id)
    # revoked, its name given to a new key (by another channel's admin): that key's receipts are not for the first
    assert await store.api_keys.revoke("mailer", by=BOB)
    second = await new_key(signer, "mailer")
    assert second.record.id != first.record.id
    other = Client(signer, second.key)
    _, asked = await other.ask(tool_ask())
    await click(slack, await nth_card(slack, 2), "approval_approve", user=BOB)
    receipt = (await other.wait(asked["id"]))["receipt"]
    assert unverified_claims(receipt)["aud"] == second.record.id
    with pytest.raises(ReceiptError) as refused:
        verify(receipt, jwks, tool="send_email", arguments=EMAIL, audience=first.record.id)
    assert refused.value.reason == "wrong_audience"
    with pytest.raises(ReceiptError):
        verify(receipt, jwks, tool="send_email", arguments=EMAIL, audience="mailer")  # a name is no audience


async def test_a_revoked_keys_receipts_no_longer_spend(signer: Worker, slack: SlackStandIn) -> None:
    made = await new_key(signer)
    client = Client(signer, made.key)
    answers: list[dict[str, Any]] = []
    for n in (1, 2):
        _, asked = await client.ask(tool_ask(tool={"name": "send_email", "arguments": {**EMAIL, "n": n}}))
        await click(slack, await nth_card(slack, n), "approval_approve", user=BOB)
        answers.append(await client.wait(asked["id"]))
    status, used = await spend(signer, answers[0]["id"], answers[0]["receipt"], "executor-one")
    assert status == 200 and used["used"] is True
    assert await signer.services.store.api_keys.revoke("nightly", by=BOB)
    status, refused = await spend(signer, answers[1]["id"], answers[1]["receipt"], "executor-one")
    assert status == 409 and refused["error"]["code"] == "key_revoked", refused
    assert "revoked" in refused["error"]["message"]
    status, again = await spend(signer, answers[0]["id"], answers[0]["receipt"], "executor-one")
    assert status == 409 and again["error"]["code"] == "key_revoked"  # even its own retry: nothing more runs
    assert [e["approval"] for e in await audit_events(signer, "receipt_used")] == [answers[0]["id"]]
    # a new key of the same name does not bring them back
    await new_key(signer)
    status, refused = await spend(signer, answers[1]["id"], answers[1]["receipt"], "executor-two")
    assert status == 409 and refused["error"]["code"] == "key_revoked", refused


async def test_an_idempotency_key_compares_the_canonical_body(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    arguments = '{"to": "bob@example.com", "body": "Prices go up 5% on May 1.", "cc": ["a@example.com"]}'
    reordered = '{"cc":["a@example.com"],"body":"Prices go up 5% on May 1.","to":"bob@example.com"}'
    first = f'{{"kind": "tool", "title": "Tell Bob", "tool": {{"name": "send_email", "arguments": {arguments}}}}}'
    second = f'{{"tool": {{"arguments": {reordered}, "name": "send_email"}}, "title": "Tell Bob", "kind": "tool"}}'
    headers = {"Idempotency-Key": "deny-then-grant-1"}
    status, asked, _ = await client.call("POST", "/api/v1/approvals", raw=first.encode(), headers=headers)
    assert status == 201, asked
    status, again, _ = await client.call("POST", "/api/v1/approvals", raw=second.encode(), headers=headers)
    assert status == 201 and again["id"] == asked["id"], again
    changed = second.replace("5%", "6%")
    status, conflict, _ = await client.call("POST", "/api/v1/approvals", raw=changed.encode(), headers=headers)
    assert status == 409 and conflict["error"]["code"] == "idempotency_conflict", conflict
    # the allow-list's audit record compares the same way
    allowed = {"tool": {"name": "list_inbox", "arguments": {"a": 1, "b": [1, 2]}}, "allowed_by": "--allow list_*"}
    swapped = b'{"allowed_by": "--allow list_*", "tool": {"arguments": {"b": [1, 2], "a": 1}, "name": "list_inbox"}}'
    headers = {"Idempotency-Key": "allowed-1"}
    status, recorded, _ = await client.call("POST", "/api/v1/audit/allowed", body=allowed, headers=headers)
    assert status == 201, recorded
    status, same, _ = await client.call("POST", "/api/v1/audit/allowed", raw=swapped, headers=headers)
    assert status == 201 and same["id"] == recorded["id"], same


async def test_an_approval_stored_with_such_an_integer_reads_without_a_receipt_never_a_500(
    signer: Worker, slack: SlackStandIn
) -> None:
    """One stored before the ask refused them (or by any other way in): read, long-polled and webhooked as it is,
    with `receipt` null, since RFC 8785 cannot encode its arguments."""
    store = signer.services.store
    made = await new_key(signer)
    now = time.time()
    approval = ApprovalRecord(
        id=new_approval_id(), run_id="rlegacy01", owner=API_OWNER, requester=BOB, origin_channel=SALES,
        card_channel=SALES, task="Look it up", proposal='lookup({"n":9007199254740993})', author="nightly",
        created_at=now, deadline=now + 600, timeout_seconds=600, kind="tool_call", tool_name="lookup",
        arguments='{"n":9007199254740993}', asked_by="nightly", key_id=made.record.id,
    )
    assert await store.approvals.create(approval) == "ok"
    assert (await store.approvals.decide(approval.id, outcome="approved", by=BOB)).status == "ok"
    client = Client(signer, made.key)
    status, answer, _ = await client.call("GET", f"/api/v1/approvals/{approval.id}?wait=1")
    assert status == 200 and answer["status"] == "approved" and answer["receipt"] is None, answer
    assert answer["arguments"] == {"n": 9007199254740993}
    assert await signer.services.api.receipts.receipt_of(approval) is None  # type: ignore[union-attr]


def test_every_spelling_the_resolver_reads_as_loopback_is_private() -> None:
    from bot.api.hosts import client_host, private_host

    for url in (*(f"https://{host}/hook" for host in SPELLINGS), "https://127.1/hook", "https://2130706433/hook",
                "https://0x7f.0.0.1/hook", "https://[::ffff:127.0.0.1]/hook", "https://localhost./hook"):
        assert private_host(client_host(url)), url
    for url in ("https://example.com/hook", "https://8.8.8.8/hook", "https://deadbeef.example/hook",
                "https://ｅｘａｍｐｌｅ．ｃｏｍ/hook"):
        assert not private_host(client_host(url)), url
