"""Trust, fourth pass (issue #63 items 2 and 14), against a real worker, real Redis, the Slack stand-in and real
processes: revoking an API key (`python -m bot keys revoke`, a process of its own, no worker in it) withdraws its
pending approvals in the same step, so their cards say so and a signed Approve click on one is refused; an approval
it had approved and not yet used no longer runs (its receipt's use refused, audited); the key's later requests are
refused naming it, audited; and a Claude Code command hook waiting on a card of that key is answered deny at once,
not when its wait ends."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, Worker, name_admins, reply_text
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import audit_events, buttons, click, current, decided, nth_card, text_of, until
from tests.support.signing import signing_worker, spend

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    worker = await signing_worker(slack, redis_url, tmp_path / "signing-keys.json", HEARTBEAT_SECONDS="2")
    yield worker
    await worker.stop()


def child_env(redis_url: str, **more: str) -> dict[str, str]:
    """The environment of a process the test starts: this checkout's code first, only what it needs."""
    return {"REDIS_URL": redis_url, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "agents"), os.environ.get("PYTHONPATH", "")]),
            **more}


async def revoke_with_the_cli(redis_url: str, name: str) -> str:
    """`python -m bot keys revoke NAME`, as an operator runs it (needs only REDIS_URL): its output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "keys", "revoke", name, env=child_env(redis_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, out.decode()
    return out.decode()


@pytest.mark.slow
async def test_revoking_a_key_withdraws_its_pending_approvals_and_nothing_of_it_runs(
    signer: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    made = await new_key(signer)
    client = Client(signer, made.key)
    _, first = await client.ask(tool_ask())
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    approved = await client.wait(first["id"])
    assert approved["status"] == "approved" and approved["receipt"]  # approved, not yet used
    _, second = await client.ask(tool_ask(tool={"name": "send_email", "arguments": {"to": "x@example.com"}}))
    card = await nth_card(slack, 2)

    said = await revoke_with_the_cli(redis_url, "nightly")
    withdrawn = await signer.services.store.approvals.get(second["id"])
    assert withdrawn is not None and withdrawn.status == "cancelled"  # in the revoking step itself
    assert withdrawn.feedback == "withdrawn: key nightly revoked"
    assert "revoked nightly" in said and "withdrew its 1 pending approval" in said, said
    shown = await decided(slack, card, within=20)  # a worker's outbox round redraws it (the CLI runs none)
    assert "Cancelled" in text_of(shown) and "withdrawn: key nightly revoked" in text_of(shown), text_of(shown)

    # a signed Approve click on the card, as a stale client could still send it: refused, nothing decided
    result = await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve", as_seen=card)
    assert result.status == 200
    still = await signer.services.store.approvals.get(second["id"])
    assert still is not None and still.status == "cancelled"
    assert not buttons(current(slack, card))
    decisions = [e for e in await audit_events(signer, "decision") if e["approval"] == second["id"]]
    assert [(e["outcome"], e["by"], e["feedback"]) for e in decisions] == [
        ("cancelled", "system", "withdrawn: key nightly revoked")]

    # the approval it had approved no longer runs: its receipt's use refused (audited), the key's own use refused
    status, refused = await spend(signer, first["id"], approved["receipt"], "executor-one")
    assert status == 409 and refused["error"]["code"] == "key_revoked", refused
    [entry] = await audit_events(signer, "receipt_refused")
    assert (entry["approval"], entry["key"], entry["reason"]) == (first["id"], "nightly", "key_revoked")
    for method, path, body in (("GET", f"/api/v1/approvals/{first['id']}", None),
                               ("POST", f"/api/v1/approvals/{first['id']}/use", {"token": "program-use-1"})):
        status, answer, _ = await client.call(method, path, body=body)
        assert status == 401 and "the API key nightly was revoked" in answer["error"]["message"], answer
    assert [e["approval"] for e in await audit_events(signer, "used", "receipt_used")] == []
    refusals = [(e["key"], e["reason"]) for e in await audit_events(signer, "api_refused")]
    assert refusals == [("nightly", "key_revoked")] * 2
    [revoked] = await audit_events(signer, "api_key_revoked")
    assert (revoked["key"], revoked["key_id"]) == ("nightly", made.record.id)
    assert revoked["by"].startswith("cli:") and "@" in revoked["by"], revoked  # the operator, never "cli" alone


async def test_an_admin_revoking_in_slack_withdraws_at_once(api: Worker, slack: SlackStandIn) -> None:
    """The worker's own way (`/agent keys revoke`): the card is redrawn from there at once, and the answer says how
    many approvals were withdrawn."""
    async def agent(text: str) -> str:
        return reply_text(await slack.send_command(user=BOB, channel=SALES, text=text))

    await name_admins(api, BOB)
    client = Client(api, (await new_key(api)).key)
    _, asked = await client.ask(tool_ask())
    card = await nth_card(slack, 1)
    said = await agent("keys revoke nightly")
    assert "Revoked" in said and "1 pending approval of it withdrawn" in said, said
    shown = await decided(slack, card)
    assert "withdrawn: key nightly revoked" in text_of(shown)
    withdrawn = await api.services.store.approvals.get(asked["id"])
    assert withdrawn is not None and withdrawn.status == "cancelled"


BASH = {"session_id": "s-1", "cwd": "/home/me/shop-api", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "npm publish", "description": "Publish"}}


@pytest.mark.slow
async def test_a_claude_code_hook_waiting_on_a_revoked_keys_card_is_denied_at_once(
    api: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    """The command hook (its own process, as Claude Code runs it) long-polls the card for up to 60 s: the key
    revoked meanwhile, it is answered deny within seconds, saying why (before, only when its long-poll ended, 50 s
    later, and then as an error: `--on-error ask` made it Claude Code's own dialog)."""
    made = await new_key(api)
    env = child_env(redis_url, AGENT_APPROVALS_URL=api.url, AGENT_APPROVALS_KEY=made.key)
    hook = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent_approvals.claude_code", "hook", "--wait", "60", "--on-error", "ask", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert hook.stdin is not None
        hook.stdin.write(json.dumps(BASH).encode())
        hook.stdin.close()
        await nth_card(slack, 1)
        await until(lambda: api.services.api.waiters.count == 1, what="the hook's long-poll held", within=20)
        revoked_at = time.monotonic()
        await revoke_with_the_cli(redis_url, "nightly")
        out, err = await asyncio.wait_for(hook.communicate(), 20)  # (its wait: 60 s)
        took = time.monotonic() - revoked_at
    finally:
        if hook.returncode is None:
            hook.kill()
            await hook.wait()
    assert hook.returncode == 0, err.decode()
    decision: dict[str, Any] = json.loads(out)["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny", decision
    said = decision["permissionDecisionReason"]  # a refusal, not an error: deny even with --on-error ask
    assert said.startswith("Not run: the approvals bot refused the key (the API key nightly was revoked"), said
    assert took < 20


@pytest.mark.slow
async def test_the_bots_http_hook_waiting_on_a_revoked_keys_card_is_denied_at_once(
    api: Worker, slack: SlackStandIn, redis_url: str
) -> None:
    """The same for the bot's own HTTP hook (`POST /api/v1/hooks/claude-code?wait=60`, its long-poll in process):
    deny within seconds of the revocation, with `on_error=ask` too (a refused key is no error)."""
    made = await new_key(api)
    hooked = asyncio.create_task(Client(api, made.key).call(
        "POST", "/api/v1/hooks/claude-code?wait=60&on_error=ask", body=BASH))
    await nth_card(slack, 1)
    await until(lambda: api.services.api.waiters.count == 1, what="the hook's long-poll held", within=20)
    await revoke_with_the_cli(redis_url, "nightly")
    status, body, _ = await asyncio.wait_for(hooked, 20)  # (its wait: 60 s)
    assert status == 200, body
    decision = body["hookSpecificOutput"]
    assert decision["permissionDecision"] == "deny", decision
    assert decision["permissionDecisionReason"].startswith(
        "Not run: the approvals bot refused the key (the API key nightly was revoked"), decision
