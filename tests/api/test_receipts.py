"""Signed receipts against a real worker (HTTP, real Redis, the Slack stand-in): every way an approval can allow
a call carries one, checked by joserfc (not our code) with the keys `GET /api/v1/jwks.json` publishes; nothing
that allows no call carries one; the webhook carries the same; no key configured, no receipts."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_approvals.receipts import TYPE, args_sha256, verify
from jsonschema import Draft202012Validator

from bot.api.openapi import document
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, SALES, Worker, bot_env, start_worker
from tests.support.api import EMAIL, Client, new_key, tool_ask
from tests.support.hitl import audit_events, click, nth_card, open_modal, reject, until
from tests.support.signing import ISSUER, get_json, jwks_of, private_parts, signing_worker, spend, verified

CAROL = "U0CAROL"
TTL = 300


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "signing-keys.json"


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, keys_file: Path) -> AsyncIterator[Worker]:
    worker = await signing_worker(slack, redis_url, keys_file, RECEIPT_TTL=str(TTL))
    yield worker
    await worker.stop()


async def checked(
    worker: Worker, answer: dict[str, Any], arguments: Any = EMAIL, tool: str = "send_email"
) -> dict[str, Any]:
    """The claims of an answer's receipt, after joserfc and agent_approvals.receipts.verify both accept it."""
    receipt = answer["receipt"]
    assert isinstance(receipt, str), answer
    header, claims = await verified(worker, receipt)
    jwks = await jwks_of(worker)
    assert header == {"alg": "EdDSA", "kid": jwks["keys"][0]["kid"], "typ": TYPE}
    key = await worker.services.store.api_keys.get("nightly")
    assert key is not None
    assert verify(receipt, jwks, tool=tool, arguments=arguments, audience=key.id, issuer=ISSUER) == claims
    assert claims["sub"] == answer["id"] and claims["aud"] == key.id and claims["iss"] == ISSUER
    assert re.fullmatch(r"rcpt_[0-9a-f]{32}", claims["jti"]) and claims["exp"] - claims["iat"] == TTL
    assert claims["tool"] == tool and claims["args_sha256"] == args_sha256(arguments)
    return claims


async def test_a_persons_approval_carries_one_receipt_everywhere(signer: Worker, slack: SlackStandIn) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received.append(json.loads(await request.read()))
        return aiohttp.web.Response(status=200)

    app = aiohttp.web.Application()
    app.router.add_post("/hook", hook)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        client = Client(signer, (await new_key(signer)).key)
        status, asked = await client.ask(tool_ask(callback_url=f"http://127.0.0.1:{runner.addresses[0][1]}/hook"))
        assert status == 201 and asked["receipt"] is None  # pending: nothing allowed yet
        waiting = asyncio.create_task(client.wait(asked["id"], wait=30))
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        answer = await asyncio.wait_for(waiting, 10)  # the long-poll's answer
        claims = await checked(signer, answer)
        assert claims["decided_by"] == [{"type": "person", "id": BOB, "name": "bob"}] and "quorum" not in claims
        decision = (await audit_events(signer, "decision"))[-1]  # the allowing decision's place in the audit chain
        assert claims["audit"] == {"seq": int(decision["seq"]), "id": decision["id"]}
        reads = await asyncio.gather(*(client.wait(asked["id"], wait=0) for _ in range(5)))  # issued once
        assert {read["receipt"] for read in reads} == {answer["receipt"]}
        await until(lambda: received, what="the webhook")
        assert received[0]["status"] == "approved" and received[0]["receipt"] == answer["receipt"]
    finally:
        await runner.cleanup()
    status, keys, headers = await get_json(signer.url + "/api/v1/jwks.json")  # no key needed
    assert status == 200 and headers["Cache-Control"] == "max-age=60"
    assert [set(key) for key in keys["keys"]] == [{"kty", "crv", "x", "kid", "alg", "use"}]  # never `d`
    described = document()["components"]
    for name, shown in (("Jwks", keys), ("Approval", answer), ("Approval", asked), ("Approval", received[0])):
        Draft202012Validator({**described["schemas"][name], "components": described}).validate(shown)


async def test_a_quorum_names_every_approver(signer: Worker, slack: SlackStandIn) -> None:
    assert await signer.services.store.settings.set(SALES, "required_approvals", "2", by=ALICE) is None
    client = Client(signer, (await new_key(signer)).key)
    _, asked = await client.ask(tool_ask())
    card = await nth_card(slack, 1)
    await click(slack, card, "approval_approve", user=BOB)
    assert (await client.wait(asked["id"], wait=0))["receipt"] is None  # one vote of two allows nothing
    await click(slack, card, "approval_approve", user=CAROL)
    claims = await checked(signer, await client.wait(asked["id"]))
    assert claims["quorum"] == {"required": 2} and claims["audit"]["seq"] > 0
    assert [(p["type"], p["id"]) for p in claims["decided_by"]] == [("person", BOB), ("person", CAROL)]


