"""Asks counted by their way in (`hitl_asks_total{way}`, #67): the MCP gateway's and Claude Code's asks under their
own ways (`mcp`, `claude_code`), told by the `X-Agent-Approvals-Client` header their clients send (and, for the
bot's own Claude Code hook, by its in-process requests); any other client's under `api`; a header that is not
`name/version` a clear 400 that opens nothing."""

from __future__ import annotations

from agent_approvals import ApprovalsClient

from bot.api.openapi import document
from tests.conftest import Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.metrics_table import sample, scrape

ASKED = 'hitl_asks_total{outcome="asked",way="%s"}'
READ = {"session_id": "s-1", "cwd": "/home/me/shop-api", "hook_event_name": "PreToolUse", "tool_name": "Read",
        "tool_input": {"file_path": "/home/me/shop-api/README.md"}, "tool_use_id": "toolu_1"}


async def test_the_mcp_gateways_and_claude_codes_asks_are_counted_under_their_own_ways(api: Worker) -> None:
    key = (await new_key(api)).key
    async with ApprovalsClient(api.url, key, client_name="mcp") as gateway:
        await gateway.request_tool("send_email", {"to": "bob@example.com"})
    async with ApprovalsClient(api.url, key, client_name="claude-code") as hook:
        await hook.request_tool("Bash", {"command": "ls"})
    async with ApprovalsClient(api.url, key) as program:
        await program.request_tool("send_email", {"to": "carol@example.com"})
    status, _, _ = await Client(api, key).call("POST", "/api/v1/hooks/claude-code?wait=0", body=READ)
    assert status == 200
    text = await scrape(api)
    assert sample(text, ASKED % "mcp") == 1
    assert sample(text, ASKED % "claude_code") == 2  # the command hook's client and the bot's own HTTP hook
    assert sample(text, ASKED % "api") == 1


async def test_a_call_the_programs_allow_list_let_through_is_counted_allowed_not_asked(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    body = {"tool": {"name": "list_inbox", "arguments": {"limit": 2}}, "allowed_by": "--allow list_*"}
    status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body=body,
                                          headers={"X-Agent-Approvals-Client": "mcp/0.1.0"})
    assert status == 201, answer
    text = await scrape(api)
    assert sample(text, 'hitl_asks_total{outcome="allowed",way="mcp"}') == 1
    assert sample(text, ASKED % "mcp") == 0  # nobody was asked


async def test_a_client_header_that_is_not_name_and_version_is_a_400_that_opens_nothing(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    for bad in ("mcp", "MCP/1", "run/1 2", "x" * 40 + "/1"):
        status, body = await client.ask(tool_ask(), headers={"X-Agent-Approvals-Client": bad})
        assert status == 400, body
        assert body["error"]["field"] == "X-Agent-Approvals-Client", body
    status, body = await client.ask(tool_ask(), headers={"X-Agent-Approvals-Client": "run/0.1.0"})
    assert status == 201, body  # a name the bot does not know is the API's way, never a run's
    text = await scrape(api)
    assert sample(text, ASKED % "api") == 1 and sample(text, ASKED % "run") == 0
    ask = document()["paths"]["/api/v1/approvals"]["post"]
    assert "X-Agent-Approvals-Client" in {p["name"] for p in ask["parameters"]}
