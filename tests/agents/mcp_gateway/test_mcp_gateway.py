"""The MCP approval gateway (`agent-approvals-mcp`) as the agent's MCP client meets it: the official `mcp` client
SDK starts the gateway as a process (stdio) or talks to it over streamable HTTP (tests/support/mcp_gateway.py); the
gateway starts the test upstream (`tests/support/mcp_upstream.py`, which records every call it receives in a JSONL
file) or reaches it over HTTP, and asks a real worker through the Approvals API; people decide on the stand-in
Slack's cards.

`list_inbox` (allowed) answers without a card; `send_email` waits for one: Approve -> the upstream received it
once with the approved (or edited) arguments; Reject or a timeout -> never received, the client gets `isError`
with why; a gateway killed -9 while it waits forwards nothing, and the decision is in the audit log. Bad input:
an upstream that does not start or answers garbage, and arguments outside the schema, each get the client a clear
MCP error or `isError` and the gateway a log line, never a traceback or the key. Hostile and unlucky clients and
upstreams (schemas, reused ids, hung calls, what is not JSON-RPC, the command line): test_mcp_gateway_hostile.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import types
from mcp.shared.exceptions import MCPError

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts, free_port
from tests.support.hitl import audit_events, click, nth_card, open_modal, reject, until
from tests.support.mcp_gateway import (
    EMAIL,
    TOKEN,
    UPSTREAM,
    Gateway,
    alive,
    ended,
    gateway_args,
    over_http,
    over_stdio,
    stdio_params,
    stopped,
    text,
)
from tests.support.metrics_table import sample, scrape

pytestmark = pytest.mark.slow  # the gateway and its upstreams as processes


async def approve_reject_and_allow(bot: Worker, slack: SlackStandIn, gw: Gateway, key: str) -> None:
    """The story both transports tell: allowed without a card (in the bot's audit log), approved once (the card
    shows the tool's parameters from its inputSchema), rejected with its reason."""
    listed = await gw.session.list_tools()
    assert {t.name for t in listed.tools} == {"send_email", "list_inbox"}
    assert next(t for t in listed.tools if t.name == "send_email").input_schema["required"] == ["to", "body"]

    inbox = await gw.session.call_tool("list_inbox", {"limit": 2})
    assert not inbox.is_error and text(inbox) == "alice: lunch?\nbob: the prices"
    assert slack.messages(APPROVALS) == [] and len(gw.calls("list_inbox")) == 1  # no card
    allowed = await audit_events(bot, "allowed")  # in the product's audit log, before it was forwarded
    assert [(e["tool"], e["key"], e["by"], e["outcome"], e["rule"], e["arguments"], e["agent"]) for e in allowed] == [
        ("list_inbox", "emailer", "allow-list", "allowed", "--allow list_*", '{"limit":2}', "mailbox (MCP)")]

    sending = asyncio.create_task(gw.session.call_tool("send_email", dict(EMAIL)))
    card = await nth_card(slack, 1, within=30)
    shown = block_texts(card)
    assert "send_email" in shown and "mailbox (MCP)" in shown and "bob@example.com" in shown
    assert "*Parameters:* `to` string, required · `body` string, required · no others" in shown, shown  # inputSchema
    assert gw.calls("send_email") == []  # nothing reaches the upstream while a person decides
    await click(slack, card, "approval_approve", user=BOB)
    sent = await asyncio.wait_for(sending, 30)
    assert not sent.is_error and text(sent) == "sent to bob@example.com"
    assert [c["arguments"] for c in gw.calls("send_email")] == [EMAIL]  # once, as approved

    sending = asyncio.create_task(gw.session.call_tool("send_email", {**EMAIL, "to": "all@example.com"}))
    await reject(slack, await nth_card(slack, 2, within=30), user=BOB, reason="not before the board meets")
    refused = await asyncio.wait_for(sending, 30)
    assert refused.is_error and text(refused) == "Not run: rejected by @bob: not before the board meets"
    assert [c["arguments"] for c in gw.calls("send_email")] == [EMAIL]  # the rejected call never arrived
    assert key not in gw.logged() and "Traceback" not in gw.logged()
    assert '"event": "mcp_allowed"' in gw.logged()  # and a line where the gateway runs, naming the record
    assert f'"recorded": "{allowed[0]["call"]}"' in gw.logged()


async def test_over_stdio_allowed_approved_once_and_rejected(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with over_stdio(bot, key, tmp_path) as gw:
        assert gw.session.initialize_result is not None
        assert gw.session.initialize_result.server_info.name == "mailbox"  # the upstream's own
        prompts = await gw.session.list_prompts()
        assert [p.name for p in prompts.prompts] == ["triage"]
        assert (await gw.session.get_prompt("triage")).messages[0].content == types.TextContent(
            type="text", text="Triage my inbox.")
        resources = await gw.session.list_resources()
        assert [str(r.uri) for r in resources.resources] == ["inbox://summary"]
        read = await gw.session.read_resource("inbox://summary")
        assert isinstance(read.contents[0], types.TextResourceContents) and read.contents[0].text == "3 messages"
        await approve_reject_and_allow(bot, slack, gw, key)
    entries = await audit_events(bot, "decision")
    assert [(e["outcome"], e["by"]) for e in entries] == [("approved", BOB), ("rejected", BOB)]
    counted = await scrape(bot)  # the gateway's asks under its own way in (#67), none under the API's
    assert sample(counted, 'hitl_asks_total{outcome="asked",way="mcp"}') == 2, counted  # (its allow-list's: allowed)
    assert 'way="api"' not in counted, counted


async def test_over_streamable_http_both_ways(emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path) -> None:
    bot, key = emailer
    async with over_http(bot, key, tmp_path) as gw:
        await approve_reject_and_allow(bot, slack, gw, key)
        assert TOKEN not in gw.logged()


async def test_an_edit_is_asked_again_and_forwarded_a_timeout_and_a_rule(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with over_stdio(bot, key, tmp_path, "--progress-every", "0.2") as gw:
        heard: list[float] = []

        async def progress(value: float, total: float | None, message: str | None) -> None:
            heard.append(value)

        sending = asyncio.create_task(gw.session.call_tool("send_email", dict(EMAIL), progress_callback=progress))
        card = await nth_card(slack, 1, within=30)
        await until(lambda: len(heard) >= 2, within=10, what="progress while a person decides")

        view = await open_modal(slack, card, user=BOB)  # an edit outside the schema: the form refuses it
        bad = {**EMAIL, "to": "not an address"}
        answer = await slack.submit_view(user=BOB, view_id=view["id"],
                                         values={"arguments": {"arguments_input": json.dumps(bad)}})
        assert "schema" in json.dumps(answer.json) and gw.calls("send_email") == []
        edited = {**EMAIL, "to": "carol@example.com"}
        await slack.submit_view(user=BOB, view_id=view["id"],
                                values={"arguments": {"arguments_input": json.dumps(edited)}})
        again = await nth_card(slack, 2, within=30)  # the edited call, asked about again
        assert "carol@example.com" in block_texts(again)
        await click(slack, again, "approval_approve", user=BOB)
        sent = await asyncio.wait_for(sending, 30)
        assert text(sent) == "sent to carol@example.com"
        assert [c["arguments"] for c in gw.calls("send_email")] == [edited]  # only the edited call, once

    async with over_stdio(bot, key, tmp_path, "--within", "1") as gw:
        late = await asyncio.wait_for(gw.session.call_tool("send_email", dict(EMAIL)), 30)
        assert late.is_error and text(late).startswith("Not run: nobody decided in time")
        assert [c["arguments"] for c in gw.calls("send_email")] == [edited]

        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await bot.services.store.rules.create(rule)
        cards = len(slack.messages(APPROVALS))
        ruled = await asyncio.wait_for(gw.session.call_tool("send_email", dict(EMAIL)), 30)
        assert not ruled.is_error and [c["arguments"] for c in gw.calls("send_email")] == [edited, EMAIL]
        assert len(slack.messages(APPROVALS)) == cards  # no card for the rule's call


async def test_a_gateway_killed_9_while_it_waits_forwards_nothing(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with over_stdio(bot, key, tmp_path) as gw:
        sending = asyncio.create_task(gw.session.call_tool("send_email", dict(EMAIL)))
        card = await nth_card(slack, 1, within=30)
        pid = int(gw.pid.read_text())
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(MCPError):
            await asyncio.wait_for(sending, 30)  # the client learns its server is gone
        await until(lambda: not alive(pid), what="the gateway gone")
        # its long-poll is not served on: the worker sees the connection closed (its shutdown waits for nothing)
        await until(lambda: bot.services.api.waiters.count == 0, within=10, what="the dead gateway's long-poll ended")
        await click(slack, card, "approval_approve", user=BOB)  # decided while nobody waits for it
        decided = await until(lambda: audit_events(bot, "decision"), what="the decision audited")
        assert [(e["outcome"], e["by"]) for e in decided] == [("approved", BOB)], decided
        assert gw.calls("send_email") == []  # no call reached the upstream from the dead gateway


async def test_a_client_that_leaves_while_a_call_waits_leaves_nothing_behind(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """The agent's MCP client closes the session (its stdin) while a person decides: the gateway withdraws the
    card, exits with its upstream, and leaves no request in flight on the worker (a long-poll served on for a
    program that is gone would hold the worker's shutdown); nothing is forwarded."""
    from tests.conftest import has_buttons
    from tests.support.hitl import current

    bot, key = emailer
    async with over_stdio(bot, key, tmp_path) as gw:
        sending = asyncio.create_task(gw.session.call_tool("send_email", dict(EMAIL)))
        card = await nth_card(slack, 1, within=30)
        await until(lambda: bot.services.api.waiters.count == 1, what="the gateway long-polling")
        gateway, upstream = int(gw.pid.read_text()), int((tmp_path / "upstream.pid").read_text())
    with pytest.raises((MCPError, anyio.ClosedResourceError, anyio.BrokenResourceError)):
        await asyncio.wait_for(sending, 30)
    assert not alive(gateway) and not alive(upstream)
    await until(lambda: bot.services.api.waiters.count == 0, within=10, what="no long-poll left on the worker")
    assert "withdrawn" in block_texts(current(slack, card)).lower() and not has_buttons(current(slack, card))
    assert "withdrew approval" in gw.logged() and gw.calls() == []
    assert "Traceback" not in gw.logged() and key not in gw.logged()


async def test_arguments_outside_the_schema_are_never_forwarded(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with over_stdio(bot, key, tmp_path) as gw:
        wrong = await gw.session.call_tool("send_email", {"to": "bob@example.com"})
        assert wrong.is_error and "$: lacks 'body' (required)" in text(wrong)
        extra = await gw.session.call_tool("list_inbox", {"limit": 0})  # allowed, still checked
        assert extra.is_error and "minimum" in text(extra)
        with pytest.raises(MCPError, match="no tool 'delete_all'"):
            await gw.session.call_tool("delete_all", {})
        assert gw.calls() == [] and slack.messages(APPROVALS) == []
        assert "do not match" in gw.logged() and key not in gw.logged()


@pytest.mark.parametrize("case", ["no such command", "it exits", "no one at its URL"])
async def test_an_upstream_that_does_not_start(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path, case: str
) -> None:
    bot, key = emailer
    command, extra, why = {
        "no such command": (["no-such-mcp-server-xyz"], [], "no such command: no-such-mcp-server-xyz"),
        "it exits": (None, [], "Connection closed"),
        "no one at its URL": (None, ["--upstream-url", f"http://127.0.0.1:{free_port()}/mcp"],
                              "All connection attempts failed"),
    }[case]
    async with over_stdio(bot, key, tmp_path, *extra, mode="crash", command=command) as gw:
        with pytest.raises(MCPError, match="the upstream MCP server did not start") as tools:
            await gw.session.list_tools()
        with pytest.raises(MCPError, match="did not start"):
            await gw.session.call_tool("send_email", dict(EMAIL))
    assert why in str(tools.value), tools.value
    assert "the upstream MCP server did not start: " in gw.logged() and why in gw.logged()
    assert "Traceback" not in gw.logged() and key not in gw.logged() and slack.messages(APPROVALS) == []
    if case == "it exits":
        assert "mailbox: cannot open the mail spool" in gw.logged()  # its own words, on the gateway's stderr


async def test_an_upstream_that_answers_garbage(  # (one that lies about its schema: test_mcp_gateway_hostile.py)
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with over_stdio(bot, key, tmp_path, mode="garbage") as gw:
        with pytest.raises(MCPError, match="answered tools/call list_inbox with something that is not MCP"):
            await asyncio.wait_for(gw.session.call_tool("list_inbox", {}), 30)
        assert "not MCP" in gw.logged() and "Traceback" not in gw.logged() and key not in gw.logged()
        still = await gw.session.list_tools()  # the gateway goes on
        assert len(still.tools) == 2


def test_the_key_is_never_passed_to_the_upstream() -> None:
    from agent_approvals.mcp_gateway.__main__ import upstream_command, upstream_env, upstream_headers

    assert upstream_env(["GITHUB_TOKEN", "MODE=fast", "ABSENT"], "AGENT_APPROVALS_KEY",
                        {"GITHUB_TOKEN": "ghp_1", "AGENT_APPROVALS_KEY": "aak_1"}) == {"GITHUB_TOKEN": "ghp_1",
                                                                                      "MODE": "fast"}
    with pytest.raises(SystemExit, match="not passed to the upstream"):
        upstream_env(["AGENT_APPROVALS_KEY"], "AGENT_APPROVALS_KEY", {"AGENT_APPROVALS_KEY": "aak_1"})
    assert upstream_command(["--", "npx", "server", "--", "x"]) == ["npx", "server", "--", "x"]
    assert upstream_headers(["Authorization=GH_AUTH"], {"GH_AUTH": "Bearer ghp_1"}) == {"Authorization": "Bearer ghp_1"}
    with pytest.raises(SystemExit, match="give HEADER=VAR with"):
        upstream_headers(["Authorization=UNSET"], {})


AUTOGEN = """
import asyncio, json, sys
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.models import ChatCompletionClient
from autogen_ext.tools.mcp import McpWorkbench, StdioServerParams

gateway, env, model = (json.loads(arg) for arg in sys.argv[1:4])

async def main() -> None:
    server = StdioServerParams(command=gateway[0], args=gateway[1:], env=env, read_timeout_seconds=120)
    async with McpWorkbench(server) as workbench:
        tools = [tool["name"] for tool in await workbench.list_tools()]
        agent = AssistantAgent("mailer", model_client=ChatCompletionClient.load_component(model),
                               workbench=workbench)
        team = RoundRobinGroupChat([agent], termination_condition=MaxMessageTermination(2))
        result = await team.run(task="Tell bob@example.com about the new prices")
    print(json.dumps({"tools": sorted(tools)}))
    for message in result.messages:
        if message.type == "ToolCallExecutionEvent":
            for done in message.content:
                print(json.dumps({"result": done.content, "is_error": done.is_error}))

asyncio.run(main())
"""


async def autogen_venv(tmp_path: Path) -> Path:
    """A venv with AutoGen 0.7 and its MCP extra: autogen-ext 0.7's `McpWorkbench` imports names `mcp` 2 no longer
    has, so the agent runs with `mcp` 1.x beside it, as an agent's own environment may (the gateway, a command of
    its own, runs on `mcp` 2 here): the two meet only on the wire."""
    import venv

    venv.create(tmp_path / "autogen", with_pip=True)
    python = tmp_path / "autogen" / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    installing = await asyncio.create_subprocess_exec(
        str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install", "autogen-agentchat>=0.7.4,<0.8",
        "autogen-ext[mcp]>=0.7.4,<0.8", "mcp<2", env=env, cwd=str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(installing.communicate(), 600)
    assert installing.returncode == 0, out.decode()[-2000:]
    return python


async def test_autogen_mcp_workbench_through_the_gateway(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """An AutoGen team (an `AssistantAgent` with `McpWorkbench(StdioServerParams(<the gateway>))`, a replayed model
    that calls send_email) run twice: approved, the upstream gets the call once and the agent its result;
    rejected, the upstream gets nothing and the agent reads the reason as an error result."""
    from tests.support.hitl import call, replay

    bot, key = emailer
    python = await autogen_venv(tmp_path)
    record = tmp_path / "calls.jsonl"
    gateway = [sys.executable, "-m", "agent_approvals.mcp_gateway", *gateway_args(bot), "--",
               sys.executable, str(UPSTREAM), "--record", str(record)]
    program = tmp_path / "team.py"
    program.write_text(AUTOGEN)
    model = replay(call("send_email", EMAIL), "Done.")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "SLACK_BOT_TOKEN",
                                                             "REDIS_URL")}

    async def team() -> list[dict[str, Any]]:
        process = await asyncio.create_subprocess_exec(
            str(python), str(program), json.dumps(gateway), json.dumps({"MCP_TEST_KEY": key}), json.dumps(model),
            env=env, cwd=str(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), 120)
        finally:
            await stopped(process)  # (the team, its gateway and upstream exit with it: their stdin closes)
        assert process.returncode == 0, out.decode()[-3000:]
        return [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]

    def sent() -> list[dict[str, Any]]:
        lines = record.read_text().splitlines() if record.exists() else []
        return [json.loads(line)["arguments"] for line in lines if json.loads(line)["tool"] == "send_email"]

    running = asyncio.create_task(team())
    card = await nth_card(slack, 1, within=120)
    assert "send_email" in block_texts(card) and "mailbox (MCP)" in block_texts(card) and sent() == []
    await click(slack, card, "approval_approve", user=BOB)
    printed = await running
    assert printed == [{"tools": ["list_inbox", "send_email"]},
                       {"result": "sent to bob@example.com", "is_error": False}], printed
    assert sent() == [EMAIL]

    running = asyncio.create_task(team())
    await reject(slack, await nth_card(slack, 2, within=120), user=BOB, reason="not before the board meets")
    printed = await running
    assert printed[1]["is_error"] and "rejected by @bob: not before the board meets" in printed[1]["result"]
    assert sent() == [EMAIL]  # the rejected call never reached the upstream


async def test_a_client_that_gives_up_has_its_card_withdrawn(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    from tests.conftest import has_buttons
    from tests.support.hitl import current

    bot, key = emailer
    async with over_stdio(bot, key, tmp_path) as gw:
        sending = asyncio.create_task(gw.session.call_tool("send_email", dict(EMAIL), read_timeout_seconds=3))
        card = await nth_card(slack, 1, within=30)
        with pytest.raises(MCPError):
            await asyncio.wait_for(sending, 30)  # the client's own timeout: it cancels the request
        await until(lambda: not has_buttons(current(slack, card)), what="the card withdrawn")
        assert "withdrawn" in block_texts(current(slack, card)).lower()
        await until(lambda: "withdrew approval" in gw.logged(), what="the gateway's log line")
        assert gw.calls() == []
        inbox = await gw.session.call_tool("list_inbox", {})  # the session goes on
        assert not inbox.is_error


async def test_a_client_of_the_2026_protocol_era_through_the_gateway(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """`mcp.Client` negotiates the 2026-07-28 era (no handshake; each request carries its envelope), as the OpenAI
    Agents SDK's MCP servers do on `mcp` 2; the gateway's upstream connection stays in the handshake era: the
    client's envelope is not passed on."""
    from mcp import Client

    bot, key = emailer
    record = tmp_path / "calls.jsonl"
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(ended, tmp_path)
        client = await stack.enter_async_context(Client(stdio_params(bot, key, tmp_path)))
        assert client.protocol_version == "2026-07-28"
        assert {t.name for t in (await client.list_tools()).tools} == {"send_email", "list_inbox"}
        assert [p.name for p in (await client.list_prompts()).prompts] == ["triage"]
        assert [str(r.uri) for r in (await client.list_resources()).resources] == ["inbox://summary"]
        inbox = await client.call_tool("list_inbox", {"limit": 1})
        assert not inbox.is_error and text(inbox) == "alice: lunch?"
        sending = asyncio.create_task(client.call_tool("send_email", dict(EMAIL)))
        await click(slack, await nth_card(slack, 1, within=30), "approval_approve", user=BOB)
        sent = await asyncio.wait_for(sending, 30)
        assert not sent.is_error and text(sent) == "sent to bob@example.com"
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(c["tool"], c["arguments"]) for c in calls] == [("list_inbox", {"limit": 1}), ("send_email", EMAIL)]


async def test_an_upstream_that_dies_mid_session(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """The gateway outlives its upstream: each request then gets a clear error, and the gateway goes on."""
    bot, key = emailer
    up_pid = tmp_path / "upstream.pid"
    command = [sys.executable, str(UPSTREAM), "--record", str(tmp_path / "calls.jsonl"), "--pid-file", str(up_pid)]
    async with over_stdio(bot, key, tmp_path, command=command) as gw:
        assert len((await gw.session.list_tools()).tools) == 2
        upstream = int(up_pid.read_text())
        os.kill(upstream, signal.SIGKILL)
        await until(lambda: not alive(upstream), what="the upstream gone")
        with pytest.raises(MCPError, match="the upstream MCP server mailbox: Connection closed"):
            await asyncio.wait_for(gw.session.call_tool("list_inbox", {}), 30)
        with pytest.raises(MCPError, match="the upstream MCP server mailbox: Connection closed"):
            await asyncio.wait_for(gw.session.list_tools(), 30)
        assert alive(int(gw.pid.read_text()))  # the gateway itself is still there
    assert "Traceback" not in gw.logged() and key not in gw.logged()
