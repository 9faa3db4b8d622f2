"""`agent-approvals-claude-code hook` on its own, as Claude Code runs it (the input on stdin, the decision on stdout,
exit 0): what it cannot ask about is denied with the reason, or asked in the terminal with `--on-error ask`, never
allowed; the card's title names the tool, the project and what the call does. Its `main` runs in this process with
the input, the arguments and the environment given; one test runs it as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
from typing import Any

import agent_approvals.claude_code.__main__ as hook_main
import pytest
from agent_approvals.claude_code import HookCall
from aiohttp import web

BASH = {"session_id": "s-1", "cwd": "/home/me/shop-api", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "npm publish", "description": "Publish"}}


def hook(raw: str, *args: str, **env: str) -> dict[str, Any]:
    """`agent-approvals-claude-code hook *args` with `raw` on its standard input and `env` as its environment."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = hook_main.main(["hook", *args], environ=env, stdin=io.BytesIO(raw.encode("utf-8")))
    assert code == 0
    out: dict[str, Any] = json.loads(printed.getvalue())["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse"
    return out


@pytest.mark.slow
def test_the_hook_as_claude_code_runs_it() -> None:
    """A real process: the input on stdin, the decision on stdout, exit 0."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_APPROVALS_")}
    done = subprocess.run([sys.executable, "-m", "agent_approvals.claude_code", "hook"], input=json.dumps(BASH),
                          capture_output=True, text=True, timeout=60, env=environ)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "deny"


def test_without_the_bot_configured_it_denies_or_asks_never_allows() -> None:
    out = hook(json.dumps(BASH))
    assert out["permissionDecision"] == "deny"
    assert out["permissionDecisionReason"] == ("Not run: set AGENT_APPROVALS_URL and AGENT_APPROVALS_KEY for the"
                                               " approval hook.")
    assert hook(json.dumps(BASH), "--on-error", "ask")["permissionDecision"] == "ask"


def test_input_it_cannot_read_is_denied_with_why() -> None:
    env = {"AGENT_APPROVALS_URL": "http://127.0.0.1:9", "AGENT_APPROVALS_KEY": "aak_x"}
    assert hook("{not json", **env)["permissionDecisionReason"] == (
        "Not run: the hook's input is not JSON (or holds NaN or Infinity).")
    out = hook(json.dumps({**BASH, "tool_input": "npm publish"}), **env)
    assert out["permissionDecision"] == "deny" and "names no tool call" in out["permissionDecisionReason"]
    out = hook(json.dumps({**BASH, "hook_event_name": "PostToolUse"}), "--on-error", "ask", **env)
    assert out["permissionDecision"] == "ask" and "not PostToolUse" in out["permissionDecisionReason"]


@pytest.mark.slow
def test_an_unreachable_bot_is_denied_after_a_short_retry() -> None:
    env = {"AGENT_APPROVALS_URL": "http://127.0.0.1:9", "AGENT_APPROVALS_KEY": "aak_x"}
    out = hook(json.dumps(BASH), "--retry-for", "0.5", **env)
    assert out["permissionDecision"] == "deny"
    said = out["permissionDecisionReason"]
    assert said.startswith("Not run: the approval could not be asked or read (Unreachable: the approvals bot at"
                           " http://127.0.0.1:9 is unreachable (ConnectError"), said


def test_the_title_names_the_tool_the_project_and_what_it_does() -> None:
    assert HookCall.from_payload(BASH).title == "Claude Code: Bash in shop-api: npm publish"
    write = {**BASH, "tool_name": "Write", "tool_input": {"file_path": "/home/me/shop-api/a.py", "content": "x"}}
    assert HookCall.from_payload(write).title == "Claude Code: Write in shop-api: /home/me/shop-api/a.py"
    mcp = {**BASH, "cwd": "", "tool_name": "mcp__github__create_issue", "tool_input": {"title": "t"}}
    assert HookCall.from_payload(mcp).title == "Claude Code: mcp__github__create_issue"
    long = {**BASH, "tool_input": {"command": "echo " + "word\n" * 100}}
    title = HookCall.from_payload(long).title
    assert len(title) == 150 and title.endswith("…") and "\n" not in title


def test_hostile_input_and_settings_are_denied_never_a_traceback() -> None:
    """#51.1: Claude Code reads exit 1 as no decision and runs the call; every one of these once exited 1."""
    env = {"AGENT_APPROVALS_URL": "http://127.0.0.1:9", "AGENT_APPROVALS_KEY": "aak_x"}
    deep = '{"a": ' * 1000 + '"rm -rf /"' + "}" * 1000  # as Claude Code could send it: too deep for Python
    inputs = {
        "NaN": json.dumps({**BASH, "tool_input": {"command": "x", "n": float("nan")}}),
        "Infinity": json.dumps({**BASH, "tool_input": {"command": "x", "n": float("inf")}}),
        "deep": json.dumps({**BASH, "tool_input": {}})[:-3] + deep + "}",
        "surrogate": json.dumps({**BASH, "tool_input": {"command": "echo \ud800"}}),
        "not UTF-8": b"\xff\xfe{".decode("latin-1"),
    }
    for what, raw in inputs.items():
        for flags, verdict in (((), "deny"), (("--on-error", "ask"), "ask")):
            out = hook(raw, *flags, "--retry-for", "0.2", **env)
            assert out["permissionDecision"] == verdict, (what, out)
            assert out["permissionDecisionReason"].startswith("Not run: "), (what, out)
    for url in ("127.0.0.1:3000", "localhost", "ftp://approvals.example.com", " ", "http://", "https://ok.example,x"):
        out = hook(json.dumps(BASH), AGENT_APPROVALS_URL=url, AGENT_APPROVALS_KEY="aak_x")
        assert out["permissionDecision"] == "deny", (url, out)
        assert out["permissionDecisionReason"].startswith("Not run: "), (url, out)


def test_the_hooks_own_failure_is_a_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug of ours (here: `decide` raising) still prints deny (or ask), exit 0."""
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(hook_main, "decide", broken)
    env = {"AGENT_APPROVALS_URL": "http://127.0.0.1:9", "AGENT_APPROVALS_KEY": "aak_x"}
    for flags, verdict in (((), "deny"), (("--on-error", "ask"), "ask")):
        out = hook(json.dumps(BASH), *flags, **env)
        assert out["permissionDecision"] == verdict
        assert out["permissionDecisionReason"] == "Not run: the approval hook failed (RuntimeError)."


async def test_a_redirect_is_a_failure_never_an_approval() -> None:
    """#51.3: an answer of 3xx whose body reads as an approved, used call (a proxy or a server that is not the bot)
    is denied, never allowed."""
    approved = {"id": "apr_1", "status": "approved", "approved": True, "used": True, "decided_by": "U0BOB",
                "arguments": BASH["tool_input"], "tool_name": "Bash"}

    async def redirect(request: web.Request) -> web.Response:
        return web.json_response(approved, status=int(request.match_info["status"]),
                                 headers={"Location": "http://127.0.0.1:9/"})

    app = web.Application()
    app.router.add_route("*", "/{status}/{tail:.*}", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        for status in (300, 302, 304, 307):
            env = {"AGENT_APPROVALS_URL": f"http://127.0.0.1:{port}/{status}", "AGENT_APPROVALS_KEY": "aak_x"}
            out = await asyncio.to_thread(hook, json.dumps(BASH), "--retry-for", "0.2", **env)
            assert out["permissionDecision"] == "deny", (status, out)
            assert f"HTTP {status}" in out["permissionDecisionReason"], (status, out)
    finally:
        await runner.cleanup()
