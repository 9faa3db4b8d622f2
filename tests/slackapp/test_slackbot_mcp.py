"""Slackbot asks before it writes (issue 69, item 3): `POST /slack/mcp` on a real worker, signed as Slack signs, with
a real MCP server process as its upstream; cards decided by clicks through the local Slack."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import Any, cast

import aiohttp
import httpx2
import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from bot.devslack.server import SlackStandIn
from bot.devslack.slackbot import PROTOCOL as PANE_PROTOCOL
from bot.slackapp.slackbot_mcp import VERSIONS
from tests.conftest import ALICE, BOB, SALES, StartPolicyWorker, Worker, bot_env, card_of, start_worker
from tests.support.hitl import audit_events, click, nth_card, reject, until
from tests.support.slackbot import assert_slackbot_blocks, calls, dm_texts, post, sign, slackbot_env, tool_call

pytestmark = pytest.mark.slow  # the upstream MCP server is a process of its own

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


@pytest.fixture
async def slackbot(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker serving `/slack/mcp` with the test mailbox behind it, and the API key Slackbot asks with."""
    worker = await start_slackbot(slack, redis_url, tmp_path)
    assert await worker.services.store.api_keys.create("slackbot", [SALES], by="operator") is not None
    yield worker
    await worker.stop()


async def start_slackbot(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> Worker:
    """One more worker serving `/slack/mcp` (its own mailbox process, recording to the same file); Slack's clicks go
    to it from now on."""
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, **slackbot_env(tmp_path / "calls.jsonl"))
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    return worker


