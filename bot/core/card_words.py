"""An approval card's words that no surface owns (pure): the header of a pending card, the title of a decided one,
what a timeout means, a revision's edited arguments as shown, the on-call schedules that could not be read,
each step of its route taken (issue 90) and whether it is parked. Slack's card (bot/slack/blocks/approval_card.py),
Teams' (bot/msteams/cards.py) and the e-mail page say them alike.

    >>> HEADERS["tool_call"], timeout_meaning("approve")
    ('Tool call needs approval', 'approved')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from agent_approvals.approver import parse_revision, pretty_json

from bot.core.reach import NOBODY, SENT, SKIPPED, reached_items
from bot.core.records import ApprovalRecord

HEADERS = {"tool_call": "Tool call needs approval", "code": "Code needs approval to run"}
DECIDED_TITLES = {
    "approved": "Approved",
    "rejected": "Rejected",
    "revised": "Sent back for revision",
    "cancelled": "Cancelled",
}


def timeout_meaning(outcome: str) -> str:
    """What a timeout does, in a word: "approved" for a timeout that approves, else "rejected"."""
    return "approved" if outcome == "approve" else "rejected"


def decided_title(approval: ApprovalRecord) -> str:
    """A decided card's header (plain text, no mention: the line below names who), e.g. "Tool call approved",
    "Code rejected", "Message sent back for revision", "Timed out: rejected"."""
    if approval.status == "timed_out":
        return f"Timed out: {timeout_meaning(approval.timeout_outcome)}"
    what = {"tool_call": "Tool call", "code": "Code"}.get(approval.kind, "Message")
    if approval.status == "revised" and revision_arguments(approval) is not None:
        return f"{what}: arguments edited"
    title = DECIDED_TITLES.get(approval.status, approval.status.replace("_", " "))
    return f"{what} {title[0].lower()}{title[1:]}"


def revision_arguments(approval: ApprovalRecord) -> tuple[str, str] | None:
    """(edited arguments as pretty JSON, note) when a tool call was revised by editing its arguments."""
    if approval.kind != "tool_call" or approval.status != "revised":
        return None
    parsed = parse_revision(approval.feedback)
    return (pretty_json(parsed[0]), parsed[1]) if parsed is not None else None


def oncall_words(approval: ApprovalRecord, fallback: str) -> str:
    """What a card says of the on-call schedules its approvers named that could not be read (issue 90), `fallback`
    being the fallback approvers as the surface names them; "" when every one was read."""
    if not approval.oncall_unread:
        return ""
    which = ", ".join(approval.oncall_unread)
    schedules = "schedules" if len(approval.oncall_unread) > 1 else "schedule"
    if not approval.oncall_fallback:
        return (f"On-call {schedules} {which} could not be read and no fallback approvers are named"
                " (`oncall_fallback`, `admins`): nobody may approve it")
    return f"On-call {schedules} {which} could not be read: sent to the fallback approvers {fallback}"


SURFACE_WORDS = {"slack": "in Slack", "teams": "in Microsoft Teams", "email": "by e-mail", "push": "by push"}


class Names(Protocol):
    """What a surface's `Writing` (bot/approvals/ports.py) gives these words: people and a date, its way."""

    def people(self, ids: Sequence[str], /) -> str: ...

    def date(self, epoch: float, /) -> str: ...


def reach_lines(approval: ApprovalRecord, writing: Names) -> list[str]:
    """Each step of `approval`'s route taken (bot/approvals/reach.py), one line each, in the order taken: "Sent by
    e-mail to bob at 10:42", "Step 2 (push): not configured here, skipped", "Step 3 (oncall:payments): the on-call
    schedule cannot say who is on call now"."""
    lines = []
    for item in reached_items(approval.reached):
        surface, where = str(item.get("surface", "")), str(item.get("where", ""))
        people = [str(p) for p in item.get("people", []) if isinstance(p, str)]
        at = item.get("at")
        when = f" at {writing.date(float(at))}" if isinstance(at, int | float) else ""
        outcome = item.get("outcome")
        how = SURFACE_WORDS.get(surface, surface)
        oncall = f" ({where}: on call now)" if where.startswith("oncall:") else ""
        if item.get("fallback"):  # the on-call provider could not say: the route's fallback approvers
            oncall = f" ({where}: {item.get('why') or 'could not be read'}; the fallback approvers)"
        if outcome == SENT:
            lines.append(f"Sent {how} to {writing.people(people)}{oncall}{when}")
        elif outcome == SKIPPED:
            lines.append(f"Step {item.get('step')} ({where}): {how.removeprefix('in ').removeprefix('by ')} is not"
                         f" configured here, skipped{when}")
        elif outcome == NOBODY:
            lines.append(f"Step {item.get('step')} ({where}): nobody to reach {how}{when}")
        else:
            lines.append(f"Step {item.get('step')} ({where}): unavailable, {item.get('why') or 'not reached'}{when}")
    return lines


def parked_line(approval: ApprovalRecord, writing: Names) -> str:
    """What a parked approval (timeout `never`: it waits until someone decides) says: parked, and who holds it
    (its approvers; "anyone" for none); "" for one that times out."""
    if not approval.pending or not approval.never_times_out:
        return ""
    return f"Never times out: parked, held by {writing.people(list(approval.approvers))} until decided"
