"""What reminders and escalations say in a card's thread (and in the direct messages holding its copies), and the
card's notes of its service level, of the approvers it was not sent to (fatigue) and of the on-call schedules that could
not be read (issue 90).

Only fixed words, ids and times: the approval's own texts (task, proposal) are on the card above.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from bot.core.card_words import oncall_words
from bot.core.durations import format_duration
from bot.core.fatigue import held_until, passed_over
from bot.core.records import ApprovalRecord
from bot.core.service_levels import at_risk_after, state_of
from bot.slack.blocks.text import NO_NAMES, Names, date_ref, message_link, people_refs, safe, user_ref


def who_may_decide(mentions: Sequence[str], delegated: Mapping[str, str], names: Names = NO_NAMES) -> str:
    """ "@alice, @bob (for @carol) or @team" ("" for nobody); `names`: `user_ref`'s (Teams-only people by name)."""
    refs = [user_ref(m, names) + f" (for {user_ref(delegated[m], names)})" if m in delegated
            else people_refs([m], names) for m in mentions]
    if not refs:
        return ""
    return refs[0] if len(refs) == 1 else ", ".join(refs[:-1]) + " or " + refs[-1]


def time_left(approval: ApprovalRecord, now: float) -> str:
    """ "It times out in 45m (then rejected)." or "It never times out." """
    if approval.never_times_out:
        return "It never times out."
    then = "approved" if approval.timeout_outcome == "approve" else "rejected"
    return f"It times out in {format_duration(approval.deadline - now)}, {date_ref(approval.deadline)} (then {then})."


def reminder_text(
    approval: ApprovalRecord, *, number: int, mentions: Sequence[str], delegated: Mapping[str, str], now: float,
    names: Names = NO_NAMES,
) -> str:
    """A reminder, e.g. ":alarm_clock: Reminder 1 of 2: this approval has waited 15m. @alice or @bob
    may decide. It times out in 45m, ... (then rejected)."""
    of = f" {number} of {len(approval.remind)}" if len(approval.remind) > 1 else ""
    waited = format_duration(now - approval.created_at)
    who = who_may_decide(mentions, delegated, names)
    asked = f" {who} may decide." if who else " Anyone may decide." if not approval.approvers else ""
    votes = ""
    if approval.required_approvals > 1:
        votes = f" {len(approval.voters)} of {approval.required_approvals} approvals so far."
    return f":alarm_clock: *Reminder{of}*: this approval has waited {waited}.{asked}{votes} {time_left(approval, now)}"


def escalation_text(approval: ApprovalRecord, *, mentions: Sequence[str], delegated: Mapping[str, str],
                    names: Names = NO_NAMES) -> str:
    """ ":arrow_double_up: Escalated to @oncall after 30m: nobody has decided, so they may decide too."""
    line = (
        f":arrow_double_up: *Escalated* to {people_refs(approval.escalate_to, names)} after"
        f" {format_duration(approval.escalate_after)}: nobody has decided yet, so they may decide too."
    )
    others = [m for m in mentions if m not in approval.escalate_to]
    if others:
        line += f" Still asked: {who_may_decide(others, delegated, names)}."
    return line


def escalated_line(approval: ApprovalRecord, names: Names = NO_NAMES) -> str:
    """The card's note, e.g. "Escalated to @oncall after 30m" ("" when not escalated); `names`: `user_ref`'s."""
    if not approval.escalated_at:
        return ""
    after = format_duration(approval.escalate_after)
    return f":arrow_double_up: Escalated to {people_refs(approval.escalate_to, names)} after {after}"


def sla_line(approval: ApprovalRecord) -> str:
    """Its service level as its card, Home row and `/agent status` say it ("" without one), by the state last told
    (bot/core/service_levels.py): ":large_green_circle: Service level 15m: within, at risk <date>" /
    ":warning: *At risk*: ..." / ":red_circle: *Service level breached*: ..."."""
    if approval.sla_seconds <= 0:
        return ""
    sla = format_duration(approval.sla_seconds)
    due = date_ref(approval.created_at + approval.sla_seconds)
    if approval.sla_state == "breached":
        return f":red_circle: *Service level breached*: {sla} is over (it was due {due}); nobody has decided yet"
    if approval.sla_state == "at_risk":
        return f":warning: *At risk*: 80 % of its service level ({sla}) is gone; it is breached {due}"
    at_risk = date_ref(approval.created_at + at_risk_after(approval.sla_seconds))
    return f":large_green_circle: Service level {sla}: within (at risk {at_risk}, due {due})"


def sla_word(approval: ApprovalRecord) -> str:
    """ "within", "at risk" or "breached" ("" without a service level)."""
    return "" if approval.sla_seconds <= 0 else state_of(approval.sla_state).replace("_", " ")


def fatigue_line(approval: ApprovalRecord, names: Names = NO_NAMES) -> str:
    """Who it was not sent to, being over the channel's `max_asks_per_hour` (bot/approvals/fatigue.py), "" when
    nobody: ":arrows_counterclockwise: Sent to @bob: @ana has had 30 cards this hour", or that it is held for them all
    until the next hour (HH:00 UTC), nobody under it being left."""
    how, over = passed_over(approval.fatigue)
    if not over:
        return ""
    had = ", ".join(f"{user_ref(person, names)} has had {count} cards this hour" for person, count in over.items())
    if how == "waiting":
        at = time.strftime("%H:00", time.gmtime(held_until(approval)))
        deciders = [a for a in approval.approvers if a != approval.requester or approval.allow_self_approval]
        why = ("every approver is over their budget" if all(d in over for d in deciders)
               else "too few approvers are under their budget for its quorum")
        return (f":hourglass: Held for the next hour: {why} ({had}; `max_asks_per_hour`). They will be sent it"
                f" together at {at} UTC")
    return f":arrows_counterclockwise: Sent to {people_refs(approval.approvers, names)}: {had}"


def oncall_line(approval: ApprovalRecord, names: Names = NO_NAMES) -> str:
    """The on-call schedules its approvers named that could not be read (bot/approvals/oncall.py), "" when none:
    ":warning: On-call schedule payments could not be read: sent to the fallback approvers @ana", or that nobody
    may approve it (no fallback approver named)."""
    said = oncall_words(approval, people_refs(approval.oncall_fallback, names))  # (schedules: [A-Za-z0-9_.-] only)
    return f":warning: {said}" if said else ""


HELD_EVENT = "hitl_fatigue_batch"  # the metadata of a batch of approvals held for the next hour: {hour, approvals}


def held_batch_text(approvals: Sequence[ApprovalRecord], links: Sequence[str], *, now: float) -> str:
    """One person's batch at the hour (bot/approvals/fatigue.py): the approvals held for them while every approver
    was over `max_asks_per_hour`, each a link to its card (fixed words, ids and times only)."""
    at = time.strftime("%H:00", time.gmtime(now // 3600 * 3600))
    lines = [f":inbox_tray: *{len(approvals)} approval{'s' if len(approvals) != 1 else ''} held for you* until"
             f" {at} UTC, every approver having been over their budget (`max_asks_per_hour`):"]
    for approval, link in zip(approvals, links, strict=True):
        label = f"{approval.tool_name or 'approval'} ({approval.id})"[:120]
        shown = message_link(link, label) if link else safe(label, 200)
        lines.append(f"• {shown}, asked by {user_ref(approval.requester)}")
    return "\n".join(lines)
