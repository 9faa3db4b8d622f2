"""Approval cards: the pending card with its buttons, and the forms it takes once decided, posted
again elsewhere, or too long to show whole (the full text then goes in the card's thread).

Every text object comes from `bot.slack.blocks.text`: the task, the proposal, tool arguments, code, the
reason and feedback are untrusted and shown inert.
"""

from __future__ import annotations

from typing import Any

from bot.core.card_words import HEADERS, decided_title, revision_arguments, timeout_meaning
from bot.core.durations import format_duration
from bot.core.records import SLACK_ID, ApprovalRecord
from bot.slack.blocks.arguments import arguments_text, parameters_line
from bot.slack.blocks.card_notes import asked_line, notes_blocks
from bot.slack.blocks.changes import change_blocks, change_summary
from bot.slack.blocks.claims import agent_name, claim_line, edited_line, summary_line, task_label
from bot.slack.blocks.nudges import escalated_line, fatigue_line, oncall_line, sla_line
from bot.slack.blocks.rules import ACTION_ALWAYS_ALLOW
from bot.slack.blocks.text import (
    FEEDBACK_LIMIT,
    HEADER_LIMIT,
    NO_NAMES,
    PROPOSAL_LIMIT,
    SHOWN_LIMIT,
    TASK_LIMIT,
    Block,
    Names,
    clean,
    code_block,
    code_text,
    context_block,
    date_ref,
    escape,
    fits,
    mrkdwn,
    people_refs,
    plain,
    safe,
    tool_label,
    untrusted,
    user_ref,
)

ACTION_APPROVE = "approval_approve"
ACTION_TRIAGE_REVERSE = "triage_reverse"  # a channel admin reverses a triage model's held approval (TRIAGE_HOLD)
ACTION_REVEAL = "reveal"  # "Show hidden values": a one-time link to the bot's reveal page (bot/stepup/reveal.py)
ACTION_REJECT = "approval_reject"
ACTION_REVISE = "approval_revise"
ACTION_FULL_TEXT = "approval_full_text"  # button value: approval id -> a modal with the whole proposal
ACTION_DETAILS = "approval_details"  # Details (@require_details): the same modal, its opening noted (issue 80)
def _cut_note(approval: ApprovalRecord) -> Block:
    what = {"tool_call": "The arguments are", "code": "The code is"}.get(approval.kind, "The proposal is")
    return context_block(
        f":scissors: {what} {len(approval.proposal):,} characters; the card shows the start."
        " The full text is attached in this card's thread."
    )


def _approval_body(approval: ApprovalRecord, *, pages: str = "") -> list[Block]:
    author = agent_name(approval)  # (a program's agent's name for itself: quoted, its words)
    asked = asked_line(approval)
    blocks: list[Block] = [
        context_block(asked),
        {"type": "section", "text": untrusted(approval.task, label=task_label(approval), limit=TASK_LIMIT + 30)},
    ]
    said = [line for line in (summary_line(approval), edited_line(approval)) if line]
    blocks.extend(context_block(line) for line in said)
    if approval.kind == "tool_call":
        blocks.append({"type": "section", "text": mrkdwn(f"{item_summary(approval)} from {escape(author)}")})
        blocks.append({"type": "section", "text": proposal_text(approval)})
        parameters = parameters_line(approval.arguments_schema)
        if parameters:
            blocks.append(context_block(parameters))
        if approval.hidden:
            blocks.append(context_block(hidden_line(approval)))
        if approval.edited_by:
            blocks.append(context_block(f":pencil2: Arguments edited by {user_ref(approval.edited_by)}"))
        if approval.fixed_arguments:
            blocks.append(context_block(FIXED_ARGUMENTS))
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
    else:
        blocks.append({"type": "section", "text": proposal_text(approval)})
        if approval.kind == "message":
            blocks.append(context_block(MESSAGE_TURN))
    if proposal_is_cut(approval.proposal):
        blocks.append(_cut_note(approval))
    if approval.claim:
        blocks.append(context_block(claim_line(approval)))
    blocks.extend(change_blocks(approval, pages=pages))
    blocks += notes_blocks(approval)
    return blocks


MESSAGE_TURN = (
    ":speech_balloon: The agent's message at its turn in the conversation, not a tool call: approving lets it"
    " stand, Revise answers the agent. “Always allow” rules cover tool calls only, so a message is always asked."
)

FIXED_ARGUMENTS = (
    ":lock: The asking agent's framework runs only the call as made: approve or reject it; Revise sends"
    " feedback, with no edit of the arguments."
)


