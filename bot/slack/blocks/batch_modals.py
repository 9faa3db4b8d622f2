"""Deciding several approvals at once from the App Home: the modal to choose up to `BATCH_LIMIT` of those
waiting for a person and one decision for all (Approve, or Reject with an optional reason), the confirmation
showing exactly what will be decided (and, apart, what will not and why), and the result of what was. The block
and action ids below are read back by `bot.slackapp.listeners.home` when a modal is submitted; proposals, arguments,
code and reasons are untrusted and made inert by `bot.slack.blocks.text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.core.durations import format_duration
from bot.core.records import APPROVAL_ID, ApprovalRecord
from bot.slack.blocks.approval_card import item_summary, proposal_text, quorum_line
from bot.slack.blocks.decision_modals import WHOLE, reason_input
from bot.slack.blocks.home import asked_line, packed_sections, run_code
from bot.slack.blocks.text import (
    TEXT_LIMIT,
    Block,
    clean,
    context_block,
    modal,
    mrkdwn,
    plain,
    safe,
    tool_label,
    untrusted,
)

BATCH_LIMIT = 25  # approvals decided at once
BATCH_OPTIONS = 100  # approvals offered in the batch modal (a multi-select holds 100 options)
BATCH_CALLBACK_ID = "home_batch_modal"
BATCH_SELECT_BLOCK = "batch_select"
BATCH_SELECT_ACTION = "batch_select_input"
BATCH_OUTCOME_BLOCK = "batch_outcome"
BATCH_OUTCOME_ACTION = "batch_outcome_input"  # option values "approved" / "rejected"
BATCH_REASON_BLOCK = "batch_reason"
BATCH_REASON_ACTION = "batch_reason_input"
BATCH_CONFIRM_CALLBACK_ID = "home_batch_confirm"
BATCH_OUTCOMES = {"approved": "Approve", "rejected": "Reject"}
CONFIRM_MESSAGE_SHOWN = 1000  # a message's proposal in the confirmation (arguments and code are shown whole)
LEFT_OUT_SECTIONS = 15


def build_batch_modal(
    waiting: Sequence[ApprovalRecord], *, now: float, metadata: str, names: Mapping[str, str] | None = None
) -> Block:
    """ "Decide several": choose up to 25 of the approvals waiting for this person (the 100 oldest are
    offered), Approve or Reject, and a reason for Reject; submitting shows exactly what will be decided
    before anything is. `names`: the requesters' names by id, where Slack told them."""
    offered = list({a.id: a for a in waiting if APPROVAL_ID.fullmatch(a.id)}.values())[:BATCH_OPTIONS]
    blocks: list[Block] = [
        {
            "type": "section",
            "text": mrkdwn(
                f"Choose up to {BATCH_LIMIT} approvals and one decision for all of them. Next you see exactly"
                " what will be decided: nothing is decided before you confirm."
            ),
        }
    ]
    if len(waiting) > BATCH_OPTIONS:
        blocks.append(context_block(f"{len(waiting):,} wait for you: the {BATCH_OPTIONS} oldest are listed."))
    view = modal("Decide several", blocks, callback_id=BATCH_CALLBACK_ID, metadata=metadata)
    if not offered:
        blocks.append({"type": "section", "text": mrkdwn("Nothing waits for you right now.")})
        return view
    blocks.extend(_batch_inputs(offered, now=now, names=names or {}))
    view["submit"] = plain("Review", 24)
    return view


