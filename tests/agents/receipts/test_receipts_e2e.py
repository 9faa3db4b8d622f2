"""Receipts end to end, against a real worker that signs them (a keys file made by the bot's own
`ensure_keys_file`): a program asks through the client, bob clicks Approve on the card, and the approval's receipt
is what joserfc (an independent JOSE library) verifies with the bot's published keys, and what an executor needs:
the decorated tool runs once; the same receipt again is refused as used, also from another process; other
arguments and no receipt are refused, and the tool never runs. An MCP server guarded by `guard_mcp_server`, behind
the real gateway (`agent-approvals-mcp`): an approved call reaches its tool once; the same server called directly,
bypassing the gateway, refuses a call without a receipt and one with a spent receipt."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_approvals import ApprovalsClient, ReceiptChecker, ReceiptError, requires_receipt
from agent_approvals.receipts import META_KEY, TYPE, args_sha256
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from bot.devslack.server import SlackStandIn
from bot.store.api_keys import id_of_key
from tests.conftest import BOB, Worker
from tests.support.hitl import click, nth_card, until
from tests.support.mcp_gateway import EMAIL, over_stdio, text
from tests.support.receipts import Issuer, joserfc_claims
from tests.support.signing_worker import ISSUER, approved, signing_bot

pytestmark = pytest.mark.slow  # programs, the gateway and `python -m bot signing` as processes

GUARDED = Path(__file__).parents[2] / "support" / "mcp_guarded_upstream.py"


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, str]]:
    async with signing_bot(slack, redis_url, tmp_path / "signing-keys.json") as made:
        yield made


async def test_joserfc_verifies_what_the_bot_issues(signer: tuple[Worker, str], slack: SlackStandIn) -> None:
    bot, key = signer
    decided = await approved(bot, key, slack, 1, EMAIL)
    assert decided.receipt is not None
    async with ReceiptChecker(bot.url) as checker:
        jwks = dict(await checker.keys())
    header, claims = joserfc_claims(decided.receipt, jwks)
    assert header == {"alg": "EdDSA", "kid": jwks["keys"][0]["kid"], "typ": TYPE}
    assert {k: claims[k] for k in ("iss", "sub", "aud", "tool", "args_sha256")} == {
        "iss": ISSUER, "sub": decided.id, "aud": id_of_key(key), "tool": "send_email",
        "args_sha256": args_sha256(EMAIL)}
    assert claims["exp"] - claims["iat"] == 600 and claims["jti"]
    assert [(d["type"], d["id"]) for d in claims["decided_by"]] == [("person", BOB)]
    assert all(set(k) >= {"kty", "crv", "x", "kid"} and "d" not in k for k in jwks["keys"])  # public parts only


SPEND_ELSEWHERE = """
import asyncio, json, sys
from agent_approvals import ReceiptChecker, ReceiptError, requires_receipt

async def main() -> None:
    url, receipt, arguments, audience = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    async with ReceiptChecker(url, audience=audience) as checker:
        @requires_receipt(checker)
        async def send_email(to: str, body: str) -> str:
            return "ran"
        try:
            print(await send_email(**arguments, receipt=receipt))
        except ReceiptError as error:
            print(error.reason)