async def test_a_write_waits_for_another_person_then_runs_once(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    # a channel that lets requesters approve their own asks: never for Slackbot's, asked on a person's behalf
    await slackbot.services.store.settings.set(SALES, "allow_self_approval", "true", by="operator")
    # answered while the approval waits (nobody has decided: a call that waited for it would never answer)
    status, said = await asyncio.wait_for(post(slackbot.url, tool_call("send_email", EMAIL, user=ALICE)), 30)
    assert status == 200, said
    blocks = said["result"]["_meta"]["slack"]["blocks"]
    assert_slackbot_blocks(blocks)
    assert "waits for a decision" in json.dumps(blocks)
    button = blocks[-1]["elements"][0]
    assert button["action_id"] == "tool:approval_result"
    approval_id = json.loads(button["value"])["approval_id"]
    card = await nth_card(slack, 1)
    assert calls(tmp_path, "send_email") == []  # nothing runs before a person decides

    await click(slack, card, "approval_approve", user=ALICE)  # the requester's own Approve
    told = await until(lambda: next((e["text"] for e in slack.ephemerals(ALICE) if "cannot decide" in e["text"]), None),
                       what="the requester's refusal")
    assert "Nothing changed" in told
    record = await slackbot.services.store.approvals.get(approval_id)
    assert record is not None and record.status == "pending" and not record.allow_self_approval
    assert card_of(slack, pending=True), "the requester's click decided nothing"

    status, early = await post(slackbot.url, tool_call("approval_result", {"approval_id": approval_id}, user=ALICE))
    assert status == 200 and "still waits" in early["result"]["content"][0]["text"]
    await click(slack, card, "approval_approve", user=BOB)
    await until(lambda: "sent to bob@example.com" in dm_texts(slack, ALICE), what="the requester's DM")
    assert len(calls(tmp_path, "send_email")) == 1

    status, fetched = await post(slackbot.url, tool_call("approval_result", {"approval_id": approval_id}, user=ALICE,
                                                         ident=2))
    assert status == 200
    assert_slackbot_blocks(fetched["result"]["_meta"]["slack"]["blocks"])
    assert "sent to bob@example.com" in json.dumps(fetched["result"]["_meta"]["slack"]["blocks"])
    assert len(calls(tmp_path, "send_email")) == 1, "the approved call ran once"
    status, other = await post(slackbot.url, tool_call("approval_result", {"approval_id": approval_id}, user=BOB,
                                                       ident=3))
    assert "error" in other and "sent to" not in json.dumps(other)  # only who asked reads its result


async def test_a_rejected_call_never_runs_and_the_requester_is_told(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    status, said = await post(slackbot.url, tool_call("send_email", EMAIL, user=ALICE))
    assert status == 200, said
    card = await nth_card(slack, 1)
    await reject(slack, card, user=BOB, reason="not before the board meets")
    told = await until(lambda: "rejected" in dm_texts(slack, ALICE) and dm_texts(slack, ALICE), what="the DM")
    assert "did not run" in told and "not before the board meets" in told
    assert calls(tmp_path, "send_email") == []
    approval_id = json.loads(said["result"]["_meta"]["slack"]["blocks"][-1]["elements"][0]["value"])["approval_id"]
    status, fetched = await post(slackbot.url, tool_call("approval_result", {"approval_id": approval_id}, user=ALICE))
    blocks = fetched["result"]["_meta"]["slack"]["blocks"]
    assert_slackbot_blocks(blocks)
    assert "was rejected" in json.dumps(blocks) and calls(tmp_path, "send_email") == []


async def test_a_read_only_tool_is_forwarded_at_once(slackbot: Worker, slack: SlackStandIn, tmp_path: Path) -> None:
    status, said = await post(slackbot.url, tool_call("list_inbox", {"limit": 2}, user=ALICE))
    assert status == 200, said
    assert said["result"]["content"][0]["text"] == "alice: lunch?\nbob: the prices"
    assert calls(tmp_path, "list_inbox") == [{"tool": "list_inbox", "arguments": {"limit": 2}}]
    assert card_of(slack) == []


async def test_initialize_and_the_tools_slackbot_sees(slackbot: Worker) -> None:
    hello = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {"extensions": {"io.slack/block-kit": {
            "mimeTypes": ["application/vnd.slack.blocks+json"]}}}, "clientInfo": {"name": "Slackbot"}}}).encode()
    status, said = await post(slackbot.url, hello)
    assert status == 200 and said["result"]["capabilities"] == {"tools": {}}
    status, _ = await post(slackbot.url, b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    assert status == 202
    status, listed = await post(slackbot.url, b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
    tools = {tool["name"]: tool for tool in listed["result"]["tools"]}
    assert set(tools) == {"send_email", "pay", "list_inbox", "approval_result"}
    assert all(tool["_meta"]["slack"]["supportsBlockKit"] is True for tool in tools.values())
    assert tools["list_inbox"]["annotations"]["readOnlyHint"] is True


async def test_unsigned_stale_replayed_and_other_team_calls_are_refused(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    body = tool_call("send_email", EMAIL, user=ALICE)
    assert (await post(slackbot.url, body, {"Content-Type": "application/json"}))[0] == 401  # unsigned
    assert (await post(slackbot.url, body, sign(body, secret="not-the-secret")))[0] == 401  # forged
    assert (await post(slackbot.url, body, sign(body, ts=int(time.time()) - 600)))[0] == 401  # stale
    read = tool_call("list_inbox", {}, user=ALICE)
    headers = sign(read)
    assert (await post(slackbot.url, read, headers))[0] == 200
    assert (await post(slackbot.url, read, headers))[0] == 401  # the same request again: a replay
    status, said = await post(slackbot.url, tool_call("send_email", EMAIL, user=ALICE, team="T0OTHER"))
    assert status == 403 and said["error"]["message"]
    refused = await audit_events(slackbot, "refused")
    assert any(entry.get("by") == ALICE and "another workspace" in entry.get("reason", "") for entry in refused)
    status, said = await post(slackbot.url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "send_email", "arguments": EMAIL}}).encode())
    assert status == 400 and "user_id" in said["error"]["message"]  # no person named: refused
    assert (await post(slackbot.url, b"{not json"))[0] == 400
    assert card_of(slack) == [] and calls(tmp_path, "send_email") == []
    assert len(calls(tmp_path, "list_inbox")) == 1


async def test_a_body_that_is_not_utf8_or_a_signature_that_is_not_ascii_is_401_not_500(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    """#76.13: a made-up signature on a body that is not UTF-8 (or a signature that is not ASCII) is not signed by
    Slack: 401, never a 500 with a traceback (the check reads the raw bytes)."""
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "x": "\xff\xfe"}'
    made_up = {**sign(b"another body"), "X-Slack-Request-Timestamp": sign(b"")["X-Slack-Request-Timestamp"]}
    status, said = await post(slackbot.url, body, made_up)
    assert status == 401 and "not signed by Slack" in said["error"]["message"], said
    status, said = await post(slackbot.url, body, {**made_up, "X-Slack-Signature": "v0=\u00e9t\u00e9"})
    assert status == 401, said
    assert (await post(slackbot.url, body))[0] == 400  # signed by Slack, but not JSON: bad input
    assert card_of(slack) == [] and calls(tmp_path, "send_email") == []