def _batch_inputs(offered: Sequence[ApprovalRecord], *, now: float, names: Mapping[str, str]) -> list[Block]:
    """Which approvals (a multi-select), Approve or Reject (Approve first), and an optional reason."""
    approve, reject = ({"text": plain(word, 75), "value": value} for value, word in BATCH_OUTCOMES.items())
    return [
        {
            "type": "input",
            "block_id": BATCH_SELECT_BLOCK,
            "label": plain("Approvals", 2000),
            "element": {
                "type": "multi_static_select",
                "action_id": BATCH_SELECT_ACTION,
                "placeholder": plain("Choose approvals", 150),
                "max_selected_items": BATCH_LIMIT,
                "options": [
                    {"text": plain(option_text(a, now=now, name=names.get(a.requester, "")), 75), "value": a.id}
                    for a in offered
                ],
            },
        },
        {
            "type": "input",
            "block_id": BATCH_OUTCOME_BLOCK,
            "label": plain("Decision", 2000),
            "element": {
                "type": "radio_buttons",
                "action_id": BATCH_OUTCOME_ACTION,
                "options": [approve, reject],
                "initial_option": approve,
            },
        },
        reason_input(
            BATCH_REASON_BLOCK,
            BATCH_REASON_ACTION,
            hint="Only used when you reject: the agents, the cards and the audit log get it.",
        ),
    ]


def option_text(approval: ApprovalRecord, *, now: float, name: str = "") -> str:
    """An approval in a few plain words (an option is plain text: no mention), e.g.
    "send_email: Tell bob about prices · alice · 5m ago": the tool (or code, or message), the task's start, the
    requester's name (`name`, else their id) and the age (the caller cuts it to an option's 75 characters)."""
    if approval.kind == "tool_call":
        what = tool_label(approval.tool_name).strip("`")[:30]
    else:
        what = "code" if approval.kind == "code" else "message"
    if approval.schema_error:
        what += " (reject only)"
    ago = format_duration(now - approval.created_at)
    who = " ".join(clean(name).split())[:24] or clean(approval.requester)[:24]
    tail = f" · {who} · {ago} ago"
    task = " ".join(clean(approval.task).split())
    room = 75 - len(what) - len(tail) - 2
    if room >= 8 and task:
        what += ": " + (task if len(task) <= room else task[: room - 1].rstrip() + "…")
    return what + tail


def fits_in_confirmation(approval: ApprovalRecord) -> bool:
    """Whether the confirmation can show what a decision covers whole in one section: a tool call's
    arguments, or code (a message always fits: its text may be cut there)."""
    if approval.kind not in ("tool_call", "code"):
        return True
    return len(proposal_text(approval, limit=WHOLE)["text"]) <= TEXT_LIMIT


def left_out_reason(approval: ApprovalRecord, *, outcome: str) -> str | None:
    """Why an approval cannot be decided with others (fixed words, for `build_batch_confirm`'s
    `left_out`), or None when it can."""
    if outcome == "approved" and approval.schema_error:
        return "its arguments do not match the tool's schema: reject or revise it on its own"
    if outcome == "approved" and approval.step_up:
        return "approving it needs your passkey: approve it on its own, from its card or your Home"
    if not fits_in_confirmation(approval):
        what = "arguments are" if approval.kind == "tool_call" else "code is"
        return f"its {what} too long to show here: decide it on its own"
    return None


def build_batch_confirm(
    chosen: Sequence[ApprovalRecord],
    *,
    outcome: str,
    reason: str,
    left_out: Sequence[tuple[ApprovalRecord, str]],
    metadata: str,
) -> Block:
    """The confirmation: exactly what will be decided, each approval with what it is and its whole
    arguments or code (a message's text may be cut), the reason when rejecting, and apart, what will
    not be decided and why. Submit says what happens ("Approve 3").

    Raises ValueError for an outcome other than "approved" or "rejected", more than `BATCH_LIMIT`
    approvals, or one that `left_out_reason` refuses (the caller puts those in `left_out`)."""
    verb = BATCH_OUTCOMES.get(outcome)
    if verb is None:
        raise ValueError(f"outcome must be approved or rejected, not {outcome[:20]!r}")
    if len(chosen) > BATCH_LIMIT:
        raise ValueError(f"at most {BATCH_LIMIT} approvals are decided at once, not {len(chosen)}")
    for approval in chosen:
        refused = left_out_reason(approval, outcome=outcome)
        if refused:
            raise ValueError(f"approval {approval.id[:64]} cannot be confirmed with others: {refused}")
    blocks = _confirm_intro(len(chosen), verb=verb, reason=reason if outcome == "rejected" else None)
    for number, approval in enumerate(chosen, 1):
        blocks.extend(_confirm_item(number, approval))
    if left_out:
        blocks.extend(_left_out_blocks(left_out))
    view = modal("Confirm", blocks, callback_id=BATCH_CONFIRM_CALLBACK_ID, metadata=metadata)
    if chosen:
        view["submit"] = plain(f"{verb} {len(chosen)}", 24)
    return view


