"""Pure Block Kit builders. Every piece of untrusted text goes through `untrusted()`.

Untrusted text (task, agent output, feedback) is escaped (`&`, `<`, `>`), stripped of control
characters, cut to Slack's limits, and sent in a mrkdwn object with `verbatim: true`, so it can
never mention anyone, link anywhere or break the card; it still shows as typed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from agents.approver import parse_revision
from agents.modes import DEFAULT_RISK_WORDS, MODE_DESCRIPTIONS, risk_words_setting
from agents.tools import pretty_json
from bot.durations import format_duration
from bot.records import SLACK_ID, ApprovalRecord, ChannelSettings, RunRecord

Block = dict[str, Any]

TEXT_LIMIT = 3000  # a text object
HEADER_LIMIT = 150
PROPOSAL_LIMIT = 2900  # proposal section on a card, leaves room for its label
TASK_LIMIT = 600
FEEDBACK_LIMIT = 1500
REVISE_CALLBACK_ID = "approval_revise_modal"
FEEDBACK_BLOCK = "feedback"
FEEDBACK_ACTION = "feedback_input"
ARGUMENTS_BLOCK = "arguments"
ARGUMENTS_ACTION = "arguments_input"
INPUT_LIMIT = 3000  # a plain_text_input's value
REJECT_HINT = "Start with “reject:” to reject instead, giving your reason (e.g. “reject: wrong customer list”)."
SHOWN_LIMIT = PROPOSAL_LIMIT - 60  # arguments or code shown whole on a card (else cut, full text in the thread)
ACTION_APPROVE = "approval_approve"
ACTION_REJECT = "approval_reject"
ACTION_REVISE = "approval_revise"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_CUT = "… (cut)"


def escape(text: str) -> str:
    """Slack's three control characters, and nothing else (see SLACK.md §6)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clean(text: str) -> str:
    """Untrusted text without control characters or direction overrides."""
    return _CONTROL.sub("", text)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, saying so when cut."""
    return text if len(text) <= limit else text[: limit - len(_CUT)].rstrip() + _CUT


def safe(text: str, limit: int = TEXT_LIMIT) -> str:
    """Untrusted text made inert for a mrkdwn object: cleaned, cut, then escaped within `limit`."""
    escaped = escape(clean(text))
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - len(_CUT)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:  # never split an entity
        cut = cut[:amp]
    return cut.rstrip() + _CUT


def fits(text: str, limit: int) -> bool:
    """Whether untrusted `text` shows whole within `limit` characters (after cleaning and escaping)."""
    return len(escape(clean(text))) <= limit


def untrusted(text: str, *, label: str = "", limit: int = TEXT_LIMIT) -> dict[str, Any]:
    """A mrkdwn text object for untrusted text, with an optional trusted bold label above it."""
    prefix = f"*{escape(clean(label))}*\n" if label else ""
    body = safe(text, limit - len(prefix))
    if not body.strip():
        body = "_(empty)_"
    return {"type": "mrkdwn", "text": prefix + body, "verbatim": True}


def untrusted_parts(text: str, *, size: int = 2900) -> list[dict[str, Any]]:
    """Untrusted text of any length as inert mrkdwn objects of at most `size` characters each,
    split on escaped text so that no part is cut and no entity is split."""
    escaped = escape(clean(text))
    parts: list[dict[str, Any]] = []
    while escaped:
        cut = min(size, len(escaped))
        amp = escaped.rfind("&", max(0, cut - 5), cut)
        if cut < len(escaped) and amp != -1 and ";" not in escaped[amp:cut]:
            cut = amp
        parts.append({"type": "mrkdwn", "text": escaped[:cut], "verbatim": True})
        escaped = escaped[cut:]
    return parts


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn object for text we composed ourselves (mentions of ids we checked)."""
    return {"type": "mrkdwn", "text": text[:TEXT_LIMIT], "verbatim": True}


def plain(text: str, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(clean(text), limit) or " ", "emoji": True}


def user_ref(user_id: str) -> str:
    """A mention of a Slack user id we received from Slack; anything else is shown inert."""
    return f"<@{user_id}>" if SLACK_ID.match(user_id) else escape(clean(user_id)) or "someone"