async def test_a_rule_and_the_input_mode_approve_with_a_receipt_at_once(signer: Worker) -> None:
    from bot.core.allow_rules import Rule, exact_match

    store = signer.services.store
    rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                created_by=BOB, created_at=0, expires_at=2e10)
    rule_id = await store.rules.create(rule)
    client = Client(signer, (await new_key(signer)).key)
    status, answer = await client.ask(tool_ask())
    assert status == 200 and answer["status"] == "approved"  # the ask's own answer carries it
    claims = await checked(signer, answer)
    assert claims["decided_by"] == [{"type": "rule", "id": rule_id}] and claims["audit"]["seq"] > 0

    assert await store.settings.set(SALES, "mode", "policy", by=ALICE) is None
    calm = {"limit": 2}  # no risk word: the policy mode approves it at once
    status, answer = await client.ask({**tool_ask(), "tool": {"name": "list_inbox", "arguments": calm}})
    assert status == 200 and answer["status"] == "approved" and answer["decided_by"] == "auto", answer
    claims = await checked(signer, answer, calm, "list_inbox")
    assert claims["decided_by"] == [{"type": "mode", "mode": "policy"}] and claims["audit"]["seq"] > 0


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_timeout_that_approves_has_one(signer: Worker) -> None:
    store = signer.services.store
    for key, value in (("timeout_outcome", "approve"), ("timeout_approves_tools", "true"), ("timeout", "1")):
        assert await store.settings.set(SALES, key, value, by=ALICE) is None
    client = Client(signer, (await new_key(signer)).key)
    _, asked = await client.ask(tool_ask())
    answer = await client.wait(asked["id"], wait=15)
    assert answer["status"] == "timed_out" and answer["timeout_outcome"] == "approve"
    claims = await checked(signer, answer)
    assert claims["decided_by"] == [{"type": "timeout"}] and claims["audit"]["seq"] > 0


async def test_an_edited_call_is_signed_with_the_edited_arguments(signer: Worker, slack: SlackStandIn) -> None:
    client = Client(signer, (await new_key(signer)).key)
    _, first = await client.ask(tool_ask())
    view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
    edited = {**EMAIL, "to": "carol@example.com"}
    await slack.submit_view(user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited)}})
    revised = await client.wait(first["id"])
    assert revised["status"] == "revised" and revised["edited"] is True and revised["receipt"] is None
    _, second = await client.ask({**tool_ask(), "tool": {"name": "send_email", "arguments": edited}})  # as edited
    await click(slack, await nth_card(slack, 2), "approval_approve", user=BOB)
    claims = await checked(signer, await client.wait(second["id"]), edited)
    assert claims["args_sha256"] != args_sha256(EMAIL)


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_what_allows_no_call_has_no_receipt(signer: Worker, slack: SlackStandIn) -> None:
    client = Client(signer, (await new_key(signer)).key)
    _, rejected = await client.ask(tool_ask())
    await reject(slack, await nth_card(slack, 1), user=BOB, reason="no")
    _, withdrawn = await client.ask(tool_ask())
    status, answer, _ = await client.call("DELETE", f"/api/v1/approvals/{withdrawn['id']}")
    assert status == 200 and answer["status"] == "cancelled" and answer["receipt"] is None
    _, expired = await client.ask(tool_ask(timeout=1))
    answers = [await client.wait(rejected["id"]), await client.wait(expired["id"], wait=15)]
    assert [(a["status"], a["receipt"]) for a in answers] == [("rejected", None), ("timed_out", None)]
    approvals = await signer.services.store.approvals.get_many([rejected["id"], withdrawn["id"], expired["id"]])
    assert len(approvals) == 3
    for approval_id in (rejected["id"], withdrawn["id"], expired["id"]):
        stored = await signer.services.store.redis.hget(signer.services.store.keys.approval(approval_id), "receipt")
        assert stored is None


async def test_without_a_key_the_worker_runs_and_signs_nothing(
    slack: SlackStandIn, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.services"):
        worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    slack.events_url = worker.url + "/slack/events"
    try:
        warned = [r.getMessage() for r in caplog.records if "signing key" in r.getMessage()]
        assert len(warned) == 1 and "no signed receipt" in warned[0]
        client = Client(worker, (await new_key(worker)).key)
        _, asked = await client.ask(tool_ask())
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        answer = await client.wait(asked["id"])
        assert answer["status"] == "approved" and "receipt" not in answer
        assert await jwks_of(worker) == {"keys": []}
        assert (await get_json(worker.url + "/healthz"))[1]["receipts"] == "off"
        status, refused = await spend(worker, asked["id"], "a.b.c", "executor-1")
        assert status == 401 and refused["error"]["code"] == "invalid_receipt"
    finally:
        await worker.stop()


async def test_private_keys_never_in_logs_health_answers_or_redis(
    slack: SlackStandIn, redis_url: str, keys_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    worker = await signing_worker(slack, redis_url, keys_file)
    try:
        client = Client(worker, (await new_key(worker)).key)
        _, asked = await client.ask(tool_ask())
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        answer = await client.wait(asked["id"])
        assert answer["receipt"]
        health = (await get_json(worker.url + "/healthz"))[1]
        assert health["receipts"] == "on"
        store = worker.services.store
        stored = [json.dumps(await store.redis.hgetall(key)) if await store.redis.type(key) == "hash" else ""
                  async for key in store.redis.scan_iter(match="*")]
        shown = "\n".join([caplog.text, json.dumps(health), json.dumps(answer), json.dumps(await jwks_of(worker)),
                           *stored])
        secrets = private_parts(keys_file)
        assert secrets and not [d for d in secrets if d in shown]
    finally:
        await worker.stop()
