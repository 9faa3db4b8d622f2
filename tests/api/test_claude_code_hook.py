"""The bot's HTTP hook for Claude Code (`POST /api/v1/hooks/claude-code`) at the HTTP level: the key checked, bad
input refused with a clear 400, a hook input that names no call denied (never allowed), and each answer as the
OpenAPI document describes it. The real CLI drives it in tests/agents/claude_code/test_claude_code_cli.py."""

from __future__ import annotations

import ast
import asyncio
import logging
import time
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jsonschema
import pytest
from agent_approvals.claude_code.hook import answer
from packaging.requirements import Requirement

from bot.api import claude_code_hook
from bot.api.openapi import document
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOB, SALES, Worker
from tests.support.api import EMAIL, SCHEMA, Client, new_key, tool_ask
from tests.support.hitl import click, nth_card
from tests.support.source import ROOT

PATH = "/api/v1/hooks/claude-code"
READ = {"session_id": "s-1", "cwd": "/home/me/shop-api", "hook_event_name": "PreToolUse", "tool_name": "Read",
        "tool_input": {"file_path": "/home/me/shop-api/README.md"}, "tool_use_id": "toolu_1"}


def decision_schema() -> dict[str, Any]:
    described = document()
    schema: dict[str, Any] = described["paths"][PATH]["post"]["responses"]["200"]["content"]["application/json"][
        "schema"]
    return {**schema, "components": described["components"]}  # (a $ref to the answer model's schema)


def denied(status: int, body: dict[str, Any], *, saying: str) -> None:
    """A refusal answered as Claude Code reads a decision: 200, deny, the refusal's reason."""
    assert status == 200, (status, body)
    jsonschema.validate(body, decision_schema())
    output = body["hookSpecificOutput"]
    assert output["permissionDecision"] == "deny", output
    assert output["permissionDecisionReason"].startswith("Not run: the approvals bot refused the hook (")
    assert saying in output["permissionDecisionReason"], output