def people_refs(ids: Sequence[str]) -> str:
    """Mentions of users and user groups by id ("anyone" when there are none)."""
    if not ids:
        return "anyone"
    refs = [f"<!subteam^{i}>" if i.startswith("S") and SLACK_ID.match(i) else user_ref(i) for i in ids]
    return refs[0] if len(refs) == 1 else ", ".join(refs[:-1]) + " or " + refs[-1]


def channel_ref(channel_id: str) -> str:
    return f"<#{channel_id}>" if SLACK_ID.match(channel_id) else escape(clean(channel_id))


def date_ref(epoch: float) -> str:
    stamp = int(epoch)
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


_TOOL_NAME = re.compile(r"[^A-Za-z0-9_.:-]")
_FENCE_LANG = re.compile(r"```[A-Za-z0-9_+.-]*[ \t]*\n")


def tool_label(name: str) -> str:
    """A tool's name as inline code: only the characters tool names use."""
    return f"`{_TOOL_NAME.sub('', name)[:64] or 'tool'}`"


def code_block(text: str, *, label: str = "", limit: int = SHOWN_LIMIT) -> dict[str, Any]:
    """Untrusted text as an inert mrkdwn code block: escaped like `untrusted()`, and no ``` inside
    can close the block early."""
    inner = clean(text).replace("```", "`\u200b``").strip("\n") or " "
    prefix = f"*{escape(clean(label))}*\n" if label else ""
    return {"type": "mrkdwn", "text": prefix + "```" + safe(inner, limit) + "```", "verbatim": True}


def code_text(text: str, *, label: str = "", limit: int = SHOWN_LIMIT) -> dict[str, Any]:
    """Code blocks written by an agent (```python ...```), shown as Slack code blocks: untrusted,
    escaped, the language tags dropped (Slack shows them as text)."""
    body = safe(_FENCE_LANG.sub("```\n", clean(text)), limit)
    if body.count("```") % 2:  # cut inside a block: close it
        body += "\n```"
    prefix = f"*{escape(clean(label))}*\n" if label else ""
    return {"type": "mrkdwn", "text": prefix + (body or "_(empty)_"), "verbatim": True}


def _cut_note(approval: ApprovalRecord) -> Block:
    what = {"tool_call": "The arguments are", "code": "The code is"}.get(approval.kind, "The proposal is")
    return _context(
        f":scissors: {what} {len(approval.proposal):,} characters; the card shows the start."
        " The full text is attached in this card's thread."
    )


def _approval_body(approval: ApprovalRecord) -> list[Block]:
    author = clean(approval.author)[:40]
    blocks: list[Block] = [
        _context(
            f"Run `{approval.run_id}` · requested by {user_ref(approval.requester)}"
            f" in {channel_ref(approval.origin_channel)}"
        ),
        {"type": "section", "text": untrusted(approval.task, label="Task", limit=TASK_LIMIT + 12)},
    ]
    if approval.kind == "tool_call":
        blocks.append(
            {"type": "section", "text": mrkdwn(f"*Tool call* {tool_label(approval.tool_name)} from {escape(author)}")}
        )
        blocks.append(
            {"type": "section", "text": code_block(approval.arguments or approval.proposal, label="Arguments")}
        )
        if approval.edited_by:
            blocks.append(_context(f":pencil2: Arguments edited by {user_ref(approval.edited_by)}"))
        if approval.schema_error:
            problem = safe(approval.schema_error, 1500)
            blocks.append(
                {
                    "type": "section",
                    "text": mrkdwn(
                        f":warning: *These arguments do not match the tool's schema:* {problem}\n"
                        "Approving is not offered: reject the call, or revise the arguments."
                    ),
                }
            )
    elif approval.kind == "code":
        blocks.append({"type": "section", "text": code_text(approval.proposal, label=f"Code to run, from {author}")})
    else:
        label = f"Proposal from {author}"
        blocks.append({"type": "section", "text": untrusted(approval.proposal, label=label, limit=PROPOSAL_LIMIT)})
    if proposal_is_cut(approval.proposal):
        blocks.append(_cut_note(approval))
    if approval.why:
        blocks.append({"type": "context", "elements": [untrusted(":information_source: " + approval.why, limit=500)]})
    return blocks