asyncio.run(main())
"""


async def in_another_process(bot: Worker, receipt: str, arguments: dict[str, Any], audience: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SPEND_ELSEWHERE, bot.url, receipt, json.dumps(arguments), audience,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


async def test_a_decorated_tool_runs_once_per_receipt_across_processes(
    signer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = signer
    sent: list[dict[str, str]] = []
    checker = ReceiptChecker(bot.url, audience=id_of_key(key), issuer=ISSUER)

    @requires_receipt(checker)
    async def send_email(to: str, body: str) -> str:
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    first = await approved(bot, key, slack, 1, EMAIL)
    for extra, reason in (({}, "missing"), ({"to": "all@example.com"}, "wrong_arguments")):
        with pytest.raises(ReceiptError) as raised:
            await send_email(**{**EMAIL, **extra}, **({"receipt": first.receipt} if extra else {}))
        assert raised.value.reason == reason
    assert sent == []
    reordered = {"body": EMAIL["body"], "to": EMAIL["to"]}
    assert await send_email(**reordered, receipt=first.receipt) == "sent to bob@example.com"
    with pytest.raises(ReceiptError) as raised:
        await send_email(**EMAIL, receipt=first.receipt)
    assert raised.value.reason == "used"
    assert sent == [EMAIL]  # once
    assert first.receipt is not None
    assert await in_another_process(bot, first.receipt, EMAIL, id_of_key(key)) == "used"

    second = await approved(bot, key, slack, 2, {**EMAIL, "body": "Prices go up 6%."})
    assert second.receipt is not None and second.receipt != first.receipt
    assert await in_another_process(bot, second.receipt, {**EMAIL, "body": "Prices go up 6%."}, id_of_key(key)) == "ran"
    with pytest.raises(ReceiptError) as raised:  # spent by the other process
        await send_email(to=EMAIL["to"], body="Prices go up 6%.", receipt=second.receipt)
    assert raised.value.reason == "used"
    assert sent == [EMAIL]
    await checker.aclose()


async def test_an_audience_other_than_the_asking_key_is_refused(
    signer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = signer
    decided = await approved(bot, key, slack, 1, EMAIL)
    async with ReceiptChecker(bot.url, audience="nightly") as checker:
        with pytest.raises(ReceiptError) as raised:
            await checker.check(decided.receipt, tool="send_email", arguments=EMAIL)
        assert raised.value.reason == "wrong_audience"
    assert decided.receipt is not None  # and it was not spent by that refusal
    assert await in_another_process(bot, decided.receipt, EMAIL, id_of_key(key)) == "ran"


def calls(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


async def test_a_guarded_mcp_server_behind_the_gateway_and_bypassed(
    signer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = signer
    record = tmp_path / "guarded.jsonl"
    upstream = [sys.executable, str(GUARDED), "--record", str(record), "--bot-url", bot.url,
                "--audience", id_of_key(key)]
    async with over_stdio(bot, key, tmp_path, command=upstream) as gw:
        inbox = await gw.session.call_tool("list_inbox", {})  # allowed by the gateway, unguarded upstream
        assert not inbox.is_error and [c["tool"] for c in calls(record)] == ["list_inbox"]
        sending = asyncio.create_task(gw.session.call_tool("send_email", dict(EMAIL)))
        await click(slack, await nth_card(slack, 1, within=30), "approval_approve", user=BOB)
        sent = await asyncio.wait_for(sending, 30)
        assert not sent.is_error and text(sent) == "sent to bob@example.com", text(sent)
        assert [c["arguments"] for c in calls(record) if c["tool"] == "send_email"] == [EMAIL]  # once
    async with ApprovalsClient(bot.url, key) as client:
        receipt = (await client.get(next(iter(await approval_ids(bot))))).receipt
    assert receipt is not None

    # bypassing the gateway: the agent talks to the upstream itself
    direct = StdioServerParameters(command=upstream[0], args=upstream[1:])
    async with stdio_client(direct) as (read, write), ClientSession(read, write) as session:
        await asyncio.wait_for(session.initialize(), 30)
        bare = await session.call_tool("send_email", dict(EMAIL))
        assert bare.is_error and text(bare).startswith("Not run: missing:"), text(bare)
        replayed = await session.call_tool("send_email", dict(EMAIL), meta={META_KEY: receipt})  # type: ignore[arg-type]
        assert replayed.is_error and text(replayed).startswith("Not run: used:"), text(replayed)
        other = await session.call_tool("send_email", {**EMAIL, "to": "all@example.com"},
                                        meta={META_KEY: receipt})  # type: ignore[arg-type]
        assert other.is_error and text(other).startswith("Not run: wrong_arguments:"), text(other)
    assert [c["arguments"] for c in calls(record) if c["tool"] == "send_email"] == [EMAIL]  # still once


async def approval_ids(bot: Worker) -> list[str]:
    """The ids of the approvals decided so far (from the audit log)."""
    entries = await bot.services.store.audit.entries()
    return [e["approval"] for e in entries if e["event"] == "decision" and e.get("approval")]


async def test_after_a_key_rotation_the_checker_fetches_the_keys_once_more(
    signer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path, redis_url: str
) -> None:
    bot, key = signer
    fetched: list[str] = []

    async def count(request: httpx.Request) -> None:
        if request.url.path == "/api/v1/jwks.json":
            fetched.append(request.method)

    http = httpx.AsyncClient(event_hooks={"request": [count]})
    checker = ReceiptChecker(bot.url, http=http)
    first = await approved(bot, key, slack, 1, EMAIL)
    assert await checker.check(first.receipt, tool="send_email", arguments=EMAIL)
    assert fetched == ["GET"]

    old_kid = kid_of(str(first.receipt))
    env = {"PATH": "/usr/bin:/bin", "SIGNING_KEYS_FILE": str(tmp_path / "signing-keys.json"), "REDIS_URL": redis_url}
    rotate = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "signing", "rotate", env=env,
                                                  stdout=asyncio.subprocess.DEVNULL)
    assert await asyncio.wait_for(rotate.wait(), 60) == 0

    async def published() -> bool:
        async with httpx.AsyncClient() as plain:
            return len((await plain.get(bot.url + "/api/v1/jwks.json")).json()["keys"]) == 2

    await until(published, within=15, what="the worker publishing the new key")
    second = await approved(bot, key, slack, 2, {**EMAIL, "body": "Prices go up 6%."})
    assert kid_of(str(second.receipt)) != old_kid and fetched == ["GET"]
    assert await checker.check(second.receipt, tool="send_email", arguments={**EMAIL, "body": "Prices go up 6%."})
    assert fetched == ["GET", "GET"]  # a kid new to the cached keys: fetched once more
    with pytest.raises(ReceiptError) as raised:  # another unknown kid at once: not fetched again (rate-limited)
        await checker.check(Issuer(kid="k-unknown").issue(), tool="send_email", arguments=EMAIL)
    assert raised.value.reason == "unknown_key" and fetched == ["GET", "GET"]
    await checker.aclose()
    await http.aclose()


def kid_of(receipt: str) -> str:
    head = receipt.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])
