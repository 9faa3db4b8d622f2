"""Claude Code's `PreToolUse` hook, decided in Slack: what a hook's input asks, and the decision it prints.

    decision = await decide(client, json.load(sys.stdin), wait=50)
    print(json.dumps(decision))  # {"hookSpecificOutput": {"permissionDecision": "allow" | "deny" | "ask", ...}}

The card names the tool and the project ("Claude Code: Bash in shop-api: npm publish"), with the tool's input
as its arguments, exactly as Claude Code will run it (not editable: the hook can only let this call run or not).
Within `wait` seconds the card's decision is answered: allow (the approval used once, `ApprovalsClient.use`),
or deny with who refused and why (the model reads it). Past `wait`, deny-then-grant (`tool_decision(at_most=)`, as the
Claude Agent SDK's hook and the MCP gateway do it): deny now with "waiting for approval in Slack: <card link>";
the card stays up; the identical retry in the same session (same tool, same canonical input) finds the same card
and, approved by then, spends its single use and runs; a different call is asked about anew. An "always allow"
rule or the channel's input mode that approves at once answers in one round trip, with no card.

Never fail open: a hook input that names no call, an error, the bot unreachable, or our own bound (`wait` +
`MARGIN`) passing answers deny with the reason, or, with `on_error="ask"`, Claude Code's own dialog. The bot refusing
the key (wrong, or revoked: a revocation answers a hook that waits on one of its cards at once) is a refusal, not an
error: deny, whatever `on_error` says.
Both the command hook (`agent-approvals-claude-code hook`) and the bot's HTTP hook
(`POST /api/v1/hooks/claude-code`) answer through `decide`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from agent_approvals.client import Approval, ApprovalsClient, BadKey, call_key, refusal, waiting_words

AGENT = "Claude Code"
WAIT = 50.0  # seconds a hook waits for the card's decision before deny-then-grant
MARGIN = 5.0  # our own bound past `wait`, after which we deny whatever is under way
TITLE_MOST = 150  # the API's longest title
Verdict = Literal["allow", "deny", "ask"]
OnError = Literal["deny", "ask"]

log = logging.getLogger("agent_approvals.claude_code")

# the input field that says what a built-in tool does, shown in the card's title
READABLE = {"Bash": "command", "Read": "file_path", "Write": "file_path", "Edit": "file_path",
            "MultiEdit": "file_path", "NotebookEdit": "notebook_path", "WebFetch": "url", "WebSearch": "query",
            "Glob": "pattern", "Grep": "pattern", "Task": "description", "Agent": "description"}


class NotACall(ValueError):
    """The hook's input names no tool call to ask about."""


@dataclass(frozen=True, slots=True)
class HookCall:
    """One tool call as Claude Code's `PreToolUse` hook input describes it."""

    tool: str
    arguments: dict[str, Any]
    session: str
    cwd: str = ""

    @classmethod
    def from_payload(cls, payload: Any) -> HookCall:
        if not isinstance(payload, dict):
            raise NotACall("the hook's input is not a JSON object")
        event = payload.get("hook_event_name")
        if event not in (None, "PreToolUse"):
            raise NotACall(f"the hook runs on PreToolUse, not {str(event)[:40]}")
        tool, arguments = payload.get("tool_name"), payload.get("tool_input")
        if not isinstance(tool, str) or not tool or not isinstance(arguments, dict):
            raise NotACall("the hook's input names no tool call (tool_name, tool_input)")
        cwd = payload.get("cwd")
        return cls(tool=tool, arguments=arguments, session=str(payload.get("session_id") or ""),
                   cwd=cwd if isinstance(cwd, str) else "")

    @property
    def project(self) -> str:
        return os.path.basename(self.cwd.rstrip("/")) if self.cwd else ""

    @property
    def title(self) -> str:
        """"Claude Code: Bash in shop-api: npm publish" (cut to the API's longest title)."""
        where = f" in {self.project}" if self.project else ""
        what = self.arguments.get(READABLE.get(self.tool, ""), "")
        what = " ".join(what.split()) if isinstance(what, str) else ""
        title = f"{AGENT}: {self.tool}{where}" + (f": {what}" if what else "")
        return title if len(title) <= TITLE_MOST else title[: TITLE_MOST - 1] + "…"


def answer(verdict: Verdict, reason: str) -> dict[str, Any]:
    """The hook's output, as Claude Code reads it from a command hook's stdout or an HTTP hook's body."""
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": verdict,
                                   "permissionDecisionReason": reason}}


async def decide(
    client: ApprovalsClient, payload: Any, *, wait: float = WAIT, on_error: OnError = "deny", **options: Any
) -> dict[str, Any]:
    """The hook's decision on the call `payload` (the hook's input) names (see the module docstring). `options`
    go with the ask (`requester`, `channel`, `timeout`)."""
    try:
        call = HookCall.from_payload(payload)
    except NotACall as exc:
        return answer(on_error, f"Not run: {exc}.")
    verdict, words, _ = await ask(client, call, wait=wait, **options)
    if verdict == "error":
        return answer(on_error, words)
    return answer(verdict, words)


async def ask(
    client: ApprovalsClient, call: HookCall, *, wait: float = WAIT, **options: Any
) -> tuple[Literal["allow", "deny", "error"], str, Approval | None]:
    """("allow", words, approval) when the call may run now (approved and used, once); ("deny", words, approval)
    when refused or still waiting past `wait`; ("error", words, None) when it could not be asked or read."""
    key = call_key("cc", call.session, call.tool, call.arguments)
    session = re.sub(r"[^A-Za-z0-9_.:-]", "-", call.session)[:128]  # this session is the program's run
    options = {"agent": AGENT, "title": call.title, "editable": False, **({"run": session} if session else {}),
               **options}
    try:
        async with asyncio.timeout(wait + MARGIN):
            decided = await client.tool_decision(call.tool, call.arguments, idempotency_key=key, at_most=wait,
                                                 **options)
    except BadKey as exc:  # the bot refused the key (wrong, or revoked, perhaps while it waited): a refusal
        log.warning("%s(%s): not run: %s", call.tool, key, exc)
        return "deny", f"Not run: the approvals bot refused the key ({exc.message}).", None
    except Exception as exc:  # never fail open
        log.warning("%s(%s): not run: %s", call.tool, key, exc)
        reason = str(exc) or "no answer in time"
        return "error", f"Not run: the approval could not be asked or read ({type(exc).__name__}: {reason}).", None
    if decided.pending:
        return "deny", waiting_words(decided, call.tool, wait), decided
    if decided.approved:
        return "allow", f"{decided.summary} in Slack", decided
    return "deny", refusal(decided), decided