async def test_without_a_key_it_is_denied(api: Worker) -> None:
    """#51.3: Claude Code reads a non-2xx answer as no decision (its own flow runs): every refusal is a 200 deny."""
    status, body, _ = await Client(api, "").call("POST", PATH, body=READ, key="")
    denied(status, body, saying="401: send Authorization: Bearer <API key>")
    status, body, _ = await Client(api, "aak_" + "x" * 40).call("POST", PATH, body=READ)
    denied(status, body, saying="401: ")
    made = await new_key(api, "revoked")
    assert await api.services.store.api_keys.revoke("revoked", by="test")
    status, body, _ = await Client(api, made.key).call("POST", PATH, body=READ)
    denied(status, body, saying="401: the API key revoked was revoked")


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_bad_input_is_denied_with_a_clear_reason(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    status, body, _ = await client.call("POST", PATH + "?wait=600", body=READ)
    denied(status, body, saying="400: ")
    status, body, _ = await client.call("POST", PATH + "?on_error=allow", body=READ)
    denied(status, body, saying="on_error must be deny or ask")
    status, body, _ = await client.call("POST", PATH, raw=b"{not json")
    denied(status, body, saying="not JSON")
    deep = b'{"tool_name": "Bash", "tool_input": ' + b'{"a": ' * 200 + b"1" + b"}" * 201
    status, body, _ = await client.call("POST", PATH, raw=deep)
    denied(status, body, saying="deeper than")
    large = {**READ, "tool_name": "Write", "tool_input": {"file_path": "/tmp/a.bin", "content": "x" * 300_000}}
    status, body, _ = await client.call("POST", PATH, body=large)
    denied(status, body, saying="413: the body is larger than")
    huge = {**large, "tool_input": {"file_path": "/tmp/a.bin", "content": "x" * 2_000_000}}  # past the server's own
    status, body, _ = await client.call("POST", PATH, body=huge)
    denied(status, body, saying="413")


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_past_the_keys_limit_it_is_denied(api: Worker) -> None:
    for attempt in range(3):  # the limit counts per clock minute: three requests straddling one start afresh
        client = Client(api, (await new_key(api, f"limited{attempt}", per_minute=2)).key)
        minute = int(time.time() // 60)
        answers = [await client.call("POST", PATH + "?wait=0", body={"tool_name": "Bash"}) for _ in range(3)]
        if int(time.time() // 60) == minute:
            break
    status, body, _ = answers[-1]
    denied(status, body, saying="429: the key limited")
    assert "sent more than 2 requests this minute" in body["hookSpecificOutput"]["permissionDecisionReason"]


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_an_input_that_names_no_call_is_denied_or_asked_never_allowed(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    for payload in ({"tool_name": "Bash"}, [1, 2], {**READ, "hook_event_name": "PostToolUse"}):
        status, body, _ = await client.call("POST", PATH, body=payload)
        assert status == 200, body
        jsonschema.validate(body, decision_schema())
        assert body["hookSpecificOutput"]["permissionDecision"] == "deny"
        assert body["hookSpecificOutput"]["permissionDecisionReason"].startswith("Not run: ")
    status, body, _ = await client.call("POST", PATH + "?on_error=ask", body={"tool_name": "Bash"})
    assert status == 200 and body["hookSpecificOutput"]["permissionDecision"] == "ask"


async def test_a_call_the_input_mode_allows_is_allowed_at_once_and_used(api: Worker) -> None:
    store = api.services.store
    assert await store.settings.set(SALES, "mode", "policy", by=ALICE) is None
    client = Client(api, (await new_key(api)).key)
    by_email = {"X-Approvals-Requester": "alice@example.com"}  # (the session's person, by email: Slack says who)
    status, body, _ = await client.call("POST", PATH + "?wait=5", body=READ, headers=by_email)
    assert status == 200, body
    jsonschema.validate(body, decision_schema())
    out = body["hookSpecificOutput"]
    assert out["permissionDecision"] == "allow" and "approved by the input mode" in out["permissionDecisionReason"]
    [entry] = [e for e in await store.audit.entries() if e["event"] == "auto_approved"]
    approval = await store.approvals.get(entry["approval"])
    assert approval is not None and approval.tool_name == "Read" and approval.requester == ALICE
    assert approval.used_at  # used once, by the hook that allowed it
    run = await store.runs.get(approval.run_id)
    assert run is not None and run.program_run == "s-1"  # the Claude Code session is the program's run


class Probe:
    """The hook's client replaced by a bare httpx client of the transport it is given (the one in process)."""

    def __init__(self, url: str, key: str, *, transport: httpx.AsyncBaseTransport, **_: Any) -> None:
        self.http = httpx.AsyncClient(transport=transport, base_url=url)

    async def __aenter__(self) -> Probe:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()


@pytest.mark.slow
async def test_the_hooks_requests_are_answered_as_the_api_answers_them_over_http(
    api: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#52 item 4: the hook's client speaks to the app the API's routes are mounted on: a schema error, a path it
    does not know and a method a path does not take are answered in process exactly as over HTTP."""
    key = (await new_key(api)).key
    failing = tool_ask(tool={"name": "send_email", "arguments": {**EMAIL, "to": 5}, "schema": SCHEMA})
    requests = [("POST", "/api/v1/approvals", failing), ("GET", "/api/v1/nothing-here", None),
                ("PUT", "/api/v1/approvals/a-1", None)]
    in_process: list[tuple[int, str, str]] = []

    async def probe(client: Probe, payload: Any, **_: Any) -> dict[str, Any]:
        for method, path, body in requests:
            response = await client.http.request(method, path, json=body)
            in_process.append((response.status_code, response.headers["Content-Type"], response.text))
        return answer("deny", "probed")

    monkeypatch.setattr(claude_code_hook, "ApprovalsClient", Probe)
    monkeypatch.setattr(claude_code_hook, "decide", probe)
    status, body, _ = await Client(api, key).call("POST", PATH, body=READ)
    assert status == 200 and body["hookSpecificOutput"]["permissionDecisionReason"] == "probed", body
    over_http: list[tuple[int, str, str]] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        for method, path, sent in requests:
            async with session.request(method, api.url + path, json=sent) as response:
                over_http.append((response.status, response.headers["Content-Type"], await response.text()))
    assert in_process == over_http
    assert [status for status, _, _ in over_http] == [400, 404, 405]
    assert "tool.arguments fail tool.schema" in over_http[0][2]


async def early_in_a_minute() -> None:
    """Go on at least 10 s before the minute ends (the test takes well under a second; 10 s is room for a busy
    machine): a key's per-minute limit counts calendar minutes."""
    left = 60 - time.time() % 60
    if left < 10:
        await asyncio.sleep(left + 0.1)


@pytest.mark.slow
async def test_a_hook_call_counts_once_against_the_keys_limit_whatever_it_asks_within(
    api: Worker, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """The hook's request is admitted and counted once by the key check in front of it; what its client asks
    within (the ask, a long-poll, the use: the API's own routes) is not counted again."""
    caplog.set_level(logging.INFO, logger="bot.api.routes")
    client = Client(api, (await new_key(api, "limited", per_minute=2)).key)
    await early_in_a_minute()
    bash = {**READ, "tool_name": "Bash", "tool_input": {"command": "npm publish"}}
    hooked = asyncio.create_task(client.call("POST", PATH + "?wait=20", body=bash,
                                             headers={"X-Approvals-Requester": ALICE}))
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    status, body, _ = await hooked
    assert status == 200 and body["hookSpecificOutput"]["permissionDecision"] == "allow", body
    assert any("key limited asked for approval" in r.getMessage() for r in caplog.records)  # through the route
    status, body, _ = await client.call("GET", "/api/v1/key")  # the key's 2nd request this minute
    assert status == 200, body
    status, body, _ = await client.call("GET", "/api/v1/key")
    assert status == 429 and "more than 2 requests this minute" in body["error"]["message"], body


async def test_an_outside_request_cannot_pass_for_one_the_hook_made(api: Worker) -> None:
    """Only the hook marks a request admitted (a token it holds while its call lasts): an outside request naming
    the mark anywhere, with a token nobody holds, still needs a key."""
    made = await new_key(api)
    mark = claude_code_hook.IN_PROCESS
    forged = {mark: made.record.id, "X-Approvals-Admitted": made.record.name, "Cookie": f"{mark}={made.record.id}"}
    async with aiohttp.ClientSession() as session:
        for method, path in (("GET", "/api/v1/key"), ("POST", "/api/v1/approvals"), ("GET", "/api/v1/approvals/a-1"),
                             ("POST", "/api/v1/approvals/a-1/use")):
            async with session.request(method, f"{api.url}{path}?{mark}={made.record.id}", headers=forged,
                                       json={mark: made.record.id}) as response:
                assert response.status == 401, (method, path, await response.text())
    status, body, _ = await Client(api, "").call("POST", PATH, body=READ, key="", headers=forged)
    denied(status, body, saying="401: send Authorization: Bearer <API key>")


def test_the_hook_reaches_the_api_through_public_seams_only() -> None:
    """#64 item 5: the hook's requests go to the worker's own port, through aiohttp's public server: nothing private
    of aiohttp's is touched (`Application._handle`, a request built from its parser's types), and the requirement
    on aiohttp is open to its next releases (it was pinned below 3.15 for `_handle`)."""
    tree = ast.parse(Path(claude_code_hook.__file__).read_text())
    private = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute)
               and node.attr.startswith("_") and not node.attr.startswith("__")
               and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))]
    assert private == []
    internals = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module and node.module.startswith("aiohttp.")]
    assert internals == []
    [aiohttp_requirement] = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"] if Requirement(r).name == "aiohttp"]
    assert aiohttp_requirement.specifier.contains("3.15.0") and aiohttp_requirement.specifier.contains("3.16.2")