def item_summary(approval: ApprovalRecord) -> str:
    """What an approval asks for, in fixed words (and a tool name cut to the characters tool names use):
    "*Tool call* `send_email`", "*Code to run*" or "*Message*", and the change it makes when it carries artefacts
    ("*Tool call* `edit_file` · +12 −3 in 2 files": the same words on the card, a Home row and a DM)."""
    change = change_summary(approval)
    if approval.kind == "tool_call":
        what = f"*Tool call* {tool_label(approval.tool_name)}"
    else:
        what = "*Code to run*" if approval.kind == "code" else "*Message*"
    return f"{what} · {escape(change)}" if change else what


def proposal_text(approval: ApprovalRecord, *, limit: int | None = None) -> dict[str, Any]:
    """What is decided, as the card shows it: a tool call's arguments in a code block, code as the agent
    wrote it, a message as inert text; cut to `limit` characters (by default the card's own limits)."""
    author = agent_name(approval)
    if approval.kind == "tool_call":
        shown = arguments_text(approval.arguments or approval.proposal, limit=limit or SHOWN_LIMIT)
        if shown is not None:
            return shown[0]
        return code_block(approval.arguments or approval.proposal, label="Arguments", limit=limit or SHOWN_LIMIT)
    if approval.kind == "code":
        return code_text(approval.proposal, label=f"Code to run, from {author}", limit=limit or SHOWN_LIMIT)
    return untrusted(approval.proposal, label=f"Proposal from {author}", limit=limit or PROPOSAL_LIMIT)


def shows_whole(approval: ApprovalRecord, limit: int = SHOWN_LIMIT) -> bool:
    """Whether the card's `proposal_text(approval, limit=limit)` shows the whole proposal."""
    if approval.kind == "tool_call":
        shown = arguments_text(approval.arguments or approval.proposal, limit=limit)
        if shown is not None:
            return not shown[1]
    return fits(approval.arguments or approval.proposal, limit)


def proposal_is_cut(proposal: str) -> bool:
    """Whether the card cannot show the whole proposal (then the full text goes in the card's thread)."""
    return not fits(proposal, PROPOSAL_LIMIT - 60)


def _who_decides(approval: ApprovalRecord, names: Names) -> Block | None:
    parts: list[str] = []
    if approval.approvers:
        parts.append(f"Who may decide: {people_refs(approval.approvers, names)}")
    parts.extend(line for line in (say(approval, names) for say in (quorum_line, escalated_line, fatigue_line,
                                                                      oncall_line)) if line)
    return context_block(" · ".join(parts)) if parts else None


def quorum_line(approval: ApprovalRecord, names: Names = NO_NAMES) -> str:
    """How far a quorum is, e.g. "*1 of 2 approvals*: @bob" ("" when one approval decides)."""
    if approval.required_approvals <= 1:
        return ""
    voters = approval.voters
    line = f"*{len(voters)} of {approval.required_approvals} approvals*"
    return line + (": " + ", ".join(voter_ref(approval, v, names) for v in voters) if voters else "")


def voter_ref(approval: ApprovalRecord, voter: str, names: Names = NO_NAMES) -> str:
    """A voter, or "@bob for @alice" when a delegate voted for them."""
    through = approval.voted_through(voter)
    return f"{user_ref(through, names)} for {user_ref(voter, names)}" if through else user_ref(voter, names)


def deadline_line(approval: ApprovalRecord) -> str:
    """When it times out and what that means, or since when it waits for one that never does."""
    if approval.never_times_out:
        return f":hourglass_flowing_sand: Never times out (waiting since {date_ref(approval.created_at)})"
    return (
        f":hourglass_flowing_sand: Times out {date_ref(approval.deadline)}"
        f" (after {format_duration(approval.timeout_seconds)}): then {timeout_meaning(approval.timeout_outcome)}"
    )


SHARED_LINE = (
    ":globe_with_meridians: This channel is shared with other organizations: only people of this workspace"
    " (and teams an admin allowed) may decide; others' clicks are refused and audited"
)


def build_approval_blocks(approval: ApprovalRecord, *, shared: bool = False, frozen: str = "",
                          pages: str = "", names: Names = NO_NAMES) -> list[Block]:
    """The pending card: who asked, from where, the task, the proposal (or the tool call and its
    arguments, or the code), the deadline, the buttons (and, for a quorum, the approvals so far).
    Approve (and Approve & always allow) is not offered for a tool call whose arguments fail the tool's
    schema. `shared`: the card is in a channel shared with other organizations (Slack Connect), which it says.
    `frozen`: its scope is frozen (`/agent freeze`), in the freeze's words: the card says Approve is refused.
    `pages`: the bot's pages' base URL, for the link to the whole change of an ask with artefacts. `names`: the
    Teams-only people it names, by name (`CardService.names`; `user_ref` shows them), here and in the decided forms."""
    who = _who_decides(approval, names)
    return [
        {"type": "header", "text": plain(HEADERS.get(approval.kind, "Approval needed"), HEADER_LIMIT)},
        *_approval_body(approval, pages=pages),
        *([who] if who else []),
        *([context_block(f":octagonal_sign: {safe(frozen, 400)}: Approve is refused until it is unfrozen;"
                         " Reject still works")] if frozen else []),
        *([context_block(SHARED_LINE)] if shared else []),
        context_block(deadline_line(approval)),
        *([context_block(sla_line(approval))] if approval.sla_seconds > 0 else []),
        {
            "type": "actions",
            "block_id": f"approval_actions_{len(approval.voters)}",
            "elements": card_buttons(approval),
        },
    ]