def proposal_is_cut(proposal: str) -> bool:
    """Whether the card cannot show the whole proposal (then the full text goes in the card's thread)."""
    return not fits(proposal, PROPOSAL_LIMIT - 60)


def timeout_meaning(outcome: str) -> str:
    return "approved" if outcome == "approve" else "rejected"


def _who_decides(approval: ApprovalRecord) -> Block | None:
    parts: list[str] = []
    if approval.approver_ids:
        parts.append(f"Who may decide: {people_refs(approval.approver_ids)}")
    if approval.required_approvals > 1:
        voters = approval.voters
        line = f"*{len(voters)} of {approval.required_approvals} approvals*"
        if voters:
            line += ": " + ", ".join(user_ref(v) for v in voters)
        parts.append(line)
    return _context(" · ".join(parts)) if parts else None


HEADERS = {"tool_call": "Tool call needs approval", "code": "Code needs approval to run"}


def build_approval_blocks(approval: ApprovalRecord) -> list[Block]:
    """The pending card: who asked, from where, the task, the proposal (or the tool call and its
    arguments, or the code), the deadline, the buttons (and, for a quorum, the approvals so far).
    Approve is not offered for a tool call whose arguments fail the tool's schema."""
    who = _who_decides(approval)
    approve = [] if approval.schema_error else [_button("Approve", ACTION_APPROVE, approval.id, style="primary")]
    return [
        {"type": "header", "text": plain(HEADERS.get(approval.kind, "Approval needed"), HEADER_LIMIT)},
        *_approval_body(approval),
        *([who] if who else []),
        _context(
            f":hourglass_flowing_sand: Times out {date_ref(approval.deadline)}"
            f" (after {format_duration(approval.timeout_seconds)}): then {timeout_meaning(approval.timeout_outcome)}"
        ),
        {
            "type": "actions",
            "block_id": f"approval_actions_{len(approval.voters)}",
            "elements": [
                *approve,
                _button(
                    "Reject",
                    ACTION_REJECT,
                    approval.id,
                    style="danger",
                    confirm={
                        "title": plain("Reject this proposal?", 100),
                        "text": plain("The agent is told it was rejected and the run ends.", 300),
                        "confirm": plain("Reject", 30),
                        "deny": plain("Cancel", 30),
                        "style": "danger",
                    },
                ),
                _button("Revise", ACTION_REVISE, approval.id),
            ],
        },
    ]