async def test_a_call_naming_our_team_with_an_organisation_it_is_not_part_of_is_refused(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    """#76.13: T0DEV is in no Enterprise Grid organisation: a call naming it with E0OTHER is refused and audited."""
    status, said = await post(slackbot.url, tool_call("send_email", EMAIL, user=ALICE, enterprise="E0OTHER"))
    assert status == 403 and said["error"]["message"], said
    refused = await audit_events(slackbot, "refused")
    assert any(entry.get("by") == ALICE and "E0OTHER" in entry.get("reason", "") for entry in refused), refused
    assert card_of(slack) == [] and calls(tmp_path, "send_email") == []
    assert (await post(slackbot.url, tool_call("send_email", EMAIL, user=ALICE, ident=2)))[0] == 200  # ours: asks


async def test_what_the_upstream_says_reaches_the_requester_inert(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    hostile = {"to": "<!channel> <https://evil.example|x>", "body": "hi"}
    status, said = await post(slackbot.url, tool_call("send_email", hostile, user=ALICE))
    assert status == 200, said
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    told = await until(lambda: "sent to" in dm_texts(slack, ALICE) and dm_texts(slack, ALICE), what="the DM")
    assert "&lt;!channel&gt;" in told and "<!channel>" not in told and "<https://evil" not in told
    assert len(calls(tmp_path, "send_email")) == 1


async def test_when_the_asking_worker_is_gone_another_runs_the_call_once(
    slackbot: Worker, slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    status, said = await post(slackbot.url, tool_call("send_email", EMAIL, user=ALICE))
    assert status == 200, said
    approval_id = json.loads(said["result"]["_meta"]["slack"]["blocks"][-1]["elements"][0]["value"])["approval_id"]
    card = await nth_card(slack, 1)
    second = await start_slackbot(slack, redis_url, tmp_path)
    try:
        await slackbot.stop()  # the worker that asked, and would have run it, is gone
        await click(slack, card, "approval_approve", user=BOB)
        fetch = [tool_call("approval_result", {"approval_id": approval_id}, user=ALICE, ident=n) for n in (7, 8)]
        answers = await asyncio.gather(*(post(second.url, body) for body in fetch))  # two at once: one runs it
        assert all(status == 200 for status, _ in answers), answers
        assert len(calls(tmp_path, "send_email")) == 1
        status, later = await post(second.url, tool_call("approval_result", {"approval_id": approval_id}, user=ALICE,
                                                         ident=9))
        assert "sent to bob@example.com" in json.dumps(later["result"]["_meta"]["slack"]["blocks"])
        assert len(calls(tmp_path, "send_email")) == 1, "the approved call ran once"
    finally:
        await second.stop()


READS = '''
@id("small-reads")
@reason("at most 2 messages at once")
forbid (principal, action == Action::"list_inbox", resource) when { context.args has limit && context.args.limit > 2 };

@id("two-is-asked")
@outcome("ask")
@reason("two messages: a person checks")
forbid (principal, action == Action::"list_inbox", resource) when { context.args has limit && context.args.limit == 2 };
'''


async def test_a_read_only_call_is_decided_by_the_policies_first(
    policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path
) -> None:
    """readOnlyHint is the upstream's word: a policy is a floor under it. A read is recorded as `allowed` before it is
    forwarded; a policy that forbids it refuses it, one that asks a person makes it an approval."""
    worker = await policy_worker({"reads.cedar": READS}, **slackbot_env(tmp_path / "calls.jsonl"))
    assert await worker.services.store.api_keys.create("slackbot", [SALES], by="operator") is not None
    status, refused = await post(worker.url, tool_call("list_inbox", {"limit": 3}, user=ALICE))
    assert status == 200 and refused["result"]["isError"] is True
    assert "at most 2 messages" in refused["result"]["content"][0]["text"]
    status, asked = await post(worker.url, tool_call("list_inbox", {"limit": 2}, user=ALICE))
    assert "waits for a decision" in json.dumps(asked["result"]["_meta"]["slack"]["blocks"])
    assert "two messages: a person checks" in json.dumps(await nth_card(slack, 1))
    status, read = await post(worker.url, tool_call("list_inbox", {"limit": 1}, user=ALICE))
    assert read["result"]["content"][0]["text"] == "alice: lunch?"
    assert [call["arguments"] for call in calls(tmp_path, "list_inbox")] == [{"limit": 1}]
    allowed = await audit_events(worker, "allowed")
    assert [entry.get("tool") for entry in allowed] == ["list_inbox"], allowed


async def send(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None
               ) -> tuple[int, dict[str, str], Any]:
    """`method` on the worker's `/slack/mcp`: (status, headers, the JSON body or its text)."""
    async with aiohttp.ClientSession() as session, session.request(
        method, url + "/slack/mcp", data=body, headers=headers or {}
    ) as response:
        text = await response.text()
        try:
            said: Any = json.loads(text)
        except ValueError:
            said = text
        return response.status, dict(response.headers), said


async def test_no_stream_is_offered_get_and_delete_are_405_with_allow_post(slackbot: Worker) -> None:
    """Streamable HTTP: a server that offers no SSE stream answers GET with 405; one that has no session to end
    answers DELETE with 405 too. Each with `Allow: POST` and a JSON-RPC error, never a 500 nor a page."""
    for method in ("GET", "DELETE"):
        status, headers, said = await send(method, slackbot.url, headers={"Accept": "text/event-stream"})
        assert status == 405, (method, status, said)
        assert headers.get("Allow") == "POST", headers
        assert said["jsonrpc"] == "2.0" and said["error"]["code"] == -32000 and said["error"]["message"], said


async def test_accept_batches_and_malformed_messages_are_refused_as_the_spec_says(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    body = tool_call("send_email", EMAIL, user=ALICE)
    status, _, said = await send("POST", slackbot.url, body, {**sign(body), "Accept": "text/event-stream"})
    assert status == 406 and said["error"]["code"] == -32000 and "application/json" in said["error"]["message"]
    for accept in ("application/json, text/event-stream", "application/*", "*/*"):  # what clients send
        read = tool_call("list_inbox", {"limit": 1}, user=ALICE, ident=len(accept))
        status, _, said = await send("POST", slackbot.url, read, {**sign(read), "Accept": accept})
        assert status == 200 and said["result"]["content"][0]["text"] == "alice: lunch?", (accept, said)
    batch = json.dumps([json.loads(tool_call("send_email", EMAIL, user=ALICE, ident=n)) for n in (1, 2)]).encode()
    status, said = await post(slackbot.url, batch)
    assert status == 400 and said["error"]["code"] == -32600, said  # no batches since 2025-06-18
    for malformed in (b'{"jsonrpc":"2.0","id":1}', b'{"jsonrpc":"1.0","id":1,"method":"ping"}', b"[", b"7",
                      b'{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}', b"[" * 100_000):
        status, said = await post(slackbot.url, malformed)
        assert status == 400 and said["error"]["code"] in (-32600, -32700), (malformed[:40], said)
    assert card_of(slack) == [] and calls(tmp_path, "send_email") == []


async def test_the_protocol_version_header_and_a_session_id(slackbot: Worker) -> None:
    """`MCP-Protocol-Version`: an invalid or unsupported one is 400; none, or a supported one, is served. The
    endpoint keeps no session: it never assigns an `Mcp-Session-Id` and serves a request that names one alike."""
    listing = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    for version in ("2025-03-26", "2024-11-05", "not-a-version", "1900-01-01", "2099-01-01"):
        body = listing.replace(b'"id":1', f'"id":"{version}"'.encode())
        status, _, said = await send("POST", slackbot.url, body, {**sign(body), "MCP-Protocol-Version": version})
        assert status == 400 and said["error"]["code"] == -32000 and "protocol version" in said["error"]["message"]
        assert "supported: 2025-06-18, 2025-11-25" in said["error"]["message"], said
    for version in ("2025-06-18", "2025-11-25"):
        body = listing.replace(b'"id":1', f'"id":"{version}"'.encode())
        status, headers, said = await send("POST", slackbot.url, body, {
            **sign(body), "MCP-Protocol-Version": version, "Mcp-Session-Id": "a-session-we-never-gave"})
        assert status == 200 and said["result"]["tools"], said
        assert "Mcp-Session-Id" not in headers


async def test_initialize_answers_only_a_version_whose_rules_the_endpoint_keeps(slackbot: Worker) -> None:
    """Spoken: 2025-06-18 and 2025-11-25 (a single message per POST, no batch). Not 2025-03-26, whose servers must
    take JSON-RPC batches (400 here), nor 2024-11-05, whose clients open an SSE stream with GET (405 here): a client
    asking for either is answered with the latest we speak, as for a version that does not exist."""
    for ident, (asked, answered) in enumerate([("2099-01-01", "2025-11-25"), ("2025-03-26", "2025-11-25"),
                                               ("2024-11-05", "2025-11-25"), ("2025-06-18", "2025-06-18"),
                                               ("2025-11-25", "2025-11-25")]):
        hello = {"jsonrpc": "2.0", "id": ident, "method": "initialize", "params": {
            "protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "Slackbot"}}}
        status, said = await post(slackbot.url, json.dumps(hello).encode())
        assert status == 200 and said["result"]["protocolVersion"] == answered, (asked, said)


async def test_the_dev_pages_slackbot_asks_and_names_a_version_the_endpoint_speaks(
    slackbot: Worker, slack: SlackStandIn
) -> None:
    """The local Slack's Slackbot pane initializes with a version the bot speaks and names the one agreed in
    `MCP-Protocol-Version` on its later requests: one the bot did not speak would be refused (400) here."""
    assert PANE_PROTOCOL in VERSIONS
    async with aiohttp.ClientSession() as session:
        async with session.get(slack.base_url + "/_control/slackbot/tools") as response:
            listed = await response.json()
            assert response.status == 200 and {tool["name"] for tool in listed["tools"]} >= {"list_inbox"}, listed
        async with session.post(slack.base_url + "/_control/slackbot/call", json={
                "user": ALICE, "tool": "list_inbox", "arguments": {"limit": 1}}) as response:
            pane = await response.json()
    assert pane["status"] == 200 and pane["answer"]["result"]["content"][0]["text"] == "alice: lunch?", pane


class SignedAsSlack(httpx2.Auth):
    """What Slackbot does to each request of its MCP client: signs it as Slack signs events."""

    requires_request_body = True

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers.update(sign(request.content))
        yield request


async def test_the_mcp_sdks_own_client_lists_and_calls_the_tools_through_the_signed_endpoint(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    """#78.5: `/slack/mcp` is the MCP SDK's server behind its streamable HTTP transport: the SDK's own client (each
    request signed as Slack signs) initializes, lists the tools and calls them, a person named in each call's
    `_meta.slack`; what the SDK's server answers of its own (a method it does not serve) comes back as it says it."""
    person = cast("types.RequestParamsMeta", {"slack": {"user_id": ALICE, "team_id": "T0DEV"}})
    async with (
        httpx2.AsyncClient(auth=SignedAsSlack(), timeout=30.0) as http,
        streamable_http_client(slackbot.url + "/slack/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        hello = await session.initialize()
        assert hello.protocol_version in VERSIONS and hello.server_info.name == "slack-agent-approvals"
        listed = await session.list_tools()
        tools = {tool.name: tool for tool in listed.tools}
        assert set(tools) == {"send_email", "pay", "list_inbox", "approval_result"}
        assert all((tool.meta or {})["slack"]["supportsBlockKit"] is True for tool in tools.values())
        inbox = await session.call_tool("list_inbox", {"limit": 1}, meta=person)
        assert inbox.is_error is False and isinstance(inbox.content[0], types.TextContent)
        assert inbox.content[0].text == "alice: lunch?"
        asked = await session.call_tool("send_email", EMAIL, meta=person)
        assert asked.is_error is False and "waits for a decision" in json.dumps((asked.meta or {})["slack"])
        with pytest.raises(MCPError) as unknown:
            await session.list_prompts()
        assert unknown.value.error.code == types.METHOD_NOT_FOUND and unknown.value.error.data == "prompts/list"
    assert len(await nth_card(slack, 1)) and calls(tmp_path, "send_email") == []
    assert calls(tmp_path, "list_inbox") == [{"tool": "list_inbox", "arguments": {"limit": 1}}]
