"""The bot's HTTP hook for Claude Code (`POST /api/v1/hooks/claude-code`) at the HTTP level: the key checked, bad
input refused with a clear 400, a hook input that names no call denied (never allowed), and each answer as the
OpenAPI document describes it. The real CLI drives it in tests/agents/test_claude_code_cli.py."""

from __future__ import annotations

from typing import Any

import jsonschema

from bot.api.openapi import document
from tests.conftest import ALICE, SALES, Worker
from tests.support.api import Client, new_key

PATH = "/api/v1/hooks/claude-code"
READ = {"session_id": "s-1", "cwd": "/home/me/shop-api", "hook_event_name": "PreToolUse", "tool_name": "Read",
        "tool_input": {"file_path": "/home/me/shop-api/README.md"}, "tool_use_id": "toolu_1"}


def decision_schema() -> dict[str, Any]:
    schema: dict[str, Any] = document()["paths"][PATH]["post"]["responses"]["200"]["content"]["application/json"][
        "schema"]
    return schema


async def test_without_a_key_it_is_refused(api: Worker) -> None:
    status, body, _ = await Client(api, "").call("POST", PATH, body=READ, key="")
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_bad_input_is_a_clear_400(api: Worker) -> None:
    client = Client(api, (await new_key(api)).key)
    status, body, _ = await client.call("POST", PATH + "?wait=600", body=READ)
    assert status == 400 and body["error"]["field"] == "wait"
    status, body, _ = await client.call("POST", PATH + "?on_error=allow", body=READ)
    assert status == 400 and body["error"]["field"] == "on_error"
    status, body, _ = await client.call("POST", PATH, raw=b"{not json")
    assert status == 400 and "not JSON" in body["error"]["message"]


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
