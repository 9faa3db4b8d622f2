"""The Approvals API tried as a hostile program and an unlucky one would (issue #33): every decision is an approval
used once, limits hold under concurrency, approvals belong to a key's immutable id, bad input is a 400 naming the
field. Real `python -m bot` workers where processes matter (kill -9, two workers), an in-process one elsewhere."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from agent_approvals import ApprovalsClient

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import ALICE, APPROVALS, BOB, SALES, Worker
from tests.support.api import EMAIL, Client, new_key, tool_ask
from tests.support.cluster import Cluster
from tests.support.hitl import click, nth_card, reject, until


async def always_allow(db: Store, arguments: dict[str, Any] = EMAIL) -> Rule:
    rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", arguments),
                created_by=BOB, created_at=0, expires_at=2e10)
    rule_id = await db.rules.create(rule)
    found = await db.rules.get(SALES, rule_id)
    assert found is not None
    return found


# 4. every decision, a person's, a rule's or the input mode's, is an approval read and used once ---------------
async def test_a_rules_approval_can_be_read_used_once_and_withdrawn(api: Worker, slack: SlackStandIn) -> None:
    client = Client(api, (await new_key(api)).key)
    rule = await always_allow(api.services.store)
    status, answer = await client.ask(tool_ask(), headers={"Idempotency-Key": "first"})
    assert status == 200 and answer["status"] == "approved" and answer["decided_by"] == f"rule {rule.id}"
    status, read, _ = await client.call("GET", f"/api/v1/approvals/{answer['id']}")
    assert status == 200 and read["status"] == "approved" and read["arguments"] == EMAIL
    status, used, _ = await client.call("POST", f"/api/v1/approvals/{answer['id']}/use", body={"token": "use-one-1"})
    assert status == 200 and used["used"] is True
    status, again, _ = await client.call("POST", f"/api/v1/approvals/{answer['id']}/use", body={"token": "use-two-2"})
    assert status == 200 and again["used"] is False  # a second use (a resumed process) is told it was used
    status, withdrawn, _ = await client.call("DELETE", f"/api/v1/approvals/{answer['id']}")
    assert status == 200 and withdrawn["status"] == "approved"
    status, retry = await client.ask(tool_ask(), headers={"Idempotency-Key": "first"})
    assert status == 200 and retry["id"] == answer["id"] and retry["used_at"]  # the retry: the same approval, used
    assert not slack.messages(APPROVALS) or all("send_email" not in json.dumps(m) for m in slack.messages(
        APPROVALS))


async def test_the_input_modes_decision_is_kept_too(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    assert await api.services.store.settings.set(SALES, "mode", "never", by=ALICE) is None
    status, answer = await client.ask(tool_ask())
    assert status == 200 and answer["status"] == "rejected" and answer["decided_by"] == "auto"
    status, read, _ = await client.call("GET", f"/api/v1/approvals/{answer['id']}")
    assert status == 200 and read["status"] == "rejected"
    status, used, _ = await client.call("POST", f"/api/v1/approvals/{answer['id']}/use", body={"token": "use-one-1"})
    assert status == 409 and used["error"]["code"] == "not_approved"


async def test_a_revoked_rule_approves_no_retry(api: Worker, slack: SlackStandIn) -> None:
    made = await new_key(api)
    db = api.services.store
    rule = await always_allow(db)
    async with ApprovalsClient(api.url, made.key, title="Tell Bob", requester=ALICE) as program:
        first = await program.request_tool("send_email", EMAIL, idempotency_key="call-7")  # its program then died
        assert first.status == "approved" and first.decided_by == f"rule {rule.id}"
        assert await db.rules.remove(SALES, rule.id, event="rule_revoked", by=BOB) is not None
        status, refused, _ = await Client(api, made.key).call("POST", f"/api/v1/approvals/{first.id}/use",
                                                              body={"token": "use-one-1"})
        assert status == 409 and refused["error"]["code"] == "rule_revoked"
        deciding = asyncio.create_task(program.tool_decision("send_email", EMAIL, idempotency_key="call-7"))
        card = await nth_card(slack, 1, within=20)  # the retry: a person is asked now, not as "may have run"
        assert "may have run" not in json.dumps(card)
        await reject(slack, card, user=BOB, reason="not any more")
        decided = await asyncio.wait_for(deciding, 20)
    assert decided.status == "rejected" and decided.decided_by == BOB


PROGRAM = textwrap.dedent("""
    import asyncio, json, sys
    from agent_approvals import ApprovalsClient

    async def main(url, key, mode, ran):
        async with ApprovalsClient(url, key, title="Tell Bob", requester="U0ALICE") as client:
            decided = await client.tool_decision("send_email", {"to": "bob@example.com", "body": "Prices go up 5%"
                                                 " on May 1."}, idempotency_key="run-1-call-1")
            print(json.dumps({"status": decided.status, "by": decided.decided_by}), flush=True)
            if decided.approved:
                with open(ran, "a") as f:
                    f.write("sent\\n")
                if mode == "hang":
                    await asyncio.Event().wait()

    asyncio.run(main(*sys.argv[1:]))