def card_buttons(approval: ApprovalRecord) -> list[Block]:
    """The card's buttons (in the channel and in its copies in direct messages): the decision buttons, and
    *Approve & always allow* after Approve on a tool call whose arguments pass the tool's schema (it opens
    the rule modal; not on code, not on messages, not on a call that needs step-up or holds hidden values, and not on
    the App Home, where no card is bound)."""
    buttons = (decision_buttons(approval) + show_details(approval) + show_all(approval) + show_hidden(approval)
               + show_reverse(approval))
    if approval.kind != "tool_call" or approval.schema_error or not approval.tool_name or approval.step_up:
        return buttons  # (no rule approves what needs step-up)
    if approval.hidden:  # (a rule matches exact values: these are not kept in the clear to match on)
        return buttons
    always = button("Approve & always allow", ACTION_ALWAYS_ALLOW, approval.id)
    return [buttons[0], always, *buttons[1:]]


def show_reverse(approval: ApprovalRecord) -> list[Block]:
    """Reverse, while a triage model's approval is held (TRIAGE_HOLD, bot/approvals/triage_hold.py): its channel's
    admins only (checked on the click)."""
    if approval.pending and approval.triage_hold and not approval.triage_reversed:
        return [button("Reverse the model's approval", ACTION_TRIAGE_REVERSE, approval.id, style="danger")]
    return []


def show_hidden(approval: ApprovalRecord) -> list[Block]:
    """*Show hidden values* when values of a tool call's arguments are hidden (bot/redaction/hiding.py: marked by its
    schema, named by the policy's `redact:`, found by the detectors); else nothing. The values are shown only on the
    bot's page, after Sign in with Slack."""
    return [button("Show hidden values", ACTION_REVEAL, approval.id)] if approval.hidden_items else []


def hidden_line(approval: ApprovalRecord) -> str:
    """":lock: 3 values hidden (…)": how many of the arguments' values the card does not show, or ''."""
    count = len(approval.hidden_items)
    if not count:
        return ""
    return f":lock: {count} value{'s' if count > 1 else ''} hidden: shown by kind, never in Slack"


def show_details(approval: ApprovalRecord) -> list[Block]:
    """*Details* on a pending approval whose policy says @require_details (the whole proposal in a modal, with a
    link to its page); else nothing."""
    return [button("Details", ACTION_DETAILS, approval.id)] if approval.require_details and approval.pending else []


def show_all(approval: ApprovalRecord) -> list[Block]:
    """*Show all* (the full-text modal) when the card cuts the proposal; else nothing."""
    return [] if shows_whole(approval) else [button("Show all", ACTION_FULL_TEXT, approval.id)]


def decision_buttons(approval: ApprovalRecord) -> list[Block]:
    """Approve (not offered when a tool call's arguments fail the tool's schema), Reject (it opens a modal
    for an optional reason, so it asks no confirmation of its own) and Revise; each button's value is the
    approval id."""
    approve = [] if approval.schema_error else [button("Approve", ACTION_APPROVE, approval.id, style="primary")]
    return [
        *approve,
        button("Reject", ACTION_REJECT, approval.id, style="danger"),
        button("Revise", ACTION_REVISE, approval.id),
    ]


def button(text: str, action_id: str, value: str, *, style: str | None = None, confirm: Block | None = None) -> Block:
    """A button labelled `text` (fixed words) that sends `value` with `action_id`."""
    made: Block = {"type": "button", "text": plain(text, 75), "action_id": action_id, "value": value}
    if style:
        made["style"] = style
    if confirm:
        made["confirm"] = confirm
    return made


