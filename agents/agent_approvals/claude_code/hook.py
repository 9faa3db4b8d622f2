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

The card shows the change itself (`edits.sourced`): an `Edit`, `MultiEdit`, `Write` or `NotebookEdit` as the
file change it makes to the file on disk now (before and after, computed as Claude Code applies it), a `Bash`
call as its command; an edit that does not apply says why in the title ("old_string not found in notes.txt"),
with no change made up. The idempotency key holds the change's digests, so the same call against a file changed
since is a new card. Right before "allow", each approved file change is checked against the disk
(`artifacts.disk_mismatch`): a file changed since the approval is not edited: deny with the reason, and the call
is asked about again at once with the file as it is now (the model's identical retry finds that card).

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent_approvals.artifacts import artifact_sha256, disk_mismatch
from agent_approvals.claude_code.edits import Sourced, everywhere, sourced
from agent_approvals.client import Approval, ApprovalsClient, BadKey, call_key, refusal, waiting_words
from agent_approvals.files import READ_TIMEOUT, off_loop

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
        return self.titled()

    def titled(self, note: str = "") -> str:
        """The title, saying `note` (why the change is not shown: "old_string not found in notes.txt") instead of
        what the call does when there is one."""
        where = f" in {self.project}" if self.project else ""
        what = note or self.arguments.get(READABLE.get(self.tool, ""), "")
        what = " ".join(what.split()) if isinstance(what, str) else ""
        title = f"{AGENT}: {self.tool}{where}" + (f": {what}" if what else "")
        return title if len(title) <= TITLE_MOST else title[: TITLE_MOST - 1] + "…"


def answer(verdict: Verdict, reason: str) -> dict[str, Any]:
    """The hook's output, as Claude Code reads it from a command hook's stdout or an HTTP hook's body."""
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": verdict,
                                   "permissionDecisionReason": reason}}


async def decide(
    client: ApprovalsClient, payload: Any, *, wait: float = WAIT, on_error: OnError = "deny",
    may_read: Callable[[Path], bool] = everywhere, **options: Any
) -> dict[str, Any]:
    """The hook's decision on the call `payload` (the hook's input) names (see the module docstring). `options`
    go with the ask (`requester`, `channel`, `timeout`); `may_read`: the files whose change may be shown."""
    try:
        call = HookCall.from_payload(payload)
    except NotACall as exc:
        return answer(on_error, f"Not run: {exc}.")
    verdict, words, _ = await ask(client, call, wait=wait, may_read=may_read, **options)
    if verdict == "error":
        return answer(on_error, words)
    return answer(verdict, words)


async def ask(
    client: ApprovalsClient, call: HookCall, *, wait: float = WAIT, may_read: Callable[[Path], bool] = everywhere,
    **options: Any
) -> tuple[Literal["allow", "deny", "error"], str, Approval | None]:
    """("allow", words, approval) when the call may run now (approved and used, once, and each file it changes
    still as approved); ("deny", words, approval) when refused, still waiting past `wait`, or a file changed since
    the approval (asked again with the file as it is now); ("error", words, None) when it could not be asked or
    read."""
    found = await _sourced(call, may_read)
    session = re.sub(r"[^A-Za-z0-9_.:-]", "-", call.session)[:128]  # this session is the program's run
    options = {"agent": AGENT, "title": call.titled(found.note), "editable": False,
               **({"run": session} if session else {}), **options}
    key = _key(call, found)
    try:
        async with asyncio.timeout(wait + MARGIN):
            decided = await client.tool_decision(call.tool, call.arguments, idempotency_key=key, at_most=wait,
                                                 artifacts=found.artifacts, **options)
            if decided.approved and (changed := await _changed(found, call.cwd)):
                return "deny", await _asked_again(client, call, changed, may_read, options), decided
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


def _key(call: HookCall, found: Sourced) -> str:
    """The idempotency key of the call and of the change it makes to the files as they are now: the identical
    retry finds the same card, and the same call against a file changed since is a new one."""
    if not found.artifacts:
        return call_key("cc", call.session, call.tool, call.arguments)
    return call_key("cc", call.session, call.tool,
                    {"tool_input": call.arguments, "artifacts": [artifact_sha256(a) for a in found.artifacts]})


async def _sourced(call: HookCall, may_read: Callable[[Path], bool]) -> Sourced:
    """The call's change (`edits.sourced`), read and diffed off the event loop (the bot's HTTP hook runs in a
    worker's) on the file readers' own threads, at most READ_TIMEOUT seconds (then no change, saying so)."""
    try:
        return await off_loop(sourced, call.tool, call.arguments, cwd=call.cwd, may_read=may_read)
    except TimeoutError:
        return Sourced(note=f"no diff shown: the file was not read within {READ_TIMEOUT:g} s")


def _mismatch(found: Sourced, cwd: str) -> str:
    for artifact in found.artifacts:
        if why := disk_mismatch(artifact, cwd or "."):
            return why
    return ""


async def _changed(found: Sourced, cwd: str) -> str:
    """Why a file the approved change is about is no longer as approved (`disk_mismatch`: read as `_sourced`
    reads; not read in time: so said, and not run), else ""."""
    try:
        return await off_loop(_mismatch, found, cwd)
    except TimeoutError:
        return f"the file was not read within {READ_TIMEOUT:g} s to check it is still as approved"


async def _asked_again(
    client: ApprovalsClient, call: HookCall, changed: str, may_read: Callable[[Path], bool], options: dict[str, Any]
) -> str:
    """Ask about the call again, with the change against the file as it is now (not waited for: the model's
    identical retry finds this card), and the words that say so."""
    now = await _sourced(call, may_read)
    again = await client.request_tool(call.tool, call.arguments, idempotency_key=_key(call, now),
                                      artifacts=now.artifacts, **{**options, "title": call.titled(now.note)})
    where = again.card_url or f"approval {again.id}"
    log.warning("%s: not run: %s; asked again (%s)", call.tool, changed, again.id)
    return (f"Not run: {changed}. Asked again in Slack with the file as it is now: {where}. Call {call.tool} "
            "again with the same arguments after it is approved.")