""")


@pytest.mark.slow
async def test_a_rule_approved_call_killed_9_mid_call_is_asked_of_a_person(
    cluster: Cluster, slack: SlackStandIn, store: Store, tmp_path: Path
) -> None:
    worker = await cluster.start()
    slack.events_url = worker.events
    made = await store.api_keys.create("nightly", [SALES], by=BOB)
    assert made is not None
    await always_allow(store, {"to": "bob@example.com", "body": "Prices go up 5% on May 1."})
    program, ran = tmp_path / "program.py", tmp_path / "ran.txt"
    program.write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if k not in ("SLACK_BOT_TOKEN", "REDIS_URL")}

    async def spawn(mode: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(sys.executable, str(program), worker.url, made.key, mode,
                                                    str(ran), env=env, stdout=asyncio.subprocess.PIPE)

    first = await spawn("hang")
    try:
        await until(lambda: ran.exists() and ran.read_text() == "sent\n", within=30, what="the rule's call running")
        first.send_signal(signal.SIGKILL)
        await first.wait()
        second = await spawn("done")
        card = await nth_card(slack, 1, within=30)  # asked of a person, never the rule: it may have run
        assert "may have run" in json.dumps(card)
        await reject(slack, card, user=BOB, reason="it went out already")
        out, _ = await asyncio.wait_for(second.communicate(), 30)
    finally:
        for process in (first,):
            if process.returncode is None:
                process.kill()
    assert json.loads(out.decode().splitlines()[-1]) == {"status": "rejected", "by": BOB}
    assert ran.read_text() == "sent\n"  # the call ran once


# 5. max_pending holds under concurrency, over two workers -----------------------------------------------------
@pytest.mark.slow
async def test_max_pending_holds_against_concurrent_asks_on_two_workers(
    cluster: Cluster, store: Store
) -> None:
    first, second = await cluster.start(), await cluster.start()
    made = await store.api_keys.create("nightly", [SALES], by=BOB, max_pending=3)
    assert made is not None
    clients = [Client(first, made.key), Client(second, made.key)]  # type: ignore[arg-type]
    answers = await asyncio.gather(*(clients[i % 2].ask(tool_ask(title=f"call {i}")) for i in range(30)))
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) == 3 and statuses.count(429) == 27, statuses
    pending = [a for a in await store.approvals.get_many(a["id"] for s, a in answers if s == 201) if a.pending]
    assert len(pending) == 3


# 6. a program cannot shrink a channel's timeout into an approval ----------------------------------------------
@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_programs_shorter_timeout_never_approves(api: Worker) -> None:
    db = api.services.store
    for key, value in (("timeout_outcome", "approve"), ("timeout_approves_tools", "1"), ("timeout", "3600")):
        assert await db.settings.set(SALES, key, value, by=ALICE) is None
    client = Client(api, (await new_key(api)).key)
    status, answer = await client.ask({**tool_ask(), "timeout": 1})
    assert status == 201
    decided = await client.wait(answer["id"], wait=15)
    assert decided["status"] == "timed_out" and decided["timeout_outcome"] == "reject"
    status, used, _ = await client.call("POST", f"/api/v1/approvals/{answer['id']}/use", body={"token": "use-one-1"})
    assert status == 409 and used["error"]["code"] == "not_approved"


# 7. approvals belong to a key's immutable id, not its name ----------------------------------------------------
async def test_a_new_key_with_a_revoked_keys_name_gets_nothing_of_it(api: Worker, slack: SlackStandIn) -> None:
    db = api.services.store
    old = await new_key(api, "nightly")
    status, answer = await Client(api, old.key).ask(tool_ask())
    assert status == 201
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    await until(lambda: Client(api, old.key).wait(answer["id"], wait=0), what="decided")
    status, pending = await Client(api, old.key).ask(tool_ask(title="another"))
    assert status == 201
    assert await db.api_keys.revoke("nightly", by=BOB)
    thief = Client(api, (await new_key(api, "nightly")).key)
    for method, path, body in (("GET", f"/api/v1/approvals/{answer['id']}", None),
                               ("POST", f"/api/v1/approvals/{answer['id']}/use", {"token": "use-thief-1"}),
                               ("DELETE", f"/api/v1/approvals/{pending['id']}", None)):
        status, refused, _ = await thief.call(method, path, body=body)
        assert status == 404 and refused["error"]["code"] == "not_found", (method, path)
    still = await db.approvals.get(pending["id"])  # withdrawn by the revocation (#63.2), not by the thief
    assert still is not None and still.status == "cancelled" and still.feedback == "withdrawn: key nightly revoked"
    assert not (await db.approvals.get(answer["id"])).used_at  # type: ignore[union-attr]


# 13. a key revoked during a long-poll does not receive the decision ---------------------------------------------
async def test_a_key_revoked_during_a_long_poll_gets_401(api: Worker, slack: SlackStandIn) -> None:
    made = await new_key(api)
    client = Client(api, made.key)
    status, answer = await client.ask(tool_ask())
    assert status == 201
    polling = asyncio.create_task(client.call("GET", f"/api/v1/approvals/{answer['id']}?wait=20"))
    await until(lambda: api.services.api.waiters.count == 1, what="the long-poll held")
    assert await api.services.store.api_keys.revoke("nightly", by=BOB)
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    status, body, _ = await asyncio.wait_for(polling, 20)
    assert status == 401 and "arguments" not in body


# 9, 10. what a client sends is a 400 naming the field, never a 500 ----------------------------------------------
@pytest.mark.parametrize("raw, field", [
    (b'{"kind": "tool", "title": "x", "tool": {"name": "t", "arguments": {"a": ' + b"[" * 1000 + b"]" * 1000 + b"}}}",
     ""),
    (b'{"kind": "tool", "title": "x", "tool": {"name": "t", "arguments": {"n": NaN}}}', ""),
    (b'{"kind": "tool", "title": "x", "tool": {"name": "t", "arguments": {"n": Infinity}}}', ""),
    (b'{"kind": "tool", "title": "x", "tool": {"name": "t", "arguments": {"n": 1e999}}}', ""),
    (b'{"kind": "tool", "title": "x", "requester": "U0BOB\\n", "tool": {"name": "t", "arguments": {}}}', "requester"),
    (b'{"kind": "tool", "title": "x", "channel": "C0SALES\\n", "tool": {"name": "t", "arguments": {}}}', "channel"),
    (b'{"kind": "tool", "title": "x", "tool": {"name": "t\\n", "arguments": {}}}', "tool.name"),
], ids=["nested-1000", "NaN", "Infinity", "1e999", "requester-newline", "channel-newline", "tool-newline"])
async def test_bad_bodies_are_400_naming_the_field(api: Worker, raw: bytes, field: str) -> None:
    client = Client(api, (await new_key(api)).key)
    status, body, _ = await client.call("POST", "/api/v1/approvals", raw=raw)
    assert status == 400 and body["error"].get("field", "") == field, body
    assert await api.services.store.approvals.of_run("none") == []


async def test_deep_json_on_allowed_and_use_is_400(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    deep = b"[" * 3000 + b"]" * 3000
    for path in ("/api/v1/audit/allowed", "/api/v1/approvals/a-aaaaaaaaaaaaaaaaaaaaaaaa/use"):
        status, body, _ = await client.call("POST", path, raw=deep)
        assert status == 400 and "deeper than 64" in body["error"]["message"], (path, body)
    status, body, _ = await client.call("POST", "/api/v1/approvals", raw=b"{" + b'"a":{' * 3000 + b"}" * 3001)
    assert status == 400


async def test_an_idempotent_retry_whose_first_try_died_before_its_card_gets_one(
    api: Worker, slack: SlackStandIn
) -> None:
    """A first try stored its approval and stopped before posting the card: the retry posts it."""
    made = await new_key(api)
    client = Client(api, made.key)
    status, first = await client.ask(tool_ask(), headers={"Idempotency-Key": "retry-1"})
    assert status == 201
    db = api.services.store
    await db.redis.hdel(db.keys.approval(first["id"]), "card_ts")  # as if its worker died before the post
    before = len(slack.messages(APPROVALS))
    status, again = await client.ask(tool_ask(), headers={"Idempotency-Key": "retry-1"})
    assert status == 201 and again["id"] == first["id"]
    assert len(slack.messages(APPROVALS)) == before + 1
    status, conflict = await client.ask(tool_ask(title="other"), headers={"Idempotency-Key": "retry-1"})
    assert status == 409 and conflict["error"]["field"] == "Idempotency-Key"