def decision_line(approval: ApprovalRecord, names: Names = NO_NAMES) -> str:
    """One line saying what happened to an approval, e.g. "Approved by @bob, 42s after the request"."""
    who = user_ref(approval.decided_by, names)
    if approval.decided_by.startswith("model:"):  # a triage model (#92): never a person
        who = f"the triage model ({escape(clean(approval.decided_by.removeprefix('model:')))})"
    if approval.on_behalf:
        who += f" for {user_ref(approval.on_behalf, names)}"
    if approval.status == "approved" and len(approval.voters) > 1:
        refs = [voter_ref(approval, v, names) for v in approval.voters]
        who = ", ".join(refs[:-1]) + " and " + refs[-1]
    after = format_duration(max(0.0, approval.decided_at - approval.created_at))
    if approval.status == "approved":
        return f":white_check_mark: *Approved* by {who}, {after} after the request"
    if approval.status == "rejected":
        return f":x: *Rejected* by {who}, {after} after the request"
    if approval.status == "revised" and revision_arguments(approval) is not None:
        return f":pencil2: *Arguments edited* by {who}, {after} after the request; the edited call needs approval"
    if approval.status == "revised":
        return f":pencil2: *Sent back for revision* by {who}, {after} after the request"
    if approval.status == "timed_out":
        meaning = timeout_meaning(approval.timeout_outcome)
        return f":hourglass: *Timed out*: no decision within {format_duration(approval.timeout_seconds)}, so {meaning}"
    if approval.status == "cancelled":
        by = f" by {who}" if SLACK_ID.fullmatch(approval.decided_by) else ""
        return f":no_entry_sign: *Cancelled*{by}"
    return ":hourglass_flowing_sand: Waiting for a decision"


def build_outcome_blocks(approval: ApprovalRecord, *, tell: bool = True,
                         names: Names = NO_NAMES) -> tuple[str, list[Block]]:
    """The decision told to whoever asked (in the run's thread, or a direct message for a program's requester):
    a mention of the requester (when `tell`, and someone else decided), what was decided, by whom, and the
    reason, feedback or edited arguments. Returns (notification text: fixed words, ids and mentions only; blocks)."""
    line = decision_line(approval, names)
    requester = approval.requester
    if tell and SLACK_ID.fullmatch(requester) and requester != approval.decided_by:
        line = f"{user_ref(requester)} {line}"
    what = f"{item_summary(approval)}" + (f" · run `{approval.run_id}`" if approval.run_id else "")
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(line)},
        context_block(what),
    ]
    edit = revision_arguments(approval)
    if edit is not None:
        shown = arguments_text(edit[0], limit=FEEDBACK_LIMIT)
        blocks.append({"type": "section", "text": shown[0] if shown else code_block(edit[0], limit=FEEDBACK_LIMIT)})
    elif approval.feedback.strip() and approval.status in ("approved", "rejected", "revised"):
        label = {"revised": "Feedback", "rejected": "Reason"}.get(approval.status, "Comment")
        blocks.append({"type": "section", "text": untrusted(approval.feedback, label=label, limit=FEEDBACK_LIMIT)})
    return line, blocks


def build_replaced_blocks(approval: ApprovalRecord, *, pages: str = "") -> list[Block]:
    """An extra card of a still pending approval (its worker died between posting it and noting it,
    and another worker posted it again): no buttons, and where to decide."""
    return [
        {"type": "header", "text": plain("Approval posted again", HEADER_LIMIT)},
        *_approval_body(approval, pages=pages),
        {"type": "section", "text": mrkdwn("This request was posted again in this channel: decide on the newer card.")},
    ]


def build_decided_blocks(approval: ApprovalRecord, *, pages: str = "", names: Names = NO_NAMES) -> list[Block]:
    """The card after its decision: same content (`pages`: as the pending card's), no buttons, and what was
    decided."""
    blocks: list[Block] = [
        {"type": "header", "text": plain(decided_title(approval), HEADER_LIMIT)},
        *_approval_body(approval, pages=pages),
        {"type": "section", "text": mrkdwn(decision_line(approval, names))},
    ]
    more = show_all(approval)
    if more:
        blocks.append({"type": "actions", "block_id": "decided_actions", "elements": more})
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


def approval_fallback_text(approval: ApprovalRecord) -> str:
    """Notification text: fixed words and ids only, never untrusted text."""
    if approval.pending:
        return f"Approval needed for run {approval.run_id}"
    return f"Approval for run {approval.run_id}: {approval.status.replace('_', ' ')}"


def build_not_taken_blocks(approval: ApprovalRecord, why: str) -> tuple[str, list[Block]]:
    """In a program's card's thread: the decision reached the program's relay, which said its workflow did not
    take it (`why`, the relay's words: untrusted). Nothing ran on this decision (the bot checked it was not used)."""
    said = "approved" if approval.status == "approved" else approval.status.replace("_", " ")
    text = f"The workflow did not take this decision ({said}): nothing ran."
    return text, [
        {"type": "section", "text": mrkdwn(f":warning: {text}")},
        {"type": "context", "elements": [untrusted(why or "the relay gave no reason", label="Its relay said")]},
    ]
