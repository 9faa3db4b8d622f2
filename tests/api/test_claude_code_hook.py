"""The bot's HTTP hook for Claude Code (`POST /api/v1/hooks/claude-code`) at the HTTP level: the key checked, bad
input refused with a clear 400, a hook input that names no call denied (never allowed), and each answer as the
OpenAPI document describes it. The real CLI drives it in tests/agents/claude_code/test_claude_code_cli.py."""

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
    denied(status, body, saying="this API key is not valid (wrong or revoked)")


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


async def test_past_the_keys_limit_it_is_denied(api: Worker) -> None:
    client = Client(api, (await new_key(api, "limited", per_minute=2)).key)
    answers = [await client.call("POST", PATH + "?wait=0", body={"tool_name": "Bash"}) for _ in range(3)]
    status, body, _ = answers[-1]
    denied(status, body, saying="429: the key limited sent more than 2 requests this minute")


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