def _button(text: str, action_id: str, value: str, *, style: str | None = None, confirm: Block | None = None) -> Block:
    button: Block = {"type": "button", "text": plain(text, 75), "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def decision_line(approval: ApprovalRecord) -> str:
    """One line saying what happened to an approval, e.g. "Approved by @bob, 42s after the request"."""
    who = user_ref(approval.decided_by)
    if approval.status == "approved" and len(approval.voters) > 1:
        refs = [user_ref(v) for v in approval.voters]
        who = ", ".join(refs[:-1]) + " and " + refs[-1]
    after = format_duration(max(0.0, approval.decided_at - approval.created_at))
    if approval.status == "approved":
        return f":white_check_mark: *Approved* by {who}, {after} after the request"
    if approval.status == "rejected":
        return f":x: *Rejected* by {who}, {after} after the request"
    if approval.status == "revised" and revision_arguments(approval) is not None:
        return f":pencil2: *Arguments edited* by {who}, {after} after the request; the edited call needs approval"
    if approval.status == "revised":
        return f":pencil2: *Revision requested* by {who}, {after} after the request"
    if approval.status == "timed_out":
        meaning = timeout_meaning(approval.timeout_outcome)
        return f":hourglass: *Timed out*: no decision within {format_duration(approval.timeout_seconds)}, so {meaning}"
    if approval.status == "cancelled":
        by = f" by {who}" if SLACK_ID.match(approval.decided_by) else ""
        return f":no_entry_sign: *Cancelled*{by}"
    return ":hourglass_flowing_sand: Waiting for a decision"


def build_replaced_blocks(approval: ApprovalRecord) -> list[Block]:
    """An extra card of a still pending approval (its worker died between posting it and noting it,
    and another worker posted it again): no buttons, and where to decide."""
    return [
        {"type": "header", "text": plain("Approval posted again", HEADER_LIMIT)},
        *_approval_body(approval),
        {"type": "section", "text": mrkdwn("This request was posted again in this channel: decide on the newer card.")},
    ]


def build_decided_blocks(approval: ApprovalRecord) -> list[Block]:
    """The card after its decision: same content, no buttons, and what was decided."""
    blocks: list[Block] = [
        {"type": "header", "text": plain("Approval " + approval.status.replace("_", " "), HEADER_LIMIT)},
        *_approval_body(approval),
        {"type": "section", "text": mrkdwn(decision_line(approval))},
    ]
    edit = revision_arguments(approval)
    if edit is not None:
        blocks.append({"type": "section", "text": code_block(edit[0], label="Edited arguments", limit=FEEDBACK_LIMIT)})
        if edit[1].strip():
            blocks.append({"type": "section", "text": untrusted(edit[1], label="Note", limit=FEEDBACK_LIMIT)})
    elif approval.feedback.strip():
        label = {"revised": "Feedback", "cancelled": "Reason", "rejected": "Reason"}.get(approval.status, "Comment")
        if approval.status != "timed_out":
            blocks.append({"type": "section", "text": untrusted(approval.feedback, label=label, limit=FEEDBACK_LIMIT)})
    return blocks


def revision_arguments(approval: ApprovalRecord) -> tuple[str, str] | None:
    """(edited arguments as pretty JSON, note) when a tool call was revised by editing its arguments."""
    if approval.kind != "tool_call" or approval.status != "revised":
        return None
    parsed = parse_revision(approval.feedback)
    return (pretty_json(parsed[0]), parsed[1]) if parsed is not None else None


def approval_fallback_text(approval: ApprovalRecord) -> str:
    """Notification text: fixed words and ids only, never untrusted text."""
    if approval.pending:
        return f"Approval needed for run {approval.run_id}"
    return f"Approval for run {approval.run_id}: {approval.status.replace('_', ' ')}"


def build_revise_modal(approval: ApprovalRecord, *, metadata: str) -> Block:
    """The Revise modal: the proposal for reference and a multi-line feedback field; for a tool call,
    its arguments to edit (JSON, checked against the tool's schema on submit) and optional feedback.

    `metadata` (signed, see `bot.security.sign_metadata`) says which card the modal belongs to."""
    if approval.kind == "tool_call":
        return _tool_revise_modal(approval, metadata=metadata)
    if approval.kind == "code":
        reference: dict[str, Any] = code_text(approval.proposal, label="Code", limit=TEXT_LIMIT - 40)
    else:
        reference = untrusted(approval.proposal, label="Current proposal", limit=TEXT_LIMIT)
    return {
        "type": "modal",
        "callback_id": REVISE_CALLBACK_ID,
        "private_metadata": metadata,
        "title": plain("Request a revision", 24),
        "submit": plain("Send to agent", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": reference},
            {
                "type": "input",
                "block_id": FEEDBACK_BLOCK,
                "label": plain("What should the agent change?", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": FEEDBACK_ACTION,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": 3000,
                    "placeholder": plain("e.g. Make it shorter and more formal", 150),
                },
                "hint": plain(REJECT_HINT, 2000),
            },
        ],
    }


def _tool_revise_modal(approval: ApprovalRecord, *, metadata: str) -> Block:
    shown = approval.arguments or "{}"
    editable = len(shown) <= INPUT_LIMIT
    intro = (
        f"*Tool call* {tool_label(approval.tool_name)}: edit its arguments below (JSON); the edited call gets a"
        " card of its own to approve. Or leave them and tell the agent what to change: nothing runs."
    )
    blocks: list[Block] = [{"type": "section", "text": mrkdwn(intro)}]
    if approval.schema_error:
        blocks.append(_context(f":warning: Now: {safe(approval.schema_error, 1000)}"))
    if editable:
        blocks.append(
            {
                "type": "input",
                "block_id": ARGUMENTS_BLOCK,
                "label": plain("Arguments (JSON)", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ARGUMENTS_ACTION,
                    "multiline": True,
                    "initial_value": clean(shown),
                    "max_length": INPUT_LIMIT,
                },
            }
        )
    else:
        blocks.append({"type": "section", "text": code_block(shown, label="Arguments (too long to edit here)")})
    blocks.append(
        {
            "type": "input",
            "block_id": FEEDBACK_BLOCK,
            "optional": editable,
            "label": plain("Or: what should the agent change?" if editable else "What should the agent change?", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": FEEDBACK_ACTION,
                "multiline": True,
                "max_length": 3000,
                "placeholder": plain("e.g. Send it to the finance list instead", 150),
            },
            "hint": plain(REJECT_HINT, 2000),
        }
    )
    return {
        "type": "modal",
        "callback_id": REVISE_CALLBACK_ID,
        "private_metadata": metadata,
        "title": plain("Revise the tool call", 24),
        "submit": plain("Send", 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
    }


RUN_STATUS_LINE = {
    "starting": ":hourglass_flowing_sand: starting",
    "running": ":gear: running",
    "waiting": ":raised_hand: waiting for approval",
    "completed": ":white_check_mark: completed",
    "rejected": ":x: rejected",
    "timed_out": ":hourglass: timed out",
    "failed": ":warning: failed",
    "cancelled": ":no_entry_sign: cancelled",
}


def build_run_header_blocks(run: RunRecord) -> list[Block]:
    """The run's header in its origin channel; progress and result go in its thread."""
    status = RUN_STATUS_LINE.get(run.status, run.status)
    if run.ended_by:
        status += f" by {user_ref(run.ended_by)}"
    blocks: list[Block] = [
        _context(
            f"Run `{run.id}` · started by {user_ref(run.requester)} · team `{escape(run.preset)}`"
            + (f" · mode `{escape(run.mode)}`" if run.mode else "")
            + f" · {escape(run.model)}"
        ),
        {"type": "section", "text": untrusted(run.task, label="Task", limit=TASK_LIMIT + 12)},
        _context(f"Status: {status}"),
    ]
    if run.reason and run.final:
        blocks.append({"type": "context", "elements": [untrusted(run.reason, limit=500)]})
    return blocks


def run_fallback_text(run: RunRecord) -> str:
    return f"Run {run.id}: {run.status}"


def build_result_blocks(run: RunRecord, result: str) -> list[Block]:
    """The run's final result in its thread."""
    return [
        {"type": "section", "text": mrkdwn(f"{RUN_STATUS_LINE.get(run.status, run.status)}: run `{run.id}`")},
        {"type": "section", "text": untrusted(result, label="Result", limit=TEXT_LIMIT)},
    ]


def help_text(*, presets: Sequence[str] | Mapping[str, str], modes: Mapping[str, str] = MODE_DESCRIPTIONS) -> str:
    """`/agent help`. `presets`: names, or names and what each team does."""
    if isinstance(presets, Mapping):
        teams = "\n".join(f"  • `{escape(name)}`: {escape(what)}" for name, what in presets.items())
    else:
        teams = "  " + ", ".join(f"`{escape(p)}`" for p in presets)
    return "\n".join(
        [
            "*Start a run*: `/agent <task>`, e.g. `/agent Draft an email to our vendor asking for a 10% discount`",
            "  or `/agent --team NAME --mode MODE <task>`",
            "*See this channel's runs and pending approvals*: `/agent status`",
            "*Cancel a run*: `/agent cancel <run id>`",
            "*Settings*: `/agent config` shows them; `/agent config <key> <value>` changes one:",
            "  • `timeout <duration>`: how long a card waits (90, 90s, 15m, 2h, 1d; 1s to 7d)",
            "  • `timeout_outcome reject|approve`: what a timeout means;"
            " `timeout_approves_tools true|false`: whether approve also covers tool calls and code",
            "  • `approvers anyone|@people @groups`, `required_approvals N`, `allow_self_approval true|false`",
            "  • `approvals_channel #channel`, `admins anyone|@people`",
            "  • `mode MODE`, `max_auto_replies N`, `risk_words a, b, c|default|none`, `checkpoint_every N` (0: off)",
            "*This channel's latest decisions*: `/agent audit`",
            "*Teams* (`--team`):",
            teams,
            "*Input modes* (`--mode`, or the channel's `mode`):",
            *(f"  • `{escape(name)}`: {escape(what)}" for name, what in modes.items()),
            "*Help*: `/agent help`",
        ]
    )


def show_setting(key: str, value: str) -> str:
    """A stored setting value as people read it."""
    if key == "timeout":
        return format_duration(int(value))
    if key in ("approvers", "admins"):
        return people_refs([] if value in ("", "anyone") else value.split(","))
    if key == "approvals_channel":
        return channel_ref(value)
    if key == "risk_words":
        return risk_words_text(risk_words_setting(value))
    if key == "checkpoint_every" and value == "0":
        return "0 (off)"
    return escape(value)


def risk_words_text(words: Sequence[str]) -> str:
    if not words:
        return "none"
    shown = ", ".join(safe(w, 60) for w in words)
    return shown + (" (the default)" if tuple(words) == DEFAULT_RISK_WORDS else "")


def config_text(channel: str, settings: ChannelSettings, *, default_approvals_channel: str) -> str:
    admins = people_refs(settings.admins) if settings.admins else "anyone in the channel"
    return "\n".join(
        [
            f"*Settings of {channel_ref(channel)}* (change one with `/agent config <key> <value>`)",
            f"• `timeout`: {format_duration(settings.timeout)}",
            f"• `timeout_outcome`: {settings.timeout_outcome}",
            f"• `timeout_approves_tools`: {'true' if settings.timeout_approves_tools else 'false'}",
            f"• `approvers`: {people_refs(settings.approvers)}",
            f"• `required_approvals`: {settings.required_approvals}",
            f"• `allow_self_approval`: {'true' if settings.allow_self_approval else 'false'}",
            f"• `approvals_channel`: {channel_ref(settings.approvals_channel or default_approvals_channel)}",
            f"• `admins`: {admins}",
            f"• `mode`: {escape(settings.mode)}",
            f"• `max_auto_replies`: {settings.max_auto_replies}",
            f"• `risk_words`: {risk_words_text(settings.risk_words)}",
            f"• `checkpoint_every`: {settings.checkpoint_every or '0 (off)'}",
        ]
    )


def audit_text(channel: str, entries: Sequence[dict[str, str]]) -> str:
    """`/agent audit`: the channel's latest audit entries, newest first."""
    if not entries:
        return f"No audit entries for {channel_ref(channel)} yet."
    lines = [f"*Latest audit entries for {channel_ref(channel)}*"]
    for entry in entries:
        stamp = date_ref(float(entry.get("at") or 0))
        who = user_ref(entry["by"]) if entry.get("by") else "the bot"
        what = escape(entry.get("event", "?").replace("_", " "))
        detail = [f"{k} {safe(entry[k], 60)}" for k in ("outcome", "reason", "setting", "after") if entry.get(k)]
        run = f" run `{entry['run']}`" if entry.get("run") else ""
        lines.append(f"• {stamp} {what}{run} by {who}" + (f" ({', '.join(detail)})" if detail else ""))
    return "\n".join(lines)


def status_text(channel: str, runs: Sequence[RunRecord], pending: Sequence[ApprovalRecord], *, now: float) -> str:
    if not runs:
        return f"No runs in {channel_ref(channel)} yet. Start one with `/agent <task>`."
    lines = [f"*Runs in {channel_ref(channel)}* (newest first)"]
    for run in runs:
        task = safe(run.task, 80).replace("\n", " ")
        lines.append(f"• `{run.id}` {RUN_STATUS_LINE.get(run.status, run.status)} · {user_ref(run.requester)} · {task}")
    if pending:
        lines.append("*Pending approvals*")
        for approval in pending:
            left = format_duration(approval.deadline - now)
            lines.append(f"• run `{approval.run_id}` in {channel_ref(approval.card_channel)}, times out in {left}")
    else:
        lines.append("No pending approvals.")
    return "\n".join(lines)
