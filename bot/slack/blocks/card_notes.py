"""An approval card's lines around the change (bot/slack/blocks/approval_card.py builds the card): who asked and
where, and the notes under the change (why, the policy that routed it, the triage model's reading, what approving
needs, its change ticket, its route's steps, who saw its hidden values); and `Said`, people and dates as the card
writes them for the core's words (bot/core/card_words.py). Untrusted text goes through `bot.slack.blocks.text`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.attestations import SCOPE
from bot.core.card_words import reach_lines
from bot.core.oversight import DETAILS_WORDS
from bot.core.records import SLACK_ID, ApprovalRecord
from bot.core.ticket_refs import TicketRef, ticket_ref
from bot.slack.blocks.claims import workflow_part
from bot.slack.blocks.text import (
    NO_NAMES,
    Block,
    Names,
    channel_ref,
    clean,
    context_block,
    date_ref,
    escape,
    link,
    people_refs,
    untrusted,
    user_ref,
)


@dataclass(frozen=True, slots=True)
class Said:
    """People and dates as the card writes them, for the core's words (bot/core/card_words.py)."""

    names: Names = field(default_factory=lambda: NO_NAMES)

    def people(self, ids: Sequence[str], /) -> str:
        return people_refs(ids, self.names)

    def date(self, epoch: float, /) -> str:
        return date_ref(epoch)


SAID = Said()


def reach_blocks(approval: ApprovalRecord) -> list[Block]:
    """Each step of its route taken (issue 90), a line each, in the core's words."""
    return [context_block(":outbox_tray: " + line) for line in reach_lines(approval, SAID)]


def attest_line(scopes: tuple[str, ...]) -> str:
    """What a card needing attestations says (each scope as its command names it: checked ids and names)."""
    named = ", ".join(f"<#{scope[8:]}>" if scope.startswith("channel:") else f"`{escape(scope[7:])}`"
                      for scope in scopes if SCOPE.fullmatch(scope))
    return (f":memo: Approving or revising needs your current attestation to the brief of {named}"
            " (`/agent attest`); Reject does not")


DETAILS_LINE = (
    f":mag: {DETAILS_WORDS}: a policy counts an Approve only from someone who opened them (Details, Show all,"
    " Reject or Revise, or the approval's page)"
)
STEP_UP_LINE = (
    ":closed_lock_with_key: Approving needs your passkey: Approve sends you a one-time link to confirm this exact"
    " action (Reject does not)"
)


def ticket_line(ticket: TicketRef) -> str:
    """The card's line of an approval's change ticket: its key, linked to its page where that is an https URL."""
    named = link(ticket.url, ticket.key) if ticket.url.startswith("https://") else f"`{escape(clean(ticket.key))}`"
    return f":ticket: Change {named} in {escape(ticket.system_name)}"


def policy_line(approval: ApprovalRecord) -> str:
    """"Policy refund-budget: would exceed $500 in 24 h (spent $350)": who routed an approval, and why."""
    try:
        ids = json.loads(approval.policy).get("ids", []) if approval.policy else []
    except ValueError:
        ids = []
    named = f"Policy {', '.join(ids)}" if ids else "Policy"
    return f"{named}: {approval.policy_reason}"



def asked_line(approval: ApprovalRecord) -> str:
    """Who asked, where: a program's agent (its sponsor, the person it asks for, a context link, its workflow) or a
    run."""
    if approval.asked_by:  # a program asked, with an API key (bot/api/)
        who = f" for {user_ref(approval.requester)}" if approval.requester else ""
        agent = f"`{escape(clean(approval.asked_by))}`"
        if approval.sponsor:  # the person accountable for the agent (`keys create --sponsor`), named on its card
            agent = f"agent {agent}, sponsored by {user_ref(approval.sponsor)},"
        asked = f"Asked by {agent}{who} in {channel_ref(approval.origin_channel)}"
        if approval.context_url:
            asked += f" · {link(approval.context_url, 'context')}"
        asked += workflow_part(approval.workflow)
    else:
        asked = (
            f"Run `{approval.run_id}` · requested by {user_ref(approval.requester)}"
            f" in {channel_ref(approval.origin_channel)}"
        )
    return asked


def notes_blocks(approval: ApprovalRecord) -> list[Block]:
    """The card's notes under the change: why, the policy, the triage model's reading, what approving needs, the
    change ticket, the route's steps, who saw the hidden values."""
    blocks: list[Block] = []
    if approval.why:
        blocks.append({"type": "context", "elements": [untrusted(":information_source: " + approval.why, limit=500)]})
    if approval.policy_reason:  # the policies that routed it here, and why (their reason may quote the arguments)
        blocks.append({"type": "context", "elements": [untrusted(":shield: " + policy_line(approval), limit=500)]})
    if approval.triage:  # the triage model's reading, or why it gave none (its words are untrusted: the model's)
        note = approval.triage
        if approval.triage_hold and not approval.pending and not approval.triage_reversed:
            note = note.rsplit(", final at ", 1)[0]  # its hold is over: no "final at ... unless reversed" any more
        blocks.append({"type": "context", "elements": [untrusted(":robot_face: " + note, limit=500)]})
    if approval.step_up and approval.pending:
        blocks.append(context_block(STEP_UP_LINE))
    if approval.attest and approval.pending:  # fit to decide (bot/core/attestations.py): scopes checked, no free text
        blocks.append(context_block(attest_line(approval.attest)))
    if approval.require_details and approval.pending:
        blocks.append(context_block(DETAILS_LINE))
    ticket = ticket_ref(approval.ticket)
    if ticket is not None:  # its change ticket (bot/tickets/), once opened
        blocks.append(context_block(ticket_line(ticket)))
    blocks += reach_blocks(approval)
    if approval.revealed_by:
        seen = ", ".join(user_ref(u) for u in approval.revealed_by.split(",") if SLACK_ID.fullmatch(u))
        blocks.append(context_block(f":eyes: Hidden values seen by {seen}"))
    return blocks