def _confirm_intro(count: int, *, verb: str, reason: str | None) -> list[Block]:
    """What will happen, and the reason (when rejecting)."""
    if not count:
        return [{"type": "section", "text": mrkdwn("None of the approvals you chose can be decided here.")}]
    what = "this approval" if count == 1 else f"these {count} approvals"
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(f"*{verb} {what}?* Only what is listed here is decided.")}
    ]
    if reason is not None and reason.strip():
        blocks.append({"type": "section", "text": untrusted(reason, label="Reason", limit=TEXT_LIMIT)})
    elif reason is not None:
        blocks.append(context_block("No reason given."))
    return blocks


def _confirm_item(number: int, approval: ApprovalRecord) -> list[Block]:
    """One approval in 3 blocks: what it is, what the decision covers (whole, but a message's text), a divider."""
    limit = WHOLE if approval.kind in ("tool_call", "code") else CONFIRM_MESSAGE_SHOWN
    return [
        {"type": "section", "text": mrkdwn(f"*{number}.* {asked_line(approval)}")},
        {"type": "section", "text": proposal_text(approval, limit=limit)},
        {"type": "divider"},
    ]


def _left_out_blocks(left_out: Sequence[tuple[ApprovalRecord, str]]) -> list[Block]:
    lines = [f"*Not included, and not decided ({len(left_out):,})*"]
    lines.extend(f"• {asked_line(approval)}: {safe(why, 300)}" for approval, why in left_out)
    return packed_sections(lines, most=LEFT_OUT_SECTIONS)


# --------------------------------------------------------------------------------------------------- Batch result

RESULT_SECTIONS = 60
_DONE = {  # a status a batch leaves, and how its group is headed
    "approved": "*Approved {n}*",
    "rejected": "*Rejected {n}*",
    "pending": "*Approval counted on {n}*: more approvals are needed",
}


def build_batch_result(decided: Sequence[ApprovalRecord], refused: Sequence[tuple[str, str]]) -> Block:
    """What a batch did: the approvals decided, by outcome ("Approved 19", one line each: kind or tool,
    run), and those that were not, with why (`refused`: (label, reason) pairs the caller made of fixed
    words, shown inert all the same)."""
    others = dict.fromkeys(a.status for a in decided if a.status not in _DONE)  # timed out or cancelled meanwhile
    headings: dict[str, str] = {
        **_DONE,
        **{status: f"*{status.replace('_', ' ').capitalize()} {{n}}*" for status in others},
    }
    lines: list[str] = []
    for status, heading in headings.items():
        group = [a for a in decided if a.status == status]
        if group:
            lines.append(heading.format(n=len(group)))
            lines.extend(_result_line(a) for a in group)
    if refused:
        lines.append(f"*Not decided {len(refused)}*")
        lines.extend(f"• {safe(label, 200)}: {safe(why, 300)}" for label, why in refused)
    return modal("Batch decided", packed_sections(lines or ["Nothing was decided."], most=RESULT_SECTIONS),
                 close="Close")


def _result_line(approval: ApprovalRecord) -> str:
    quorum = quorum_line(approval) if approval.pending else ""
    return f"• {item_summary(approval)} · run {run_code(approval.run_id)}" + (f" ({quorum})" if quorum else "")
