"""The Approvals API against a real worker (its HTTP server, real Redis, the Slack stand-in): programs
ask, people decide on the cards, the long-poll and the webhook say exactly what they decided."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from agent_approvals.approver import digest_of
from openapi_spec_validator import validate

from bot.api.openapi import document
from bot.api.webhooks import DELIVERY, ROUTE, ROUTE_SIGNATURE, SIGNATURE, TIMESTAMP, sign, sign_route
from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    SALES,
    TEST_SECRETS_KEY,
    Worker,
    bot_env,
    name_admins,
    reply_text,
    start_worker,
)
from tests.support.api import EMAIL, SCHEMA, Client, new_key, tool_ask
from tests.support.hitl import audit_events, click, nth_card, open_modal, reject, text_of, until

OTHER = "C0OTHER"


API_PATHS = ("/api/", "/access/", "/.well-known/authzen")  # the Approvals API's, and AuthZEN's (#91)


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_openapi_document_is_valid_and_served_without_a_key(api: Worker) -> None:
    validate(document())  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as session, session.get(api.url + "/api/v1/openapi.json") as response:
        assert response.status == 200
        served = await response.json()
    assert served == json.loads(json.dumps(document()))
    mounted = {
        (route.method.lower(), route.resource.canonical)
        for route in api.runner.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(API_PATHS)
    }
    described = {(method, path) for path, item in served["paths"].items() for method in item}
    assert mounted == described


async def test_approve_through_the_api_only(api: Worker, slack: SlackStandIn) -> None:
    made = await new_key(api)
    client = Client(api, made.key)
    status, asked = await client.ask(tool_ask(context_url="https://ci.example.com/build/7"))
    assert status == 201 and asked["status"] == "pending", asked
    card = await nth_card(slack, 1)
    shown = text_of(card)
    assert "send_email" in shown and "bob@example.com" in shown
    assert "nightly" in shown and f"<@{ALICE}>" in shown and "https://ci.example.com/build/7" in shown
    waiting = asyncio.create_task(client.wait(asked["id"], wait=30))
    await asyncio.sleep(0)  # (the long-poll is registered before the click, or answered from the record)
    await click(slack, card, "approval_approve", user=BOB)
    answer = await asyncio.wait_for(waiting, 10)
    assert answer["status"] == "approved" and answer["decided_by"] == BOB
    assert answer["arguments"] == EMAIL and answer["digest"] == digest_of(EMAIL)
    entries = await audit_events(api, "requested", "decision")
    assert [e["event"] for e in entries] == ["requested", "decision"] and entries[0]["key"] == "nightly"


async def test_reject_with_a_reason_and_revise_with_edited_arguments(api: Worker, slack: SlackStandIn) -> None:
    client = Client(api, (await new_key(api)).key)
    _, first = await client.ask(tool_ask())
    await reject(slack, await nth_card(slack, 1), user=BOB, reason="not before the board meets")
    answer = await client.wait(first["id"])
    assert (answer["status"], answer["reason"], answer["decided_by"]) == (
        "rejected", "not before the board meets", BOB
    )
    by = f"@{answer['decided_by_name']}" if answer.get("decided_by_name") else BOB  # the name once the worker has it
    assert (answer["who"], answer["refusal"]) == (by, f"Not run: rejected by {by}: not before the board meets")
    _, second = await client.ask(tool_ask())
    card = await nth_card(slack, 2)
    view = await open_modal(slack, card, user=BOB)
    edited = {**EMAIL, "to": "carol@example.com"}
    await slack.submit_view(
        user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited)}}
    )
    answer = await client.wait(second["id"])
    assert answer["status"] == "revised" and answer["arguments"] == edited and answer["edited"] is True
    assert answer["digest"] == digest_of(edited)
    assert answer["refusal"].endswith(f"asked for a revision. Edited arguments to use instead: {json.dumps(edited)}.")
    _, third = await client.ask(tool_ask())  # feedback only: the arguments as asked, not called edited
    view = await open_modal(slack, await nth_card(slack, 3), user=BOB)
    await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "ask Carol first"}})
    answer = await client.wait(third["id"])
    assert (answer["status"], answer["feedback"], answer["arguments"]) == ("revised", "ask Carol first", EMAIL)
    assert "edited" not in answer


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_withdraw_and_the_channel_timeout(api: Worker, slack: SlackStandIn) -> None:
    client = Client(api, (await new_key(api)).key)
    _, asked = await client.ask(tool_ask())
    card = await nth_card(slack, 1)
    status, answer, _ = await client.call("DELETE", f"/api/v1/approvals/{asked['id']}")
    assert status == 200 and answer["status"] == "cancelled" and "withdrawn by nightly" in answer["reason"]
    await until(lambda: "withdrawn" in text_of(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])),
                what="the card says it was withdrawn")
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve", as_seen=card)  # stale
    told = await until(lambda: [e["text"] for e in slack.ephemerals(BOB)], what="the late clicker is told")
    assert told == ["This approval was already cancelled (withdrawn by nightly). Nothing changed."]
    assert (await client.wait(asked["id"]))["status"] == "cancelled"
    _, timed = await client.ask(tool_ask(timeout=1))
    answer = await client.wait(timed["id"], wait=15)
    assert answer["status"] == "timed_out" and answer["timeout_outcome"] == "reject"


async def test_a_rule_decides_without_a_card(api: Worker, slack: SlackStandIn) -> None:
    from bot.core.allow_rules import Rule, exact_match

    store = api.services.store
    rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                created_by=BOB, created_at=0, expires_at=2e10)
    assert await store.rules.create(rule)
    client = Client(api, (await new_key(api)).key)
    status, answer = await client.ask(tool_ask(), headers={"Idempotency-Key": "by-rule"})
    assert status == 200 and answer["status"] == "approved" and answer["decided_by"].startswith("rule ")
    assert answer["arguments"] == EMAIL
    assert await client.ask(tool_ask(), headers={"Idempotency-Key": "by-rule"}) == (200, answer)  # the same answer
    assert [m for m in slack.messages(APPROVALS)] == []
    assert [e["rule_id"] for e in await audit_events(api, "auto_approved")] == ["R1"]  # the rule used once


async def test_idempotency_key_retries_make_one_card(api: Worker, slack: SlackStandIn) -> None:
    client = Client(api, (await new_key(api)).key)
    headers = {"Idempotency-Key": "job-42"}
    first = await client.ask(tool_ask(), headers=headers)
    again = await client.ask(tool_ask(), headers=headers)
    assert first[0] == again[0] == 201 and first[1]["id"] == again[1]["id"]
    status, conflict = await client.ask(tool_ask(title="something else"), headers=headers)
    assert status == 409 and conflict["error"]["field"] == "Idempotency-Key"
    await nth_card(slack, 1)
    assert len([m for m in slack.messages(APPROVALS)]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", ""),
        (json.dumps({**tool_ask(), "surprise": 1}).encode(), "surprise"),
        (json.dumps({**tool_ask(), "kind": "email"}).encode(), "kind"),
        (json.dumps(tool_ask(tool={"name": "send_email", "arguments": EMAIL, "schema": {"type": "nonsense"}})).encode(),
         "tool.schema"),
        (json.dumps(tool_ask(tool={"name": "send_email", "arguments": {"to": 5}, "schema": SCHEMA})).encode(),
         "tool.arguments"),
        (json.dumps(tool_ask(tool={"name": "send_email", "arguments": EMAIL, "editable": "no"})).encode(),
         "tool.editable"),
        (json.dumps({"kind": "message", "title": "x", "text": "hi", "may_have_run": True}).encode(), "may_have_run"),
        (json.dumps(tool_ask(callback_url="ftp://example.com/hook")).encode(), "callback_url"),
        (json.dumps(tool_ask(timeout=0)).encode(), "timeout"),
        (json.dumps({"kind": "message", "title": "x"}).encode(), "text"),
        (json.dumps([1, 2]).encode(), ""),
        (b"\xff\xfe", ""),
    ],
)
async def test_bad_input_is_400_naming_the_field_and_creates_nothing(
    api: Worker, slack: SlackStandIn, body: bytes, field: str
) -> None:
    client = Client(api, (await new_key(api)).key)
    status, answer, _ = await client.call("POST", "/api/v1/approvals", raw=body)
    assert status == 400, answer
    assert answer["error"]["code"] == "invalid_request" and answer["error"].get("field", "") == field
    assert await api.services.store.approvals.get_many([]) == []
    assert slack.messages(APPROVALS) == []
    assert await audit_events(api, "requested") == []


async def test_keys_wrong_revoked_missing_other_channel_oversize_and_limits(api: Worker, slack: SlackStandIn) -> None:
    made = await new_key(api, "limited", SALES, max_pending=1, per_minute=6)
    client = Client(api, made.key)
    assert (await client.call("POST", "/api/v1/approvals", body=tool_ask(), key="aak_" + "x" * 43))[0] == 401
    async with aiohttp.ClientSession() as session, session.post(api.url + "/api/v1/approvals", json=tool_ask()) as r:
        assert r.status == 401
    status, answer = await client.ask(tool_ask(channel=OTHER))
    assert status == 403 and answer["error"]["field"] == "channel"
    huge = json.dumps(tool_ask(tool={"name": "t", "arguments": {"x": "y" * 300_000}})).encode()
    status, answer, _ = await client.call("POST", "/api/v1/approvals", raw=huge)
    assert status == 413 and answer["error"]["field"] == "body"  # Payload Too Large, named
    assert (await client.ask(tool_ask()))[0] == 201
    status, answer, headers = await client.call("POST", "/api/v1/approvals", body=tool_ask())
    assert status == 429 and answer["error"]["code"] == "too_many_pending" and int(headers["Retry-After"]) >= 1
    for _ in range(2 * 6 + 1):  # over 6 this minute (a new minute may start once on the way)
        status, answer, headers = await client.call("GET", "/api/v1/approvals/a-nosuchapprovalnosuchappr")
        if status == 429:
            break
        assert status == 404
    assert status == 429 and answer["error"]["code"] == "rate_limited" and 1 <= int(headers["Retry-After"]) <= 60
    refused = await audit_events(api, "api_refused")
    assert [(e["key"], e["reason"]) for e in refused] == [("limited", "forbidden"), ("limited", "too_many_pending")]
    assert await api.services.store.api_keys.revoke("limited", by="test")
    assert (await client.ask(tool_ask()))[0] == 401
    assert len(slack.messages(APPROVALS)) == 1


async def test_a_key_reads_only_its_own_approvals(api: Worker, slack: SlackStandIn) -> None:
    mine, theirs = Client(api, (await new_key(api, "mine")).key), Client(api, (await new_key(api, "theirs")).key)
    _, asked = await mine.ask(tool_ask())
    for method in ("GET", "DELETE"):
        status, answer, _ = await theirs.call(method, f"/api/v1/approvals/{asked['id']}")
        assert status == 404 and answer["error"]["code"] == "not_found"
    status, answer, _ = await mine.call("GET", f"/api/v1/approvals/{asked['id']}?wait=61")
    assert status == 400 and answer["error"]["field"] == "wait"


@pytest.mark.slow
async def test_webhook_arrives_signed_once_per_decision(api: Worker, slack: SlackStandIn) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received.append((dict(request.headers), await request.read()))
        return aiohttp.web.Response(status=200)

    app = aiohttp.web.Application()
    app.router.add_post("/hook", hook)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        made = await new_key(api)
        client = Client(api, made.key)
        _, asked = await client.ask(tool_ask(callback_url=f"http://127.0.0.1:{port}/hook?workflow_id=w%C3%A9+1&a="))
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        await until(lambda: received, what="the webhook")
        headers, body = received[0]
        assert headers[DELIVERY] == asked["id"]
        assert headers[SIGNATURE] == sign(made.record.webhook_secret, headers[TIMESTAMP], body)
        assert headers[ROUTE] == "/hook?workflow_id=w%C3%A9+1&a="  # the path and query as sent, signed with the body
        assert headers[ROUTE_SIGNATURE] == sign_route(made.record.webhook_secret, headers[TIMESTAMP], headers[ROUTE],
                                                      body)
        assert json.loads(body)["status"] == "approved" and json.loads(body)["decided_by_name"] == "bob"
        assert (json.loads(body)["who"], json.loads(body)["refusal"]) == ("@bob", None)  # the bot's words
        store = api.services.store

        async def delivered() -> bool:
            return await store.redis.zcard(store.keys.webhooks) == 0

        await until(delivered, what="the webhook noted delivered")
        assert len({h[DELIVERY] for h, _ in received}) == 1
        assert [e["approval"] for e in await audit_events(api, "webhook_delivered")] == [asked["id"]]
    finally:
        await runner.cleanup()


async def test_admins_make_and_revoke_keys_with_the_slash_command(api: Worker, slack: SlackStandIn) -> None:
    async def agent(text: str, user: str = BOB) -> str:
        return reply_text(await slack.send_command(user=user, channel=SALES, text=text))

    assert "No API key may ask" in await agent("keys")
    refused = await agent("keys create ci-bot", user=ALICE)  # no admins named yet: nobody is one
    assert "Only this channel's admins" in refused and "aak_" not in refused
    assert [e["action"] for e in await audit_events(api, "keys_refused")] == ["create"]
    assert await api.services.store.api_keys.all() == []
    await name_admins(api, BOB)
    made = await agent("keys create ci-bot")
    key = next(word.strip("`") for word in made.split() if word.startswith("`aak_"))
    assert "whsec_" in made and "not shown again" in made
    assert "`ci-bot`" in await agent("keys")
    assert "Bad key name" in await agent("keys create Not_Valid!")
    client = Client(api, key)
    assert (await client.ask(tool_ask()))[0] == 201
    assert "Only this channel's admins" in await agent("keys revoke ci-bot", user=ALICE)
    assert "Revoked" in await agent("keys revoke ci-bot")
    assert (await client.ask(tool_ask()))[0] == 401
    created = [e["event"] for e in await audit_events(api, "api_key_created", "api_key_revoked")]
    assert created == ["api_key_created", "api_key_revoked"]


@pytest.mark.slow
async def test_the_keys_command_line(api: Worker, redis_url: str) -> None:
    import sys

    env = {"REDIS_URL": redis_url, "SECRETS_KEY": TEST_SECRETS_KEY, "PATH": "/usr/bin:/bin"}

    async def keys(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "keys", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        return int(process.returncode or 0), out.decode()

    code, made = await keys("create", "nightly", "--channel", SALES, "--channel", OTHER)
    assert code == 0, made
    key = next(line.split()[-1] for line in made.splitlines() if "key:" in line)
    assert key.startswith("aak_") and "whsec_" in made
    stored = await api.services.store.api_keys.verify(key)
    assert stored is not None and stored.channels == (SALES, OTHER)
    code, listed = await keys("list")
    assert '"name": "nightly"' in listed and key not in listed and "whsec_" not in listed
    assert (await keys("create", "nightly", "--channel", SALES))[0] == 2  # the name is taken
    assert (await keys("create", "x", "--channel", "not-a-channel"))[0] == 2
    assert (await keys("revoke", "nightly"))[0] == 0
    assert await api.services.store.api_keys.verify(key) is None
    assert (await keys("revoke", "nightly"))[0] == 2


async def test_there_is_no_way_to_decide_through_the_api(api: Worker, slack: SlackStandIn) -> None:
    client = Client(api, (await new_key(api)).key)
    _, asked = await client.ask(tool_ask())
    for method in ("PUT", "PATCH", "POST"):
        async with aiohttp.ClientSession() as session, session.request(
            method, f"{api.url}/api/v1/approvals/{asked['id']}", json={"status": "approved"},
            headers={"Authorization": f"Bearer {client.key}"},
        ) as response:
            assert response.status == 405
    assert (await client.wait(asked["id"], wait=0))["status"] == "pending"


def test_webhook_retries_last_at_least_a_day_and_never_reach_private_addresses() -> None:
    from bot.api.hosts import private_host
    from bot.api.webhooks import GIVE_UP_AFTER, backoff

    waited, tries = 0.0, 0
    while waited < GIVE_UP_AFTER:
        tries += 1
        waited += backoff(tries)
    assert 24 * 3600 <= GIVE_UP_AFTER and 20 <= tries <= 40  # about 5 s doubling to hourly: ~30 tries a day
    assert all(backoff(n) <= 3600 * 1.1 for n in range(1, 60))
    for host in ("127.0.0.1", "localhost", "10.0.0.7", "192.168.1.2", "172.16.0.1", "169.254.169.254", "::1",
                 "[fd00::1]", "metadata.internal"):
        assert private_host(host), host
    for host in ("example.com", "8.8.8.8", "hooks.slack.com"):
        assert not private_host(host), host


@pytest.mark.slow
async def test_a_webhook_to_a_private_address_is_not_sent_unless_allowed(api: Worker, redis_url: str) -> None:
    from bot.api.webhooks import WebhookSender

    store = api.services.store
    made = await new_key(api)
    client = Client(api, made.key)
    _, asked = await client.ask(tool_ask(callback_url="http://127.0.0.1:9/hook"))  # allowed when asked (the worker)
    await store.approvals.decide(asked["id"], outcome="approved", by=BOB)
    strict = WebhookSender(store, allow_private=False)
    assert await strict.deliver(asked["id"]) is False  # refused at sending time
    tries, first = await store.webhooks.tries(asked["id"])
    assert tries == 1 and first > 0
    assert await store.redis.zscore(store.keys.webhooks, asked["id"]) is not None  # kept for a later try
    await strict.stop()


async def test_the_sync_client(api: Worker, slack: SlackStandIn) -> None:
    from agent_approvals import BadKey, InvalidRequest, SyncApprovalsClient

    made = await new_key(api)
    client = SyncApprovalsClient(api.url, made.key, title="sync program")
    asked = await asyncio.to_thread(client.request_tool, "send_email", EMAIL, schema=SCHEMA)
    assert asked.pending
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    decided = await asyncio.to_thread(client.wait, asked.id)
    assert decided.approved and decided.arguments == EMAIL
    with pytest.raises(InvalidRequest) as bad:
        await asyncio.to_thread(client.request_tool, "send_email", {"to": 5}, schema=SCHEMA)
    assert bad.value.field == "tool.arguments"
    with pytest.raises(BadKey):
        await asyncio.to_thread(SyncApprovalsClient(api.url, "aak_" + "y" * 43).get, asked.id)


@pytest.mark.slow
async def test_a_programs_approval_is_listed_in_the_home_and_status_naming_its_agent(
    api: Worker, slack: SlackStandIn
) -> None:
    from tests.support.homes import home_text, open_homes

    client = Client(api, (await new_key(api)).key)
    await open_homes(slack, BOB)
    _, asked = await client.ask(tool_ask(agent="mailer (LangGraph)"))
    card = await nth_card(slack, 1)
    assert "mailer (LangGraph)" in text_of(card)
    await slack.wait_for(lambda: "mailer (LangGraph)" in home_text(slack, BOB), description="BOB's Home lists it")
    assert "asked by `nightly` (the agent calling itself “mailer (LangGraph)”)" in home_text(slack, BOB)
    status = reply_text(await slack.send_command(user=BOB, channel=SALES, text="status"))
    assert "nightly" in status and "*Pending approvals*" in status
    await click(slack, card, "approval_approve", user=BOB)
    assert (await client.wait(asked["id"]))["status"] == "approved"
    await slack.wait_for(lambda: "mailer (LangGraph)" not in home_text(slack, BOB), description="decided: gone")


async def test_an_approved_call_is_used_once(api: Worker, slack: SlackStandIn) -> None:
    """`POST …/use` right before the call runs: the first process to use it may run it (its retry too); another
    is told it was used (the first may have run it), and asks again as a call that may have run."""
    from agent_approvals import ApprovalsClient

    made = await new_key(api)
    client = Client(api, made.key)
    _, asked = await client.ask(tool_ask())
    path = f"/api/v1/approvals/{asked['id']}/use"
    status, answer, _ = await client.call("POST", path, body={"token": "process-one"})
    assert status == 409 and answer["error"]["code"] == "not_approved"  # pending: nothing to use
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    await client.wait(asked["id"])
    status, answer, _ = await client.call("POST", path, body={"token": "process-one"})
    assert status == 200 and answer["used"] is True and answer["used_at"]
    status, answer, _ = await client.call("POST", path, body={"token": "process-one"})  # its retry
    assert status == 200 and answer["used"] is True
    status, answer, _ = await client.call("POST", path, body={"token": "process-two"})  # another process
    assert status == 200 and answer["used"] is False
    for bad_body in ({}, {"token": "short"}, {"token": "ok-token", "more": 1}):
        status, answer, _ = await client.call("POST", path, body=bad_body)
        assert status == 400 and answer["error"]["field"] == "token"
    other = Client(api, (await new_key(api, "other")).key)
    status, _, _ = await other.call("POST", path, body={"token": "process-one"})
    assert status == 404  # not its approval
    assert [e["approval"] for e in await audit_events(api, "used")] == [asked["id"]]

    async with ApprovalsClient(api.url, made.key) as program:  # the package's own call
        assert await program.use(asked["id"]) is False


def allowed_record(**extra: Any) -> dict[str, Any]:
    return {"tool": {"name": "list_inbox", "arguments": {"limit": 2}}, "allowed_by": "--allow list_*", **extra}


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_a_call_allowed_by_the_programs_own_allow_list_is_audited(api: Worker, slack: SlackStandIn) -> None:
    """`POST /api/v1/audit/allowed`: no card, no approval, one `allowed` audit entry (the key, the tool, the digest,
    who let it through), the same answer for a retry with the same Idempotency-Key; shown by the export and counted
    apart in the report; the package's `record_allowed` sends it."""
    from jsonschema import Draft202012Validator

    from bot.report import headline
    from bot.report.figures import compute

    made = await new_key(api)
    client = Client(api, made.key)
    headers = {"Idempotency-Key": "mcp-7-allowed"}
    status, first, _ = await client.call("POST", "/api/v1/audit/allowed", body=allowed_record(agent="mailbox (MCP)"),
                                         headers=headers)
    assert status == 201, first
    served = document()
    Draft202012Validator({**served["components"]["schemas"]["AllowedCall"], "components": served["components"]}
                         ).validate(first)
    assert (first["status"], first["tool"], first["allowed_by"]) == ("allowed", "list_inbox", "--allow list_*")
    assert first["digest"] == digest_of({"limit": 2}) and first["id"].startswith("c-")
    again = await client.call("POST", "/api/v1/audit/allowed", body=allowed_record(agent="mailbox (MCP)"),
                              headers=headers)
    assert again[:2] == (201, first)  # a retry after a lost answer: the same record
    status, conflict, _ = await client.call("POST", "/api/v1/audit/allowed", body=allowed_record(), headers=headers)
    assert status == 409 and conflict["error"]["field"] == "Idempotency-Key"
    entries = await audit_events(api, "allowed")
    assert len(entries) == 1, entries
    entry = entries[0]
    assert {k: entry[k] for k in ("call", "key", "tool", "digest", "outcome", "by", "rule", "origin_channel",
                                   "arguments", "agent")} == {
        "call": first["id"], "key": "nightly", "tool": "list_inbox", "digest": first["digest"], "outcome": "allowed",
        "by": "allow-list", "rule": "--allow list_*", "origin_channel": SALES, "arguments": '{"limit":2}',
        "agent": "mailbox (MCP)"}
    assert "allow-list of key nightly" in entry["reason"]
    assert slack.messages(APPROVALS) == [] and await audit_events(api, "requested", "decision") == []

    exported = [e async for e in api.services.store.audit.export(since=0, channels=[SALES])]
    assert [e["event"] for e in exported] == ["allowed"]
    assert "Run without a card by programs' own allow-lists: 1 call" in headline(exported, now=2e10).lines()
    figures = compute(exported, backlog=[], now=2e10, since=0)
    assert figures.automatic.allowed == (("nightly", "list_inbox", "--allow list_*", 1),)
    assert figures.automatic.approved == 0 and figures.decisions == 0 and not figures.empty

    from agent_approvals import ApprovalsClient

    async with ApprovalsClient(api.url, made.key) as program:  # the package's own call, retried with its key
        recorded = await program.record_allowed("list_inbox", {"limit": 3}, allowed_by="--allow list_*",
                                                idempotency_key="k-1")
        assert await program.record_allowed("list_inbox", {"limit": 3}, allowed_by="--allow list_*",
                                            idempotency_key="k-1") == recorded
    assert recorded.digest == digest_of({"limit": 3}) and len(await audit_events(api, "allowed")) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (allowed_record(allowed_by=""), "allowed_by"),
        ({"tool": {"name": "list_inbox", "arguments": {}}}, "allowed_by"),
        (allowed_record(tool={"name": "list inbox!", "arguments": {}}), "tool.name"),
        (allowed_record(tool={"name": "list_inbox", "arguments": [1]}), "tool.arguments"),
        (allowed_record(tool={"name": "list_inbox"}), "tool.arguments"),
        (allowed_record(tool={"name": "list_inbox", "arguments": {}, "schema": {}}), "tool.schema"),
        (allowed_record(tool="list_inbox"), "tool"),
        (allowed_record(kind="tool"), "kind"),
        (allowed_record(channel="sales"), "channel"),
        (allowed_record(allowed_by="x" * 201), "allowed_by"),
    ],
)
async def test_a_bad_allowed_record_is_400_naming_the_field_and_records_nothing(
    api: Worker, body: dict[str, Any], field: str
) -> None:
    client = Client(api, (await new_key(api)).key)
    status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body=body)
    assert status == 400 and answer["error"]["code"] == "invalid_request", answer
    assert answer["error"].get("field", "") == field
    assert await audit_events(api, "allowed") == []


