"""The MCP approval gateway against hostile and unlucky clients and upstreams (#33), with the real processes of
tests/support/mcp_gateway.py: an upstream's `inputSchema` that would fetch a URL, read a file or freeze the
gateway is refused (`isError`, nothing forwarded, nothing fetched); a client that sends the same JSON-RPC id again
gets a new ask each time (one approval runs one call; each allowed forward audited once); a call the upstream never
answers ends at `--call-timeout`; what is not JSON-RPC gets a JSON-RPC error and the gateway goes on. Clients that
choose their own JSON-RPC ids talk to the gateway on the wire (stdio lines, HTTP POSTs), not through the SDK."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, Worker, block_texts, card_of
from tests.support.hitl import audit_events, click, nth_card, reject, until
from tests.support.mcp_gateway import (
    EMAIL,
    GATEWAY,
    UPSTREAM,
    ended,
    over_http,
    over_stdio,
    stdio_params,
    stopped,
    text,
)
from tests.support.mcp_upstream import EVIL_PATTERN

pytestmark = pytest.mark.slow  # the gateway and hostile upstreams as processes

HANDSHAKE = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "wire", "version": "1"}}


def rpc(ident: int, method: str, params: dict[str, Any] | None = None) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, **({"params": params} if params else {})})


class Wire:
    """A client on the wire: it sends raw JSON-RPC text with the ids it chooses and reads the answers."""

    def __init__(self, tmp_path: Path) -> None:
        self.record, self.log = tmp_path / "calls.jsonl", tmp_path / "gateway.log"

    async def call(self, raw: str, ident: Any = None, *, within: float = 30) -> dict[str, Any]:
        """The answer to `raw` (the response or error with id `ident`)."""
        raise NotImplementedError

    async def notify(self, method: str) -> None:
        raise NotImplementedError

    async def initialize(self) -> None:
        answer = await self.call(rpc(0, "initialize", HANDSHAKE), 0)
        assert answer["result"]["serverInfo"]["name"] == "mailbox", answer
        await self.notify("notifications/initialized")

    def calls(self, tool: str) -> list[dict[str, Any]]:
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        return [call for call in map(json.loads, lines) if call["tool"] == tool]

    def logged(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


class StdioWire(Wire):
    def __init__(self, tmp_path: Path, process: asyncio.subprocess.Process) -> None:
        super().__init__(tmp_path)
        self.process, self.received = process, list[dict[str, Any]]()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.received.append(json.loads(line))

    async def _write(self, raw: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(raw.encode() + b"\n")
        await self.process.stdin.drain()

    async def call(self, raw: str, ident: Any = None, *, within: float = 30) -> dict[str, Any]:
        seen = len(self.received)
        await self._write(raw)

        def answered() -> dict[str, Any] | None:
            return next((m for m in self.received[seen:]
                         if m.get("id", "none") == ident and ("result" in m or "error" in m)), None)

        answer: dict[str, Any] = await until(answered, within=within, what=f"an answer to {raw[:60]}")
        return answer

    async def notify(self, method: str) -> None:
        await self._write(json.dumps({"jsonrpc": "2.0", "method": method}))


class HttpWire(Wire):
    def __init__(self, tmp_path: Path, http: httpx.AsyncClient, url: str) -> None:
        super().__init__(tmp_path)
        self.http, self.url = http, url
        self.headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    async def call(self, raw: str, ident: Any = None, *, within: float = 30) -> dict[str, Any]:
        answer = await asyncio.wait_for(self.http.post(self.url, content=raw, headers=self.headers), within)
        if "mcp-session-id" in answer.headers:
            self.headers |= {"mcp-session-id": answer.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            said = [json.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:")]
        else:
            said = [answer.json()]
        found = next(m for m in said if m.get("id", "none") == ident and ("result" in m or "error" in m))
        return {**found, "status": answer.status_code}

    async def notify(self, method: str) -> None:
        sent = await self.http.post(self.url, content=json.dumps({"jsonrpc": "2.0", "method": method}),
                                    headers=self.headers)
        assert sent.status_code == 202, sent.text


@asynccontextmanager
async def wire(transport: str, bot: Worker, key: str, tmp_path: Path, *extra: str) -> AsyncIterator[Wire]:
    """The gateway in front of the test upstream, over stdio (its process started here) or --listen, with a client
    on the wire, initialized."""
    if transport == "http":
        async with over_http(bot, key, tmp_path, *extra) as gw, httpx.AsyncClient(timeout=120) as http:
            on_http = HttpWire(tmp_path, http, gw.url)
            await on_http.initialize()
            yield on_http
        return
    params = stdio_params(bot, key, tmp_path, *extra)
    env = {k: v for k, v in os.environ.items() if k not in ("SLACK_BOT_TOKEN", "REDIS_URL")} | dict(params.env or {})
    with (tmp_path / "gateway.log").open("w") as errlog:
        process = await asyncio.create_subprocess_exec(
            params.command, *params.args, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=errlog, limit=2**20,
        )
    on_stdio = StdioWire(tmp_path, process)
    try:
        await on_stdio.initialize()
        yield on_stdio
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the client leaves: the gateway and its upstream exit
        await ended(tmp_path)
        await stopped(process)
        on_stdio.reader.cancel()


async def test_an_upstreams_hostile_input_schemas_are_refused(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """A `$ref` to a URL (a listener here, which must hear nothing) or to a file is refused, and one whose array
    index is "²" (#63.8: it crashed the check) points at nothing: the call is not forwarded, the client reads why; a
    pattern that backtracks exponentially in Python's `re` answers at once."""
    bot, key = emailer
    heard: list[bytes] = []

    async def listener(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard.append(await reader.read(2000))
        writer.write(b'HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{"type": "string"}')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(listener, "127.0.0.1", 0)
    ref_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/schema.json"
    command = [sys.executable, str(UPSTREAM), "--record", str(tmp_path / "calls.jsonl"), "--mode", "hostile",
               "--ref-url", ref_url, "--pid-file", str(tmp_path / "upstream.pid")]
    async with server, over_stdio(bot, key, tmp_path, "--allow", "*_ref", "--allow", "slow_*", command=command) as gw:
        listed = {t.name for t in (await gw.session.list_tools()).tools}
        assert {"fetch_ref", "file_ref", "index_ref", "slow_pattern"} <= listed
        for tool, why in (("fetch_ref", "points outside the schema"), ("file_ref", "points outside the schema"),
                          ("index_ref", "points at nothing in the schema")):
            refused = await asyncio.wait_for(gw.session.call_tool(tool, {"to": "bob@example.com"}), 30)
            said = text(refused)
            assert refused.is_error and f"Not run: the inputSchema of {tool} is not used: $ref" in said, said
            assert why in said, said
        # (Python's re: 2^40 steps, the gateway frozen for hours; without backtracking, an answer)
        slow = await asyncio.wait_for(gw.session.call_tool("slow_pattern", {"to": "a" * 40 + "!"}), 30)
        assert slow.is_error and f"does not match {EVIL_PATTERN!r}" in text(slow), text(slow)
        assert len((await gw.session.list_tools()).tools) == 6  # the gateway goes on
        assert heard == [] and gw.calls() == [] and slack.messages(APPROVALS) == []
        assert "refused fetch_ref on mailbox: its inputSchema is not used" in gw.logged()
        assert "refused file_ref on mailbox: its inputSchema is not used" in gw.logged()
        assert "refused index_ref on mailbox: its inputSchema is not used" in gw.logged()
        assert "Traceback" not in gw.logged() and key not in gw.logged()
    assert await audit_events(bot, "allowed") == []  # nothing allowed was recorded: nothing was to run


async def test_an_upstream_that_lies_about_its_schema(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with over_stdio(bot, key, tmp_path, mode="lie") as gw:
        refused = await asyncio.wait_for(gw.session.call_tool("send_email", dict(EMAIL)), 30)
        said = text(refused)
        assert refused.is_error and "Not run: the inputSchema of send_email is not used: not a JSON schema" in said
        assert gw.calls() == [] and slack.messages(APPROVALS) == []
        assert "refused send_email on mailbox: its inputSchema is not used: not a JSON schema" in gw.logged()


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_a_reused_request_id_never_runs_an_approved_call_again(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path, transport: str
) -> None:
    """The same JSON-RPC id, the same arguments, three times: three asks (three cards, each a fresh one, not the
    first call's approval found again), the upstream runs the call once per approved card; an allowed call with a
    reused id is forwarded each time, each forward audited once."""
    bot, key = emailer
    async with wire(transport, bot, key, tmp_path) as client:
        again = rpc(7, "tools/call", {"name": "send_email", "arguments": EMAIL})
        answers = []
        for n, approve in ((1, True), (2, True), (3, False)):
            answering = asyncio.create_task(client.call(again, 7, within=60))
            card = await nth_card(slack, n, within=30)
            assert "may have run" not in block_texts(card), block_texts(card)  # a new ask, not a retry of the first
            assert len(client.calls("send_email")) == n - 1  # nothing runs while a person decides
            if approve:
                await click(slack, card, "approval_approve", user=BOB)
            else:
                await reject(slack, card, user=BOB, reason="once is enough")
            answers.append(await asyncio.wait_for(answering, 60))
        assert [a["result"].get("isError", False) for a in answers] == [False, False, True], answers
        assert len(card_of(slack)) == 3 and [c["arguments"] for c in client.calls("send_email")] == [EMAIL, EMAIL]
        decided = await audit_events(bot, "decision")
        assert [e["outcome"] for e in decided] == ["approved", "approved", "rejected"], decided

        listing = rpc(8, "tools/call", {"name": "list_inbox", "arguments": {"limit": 1}})
        for n in (1, 2, 3):
            listed = await client.call(listing, 8)
            assert listed["result"]["content"][0]["text"] == "alice: lunch?" and len(client.calls("list_inbox")) == n
        allowed = await audit_events(bot, "allowed")
        assert len(allowed) == 3 and len({e["call"] for e in allowed}) == 3, allowed  # each forward audited once
        assert client.logged().count('"event": "mcp_allowed"') == 3


async def test_a_call_the_upstream_never_answers_ends_at_the_call_timeout(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with over_stdio(bot, key, tmp_path, "--call-timeout", "1", mode="hang") as gw:
        hung = await asyncio.wait_for(gw.session.call_tool("list_inbox", {}), 30)
        assert hung.is_error and "the upstream did not answer list_inbox within 1 s" in text(hung), text(hung)
        assert [c["tool"] for c in gw.calls()] == ["list_inbox"]  # it was forwarded, and never answered
        assert "the upstream mailbox did not answer tools/call list_inbox within 1 s" in gw.logged()
        assert len((await gw.session.list_tools()).tools) == 2  # the gateway goes on
        assert "Traceback" not in gw.logged() and key not in gw.logged()


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_what_is_not_json_rpc_gets_a_json_rpc_error(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path, transport: str
) -> None:
    bot, key = emailer
    async with wire(transport, bot, key, tmp_path) as client:
        for raw, ident, code in (
            ("this is not json", None, -32700),
            ('{"jsonrpc": "2.0", "id": 41}', 41, -32600),  # an id, but neither a method nor a result
            ('{"jsonrpc": "2.0", "id": {"x": 1}, "method": "tools/list"}', None, -32600),  # an id that is none
            ('{"hello": "world"}', None, -32600),
            ("[1, 2]", None, -32600),
        ):
            answer = await client.call(raw, ident, within=10)
            assert answer["error"]["code"] == code and answer["id"] == ident, (raw, answer)
            assert answer.get("status", 400) == 400, answer  # over --listen: HTTP 400
            listed = await client.call(rpc(42, "tools/list"), 42)  # the gateway goes on
            assert [t["name"] for t in listed["result"]["tools"]] == ["send_email", "list_inbox"]
        assert "JSON-RPC error -32700" in client.logged() and "JSON-RPC error -32600" in client.logged()
        assert "Traceback" not in client.logged() and key not in client.logged()
    assert slack.messages(APPROVALS) == []


async def test_the_command_line_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MCP_TEST_KEY"}
    for args, said in (
        (["--url", "http://127.0.0.1:9", "--key-env", "MCP_TEST_KEY", "--", "x"], "set the API key in $MCP_TEST_KEY"),
        (["--url", "http://127.0.0.1:9"], "give the upstream MCP server's command"),
        (["--url", "http://127.0.0.1:9", "--call-timeout", "0", "--", "x"], "--call-timeout takes a number of seconds"),
    ):
        process = await asyncio.create_subprocess_exec(
            str(GATEWAY), *args, env=env | ({"AGENT_APPROVALS_KEY": "aak_x"} if "--key-env" not in args else {}),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 2 and said in err.decode() and out == b"" and b"Traceback" not in err
    helping = await asyncio.create_subprocess_exec(str(GATEWAY), "--help", stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(helping.communicate(), 30)
    assert "--call-timeout SECONDS" in out.decode() and "(default 300)" in out.decode()
