"""The Claude Agent SDK: tool calls decided by people in Slack (extra `claude-agent-sdk`).

    async with ApprovalsClient(url, key, title="price update") as approvals:
        options = ClaudeAgentOptions(can_use_tool=can_use_tool(approvals))
        # or: ClaudeAgentOptions(hooks={"PreToolUse": [pre_tool_use_hook(approvals, matcher="mcp__mail__.*")]})

The SDK waits about 60 s for a permission callback or a hook; people take minutes (median 2.4, p95 18).
Within `limit` seconds (default 50) the callback waits for the card's decision and answers it. Past it,
deny-then-grant: it answers deny at once, with words the model acts on ("waiting for approval in Slack:
<card link>; call the same tool again with the same arguments after it is approved"). The card stays up.
The model's identical retry (the same tool, the same canonical arguments, in the same session) finds the same
card: approved by then, it spends the approval's single use (`ApprovalsClient.use`, in the bot: once across
processes) and runs; still pending, it waits up to `limit` again; a different call is asked about as a new
card. A second identical call after the one that ran is asked about again. Headless runs may answer `defer`
instead of deny from the hook (`on_wait="defer"`): the run stops with `ResultMessage.deferred_tool_use`, and
the resumed session's identical call runs once the card is approved.

Never fail open: an error, the API unreachable, or our own bound (`limit` + 5 s) passing, answers deny.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from agent_approvals._extras import missing_extra

try:
    from claude_agent_sdk import (
        HookContext,
        HookMatcher,
        PermissionResultAllow,
        PermissionResultDeny,
        ToolPermissionContext,
    )
    from claude_agent_sdk.types import HookInput, PermissionResult, SyncHookJSONOutput

    from agent_approvals.client import Approval, ApprovalsClient, call_key, refusal, waiting_words
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "claude-agent-sdk", exc) from exc

FRAMEWORK = "Claude Agent SDK"
LIMIT = 50.0  # seconds: under the SDK's ~60 s for a permission callback or a hook
MARGIN = 5.0  # our own bound past `limit`, after which we deny whatever is under way
__all__ = ["LIMIT", "can_use_tool", "decide", "pre_tool_use_hook"]

log = logging.getLogger("agent_approvals.claude_agent_sdk")

Verdict = tuple[Literal["allow", "deny", "wait"], str, Approval | None]


async def decide(
    client: ApprovalsClient,
    name: str,
    arguments: dict[str, Any],
    *,
    scope: str,
    limit: float = LIMIT,
    within: int | None = None,
    agent: str = "",
) -> Verdict:
    """("allow", "", approval) when `name(arguments)` may run now (approved and used, once); ("wait", words,
    approval) when nobody decided within `limit`; ("deny", words, approval or None) otherwise, an error too."""
    options: dict[str, Any] = {"agent": (agent or FRAMEWORK)[:80]}
    if within is not None:
        options["timeout"] = within
    try:
        key = call_key("cc", scope, name, arguments)  # (arguments with no canonical JSON, NaN: denied here)
        async with asyncio.timeout(limit + MARGIN):
            decided = await client.tool_decision(name, arguments, idempotency_key=key, at_most=limit, **options)
    except Exception as exc:  # never fail open
        return "deny", _unanswered(name, exc), None
    if decided.pending:
        return "wait", waiting_words(decided, name, limit), decided
    if decided.approved:
        return "allow", "", decided
    return "deny", refusal(decided), decided


def can_use_tool(
    client: ApprovalsClient,
    *,
    limit: float = LIMIT,
    scope: str = "",
    within: int | None = None,
    agent: str = "",
) -> Callable[[str, dict[str, Any], ToolPermissionContext], Awaitable[PermissionResult]]:
    """The callback for `ClaudeAgentOptions(can_use_tool=...)`: each call the CLI asks permission for is asked
    about in Slack (see the module docstring). `scope` names the session: an identical call in the same scope
    finds the same card (default: one of its own per callback, so per process; give the session's id to let a
    resumed process spend an approval its predecessor asked for). `within`: seconds a decision may take."""
    scope = scope or uuid.uuid4().hex[:16]

    async def callback(name: str, arguments: dict[str, Any], context: ToolPermissionContext) -> PermissionResult:
        try:
            verdict, words, _ = await decide(client, name, dict(arguments), scope=scope, limit=limit, within=within,
                                             agent=agent)
            if verdict == "allow":
                return PermissionResultAllow(updated_input=dict(arguments))
        except Exception as exc:  # never fail open, never an error the CLI reads as no answer
            words = _unanswered(name, exc)
        return PermissionResultDeny(message=words)

    return callback


def pre_tool_use_hook(
    client: ApprovalsClient,
    *,
    matcher: str | None = None,
    limit: float = LIMIT,
    on_wait: Literal["deny", "defer"] = "deny",
    within: int | None = None,
    agent: str = "",
) -> HookMatcher:
    """A `HookMatcher` for `hooks={"PreToolUse": [...]}`: the calls of the tools `matcher` names (all, when None)
    are asked about in Slack, keyed by the hook's session id (see the module docstring); a call with no session id
    by a scope of this hook's own (drawn when it is made, so per program: another program of the same key never
    runs on its grants). Past `limit`, the hook answers `on_wait`: "deny" (the model retries) or "defer"
    (headless runs: the run stops and is resumed)."""
    own = f"program-{uuid.uuid4().hex}"

    async def hook(data: HookInput, tool_use_id: str | None, context: HookContext) -> SyncHookJSONOutput:
        fields: dict[str, Any] = dict(data)
        name = str(fields.get("tool_name") or "")
        arguments = fields.get("tool_input")
        if fields.get("hook_event_name") != "PreToolUse" or not name or not isinstance(arguments, dict):
            return _hook_answer("deny", "Not run: the approval hook got no tool call to ask about.")
        session = fields.get("session_id")
        scope = f"session-{session}" if isinstance(session, str) and session else own
        try:
            verdict, words, _ = await decide(client, name, dict(arguments), scope=scope, limit=limit, within=within,
                                             agent=agent)
        except Exception as exc:  # never fail open
            return _hook_answer("deny", _unanswered(name, exc))
        if verdict == "allow":
            return _hook_answer("allow", "approved in Slack")
        if verdict == "wait" and on_wait == "defer":
            return _hook_answer("defer", words)
        return _hook_answer("deny", words)

    return HookMatcher(matcher=matcher, hooks=[hook], timeout=limit + 2 * MARGIN)


def _unanswered(name: str, exc: Exception) -> str:
    log.warning("%s: not run: %s", name, exc)
    return f"Not run: the approval could not be asked or read ({type(exc).__name__}: {exc})."


def _hook_answer(decision: Literal["allow", "deny", "defer"], reason: str) -> SyncHookJSONOutput:
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": decision,
                                   "permissionDecisionReason": reason}}
