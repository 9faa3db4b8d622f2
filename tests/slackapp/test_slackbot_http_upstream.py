"""Slackbot asks before it writes, with an upstream reached over streamable HTTP (SLACKBOT_MCP's `upstream_url`, the
MCP gateway's option): the test mailbox served by uvicorn (`streamable_http_app()`) in a process of its own, behind a
real worker's `POST /slack/mcp`; the card decided by clicks through the local Slack."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agent_approvals.receipts import META_KEY, ReceiptError, verify

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, SALES, Worker, card_of, free_port
from tests.support.hitl import click, nth_card, until
from tests.support.mcp_gateway import listening, stopped
from tests.support.signing import ISSUER, jwks_of, signing_worker, verified
from tests.support.slackbot import UPSTREAM, assert_slackbot_blocks, calls, dm_texts, post, slackbot_http_env, tool_call

pytestmark = pytest.mark.slow  # the upstream MCP server is a process of its own

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


@pytest.fixture
async def http_upstream(tmp_path: Path) -> AsyncIterator[str]:
    """The test mailbox serving streamable HTTP; its URL."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(UPSTREAM), "--record", str(tmp_path / "calls.jsonl"), "--http", str(port),
        env={**os.environ, "PYTHONPATH": ":".join(sys.path)}, stderr=asyncio.subprocess.DEVNULL)
    try:
        await until(lambda: listening(port), within=30, what="the upstream serving HTTP")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        await stopped(process)


@pytest.fixture
async def slackbot(slack: SlackStandIn, redis_url: str, http_upstream: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker (signing receipts) serving `/slack/mcp` with the HTTP mailbox as its one upstream, and the key
    Slackbot asks with."""
    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json", **slackbot_http_env(http_upstream))
    assert await worker.services.store.api_keys.create("slackbot", [SALES], by="operator") is not None
    yield worker
    await worker.stop()


async def test_an_http_upstream_lists_forwards_reads_and_runs_an_approved_write_once(
    slackbot: Worker, slack: SlackStandIn, tmp_path: Path
) -> None:
    status, listed = await post(slackbot.url, b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}')
    assert status == 200, listed
    tools = {tool["name"]: tool for tool in listed["result"]["tools"]}
    assert {"send_email", "list_inbox", "approval_result"} <= set(tools)
    assert tools["list_inbox"]["annotations"]["readOnlyHint"] is True

    status, read = await post(slackbot.url, tool_call("list_inbox", {"limit": 1}, user=ALICE))
    assert status == 200 and read["result"]["content"][0]["text"] == "alice: lunch?", read
    assert calls(tmp_path, "list_inbox") == [{"tool": "list_inbox", "arguments": {"limit": 1}}]
    assert card_of(slack) == []  # a read asks nobody

    status, said = await post(slackbot.url, tool_call("send_email", EMAIL, user=ALICE, ident=2))
    assert status == 200, said
    blocks = said["result"]["_meta"]["slack"]["blocks"]
    assert_slackbot_blocks(blocks)
    approval_id = json.loads(blocks[-1]["elements"][0]["value"])["approval_id"]
    card = await nth_card(slack, 1)
    assert calls(tmp_path, "send_email") == []
    await click(slack, card, "approval_approve", user=BOB)  # another person approves
    await until(lambda: "sent to bob@example.com" in dm_texts(slack, ALICE), what="the requester's DM")
    ran = calls(tmp_path, "send_email")
    assert len(ran) == 1 and ran[0]["arguments"] == EMAIL
    await assert_receipt_for(slackbot, ran[0]["meta"].get(META_KEY), approval_id=approval_id)

    status, fetched = await post(slackbot.url, tool_call("approval_result", {"approval_id": approval_id}, user=ALICE,
                                                         ident=3))
    assert status == 200 and "sent to bob@example.com" in json.dumps(fetched["result"])
    assert len(calls(tmp_path, "send_email")) == 1, "the approved call ran once"


async def assert_receipt_for(worker: Worker, receipt: object, *, approval_id: str) -> None:
    """`receipt` (from the upstream's `_meta`) verifies as an executor checks it: signed by a key of the worker's
    JWKS, for this approval, Slackbot's key, the issuer, `send_email` and exactly EMAIL; not for another tool or
    other arguments."""
    assert isinstance(receipt, str), receipt
    jwks = await jwks_of(worker)
    key = await worker.services.store.api_keys.get("slackbot")
    assert key is not None
    claims = verify(receipt, jwks, tool="send_email", arguments=EMAIL, audience=key.id, issuer=ISSUER)
    assert claims["sub"] == approval_id and claims["decided_by"][0]["id"] == BOB, claims
    assert (await verified(worker, receipt))[1] == claims  # joserfc, with the published keys, reads the same
    for tool, arguments, reason in (("pay", EMAIL, "wrong_tool"),
                                    ("send_email", {**EMAIL, "to": "eve@example.com"}, "wrong_arguments"),
                                    ("send_email", {"to": EMAIL["to"]}, "wrong_arguments")):
        with pytest.raises(ReceiptError) as refused:
            verify(receipt, jwks, tool=tool, arguments=arguments)
        assert refused.value.reason == reason, (tool, arguments, refused.value)
    with pytest.raises(ReceiptError) as refused:
        verify(receipt, {"keys": []}, tool="send_email", arguments=EMAIL)  # no key of the worker's: not trusted
    assert refused.value.reason == "unknown_key"