async def test_an_allowed_record_needs_the_keys_rights(api: Worker) -> None:
    made = await new_key(api, "nightly", SALES)
    client = Client(api, made.key)
    status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body=allowed_record(), key="aak_" + "x" * 43)
    assert status == 401 and answer["error"]["code"] == "unauthorized"
    status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body=allowed_record(channel=OTHER))
    assert status == 403 and answer["error"]["field"] == "channel"
    status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body=allowed_record(),
                                          headers={"Idempotency-Key": "no spaces allowed"})
    assert status == 400 and answer["error"]["field"] == "Idempotency-Key"
    assert await api.services.store.api_keys.revoke("nightly", by="test")
    status, _, _ = await client.call("POST", "/api/v1/audit/allowed", body=allowed_record())
    assert status == 401
    assert await audit_events(api, "allowed") == []
    refusals = [(e["key"], e["reason"]) for e in await audit_events(api, "api_refused")]
    assert refusals == [("nightly", "forbidden"), ("nightly", "key_revoked")]


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_long_poll_ends_when_its_client_hangs_up_or_the_worker_stops(
    api: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    """A long-poll is not served on for a client that is gone (aiohttp would not cancel it, and a worker's shutdown
    waits for every request in flight); a worker that stops answers its long-polls at once (pending), so stopping
    takes no longer than its other work."""
    made = await new_key(api)
    client = Client(api, made.key)
    _, asked = await client.ask(tool_ask())
    polling = asyncio.create_task(client.wait(asked["id"], wait=60))
    await until(lambda: api.services.api.waiters.count == 1, what="the long-poll held")
    polling.cancel()  # the client hangs up
    await until(lambda: api.services.api.waiters.count == 0, within=5, what="the long-poll given up")

    other = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    try:
        waiting = asyncio.create_task(Client(other, made.key).wait(asked["id"], wait=60))
        await until(lambda: other.services.api.waiters.count == 1, what="the long-poll held on the other worker")
    finally:
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(other.stop(), 30)
    assert (await asyncio.wait_for(waiting, 5))["status"] == "pending"
    assert asyncio.get_running_loop().time() - started < 20
