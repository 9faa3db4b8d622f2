"""The approval card in Teams: an Adaptive Card (schema 1.5) built with the Teams SDK's card models
(`microsoft_teams.cards`), showing what the Slack card shows (bot/slack/blocks/approval_card.py; the words of both,
bot/core/card_words.py): the title, the agent and the requester, the arguments as stored (hidden values already
masked by bot/redaction/hiding.py: shown as their masks), the change's summary (bot/core/diffs.py's words), the votes
of a quorum, the decision once decided and a link to the bot's page of the approval.

Two forms of one card: the approver's (`actions=True`: Approve, Reject and Revise as `Action.Execute`, Revise opening a
form with the arguments to edit, one input each as Slack's field form has them, and its Save & approve) and the
read-only status everyone else sees (`actions=False`). While a triage model's approval is held (TRIAGE_HOLD), both
forms carry "Reverse the model's approval" (verb `triage_reverse`: the channel's admins only, as the core decides).
A pending card carries a `refresh` (verb `refresh`) for its approvers (`refresh_users`, at most `MAX_REFRESH_USERS`):
Teams asks the bot for their card, so approvers see the buttons and everyone else the status.

Untrusted text (the title, arguments, notes, names) is never live markup: TextBlocks render a subset of Markdown, so
every text the card shows goes through `plain` (Markdown's specials backslash-escaped: no emphasis, no list, no
link). Input values (the arguments to edit) are form fields, not Markdown: they hold the text as it is.

    >>> card = approval_card(approval, names={"U0ANA": "Ana"}, actions=True, refresh_users=["29:1"])
    >>> [a["title"] for a in card["actions"]]
    ['Approve', 'Reject', 'Revise']
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, Protocol

from agent_approvals.approver import pretty_json
from microsoft_teams.cards import Action as CardAction
from microsoft_teams.cards import (
    ActionStyle,
    AdaptiveCard,
    CardElement,
    ExecuteAction,
    Fact,
    FactSet,
    ShowCardAction,
    Spacing,
    TextBlock,
    TextColor,
    TextInput,
    TextWeight,
)
from microsoft_teams.cards import RefreshDefinition as Refresh

from bot.core.attestations import SCOPE
from bot.core.card_words import HEADERS, decided_title, oncall_words, reach_lines, revision_arguments
from bot.core.diffs import summary
from bot.core.durations import format_duration
from bot.core.msteams import MAX_REFRESH_USERS
from bot.core.oversight import DETAILS_WORDS
from bot.core.records import ApprovalRecord
from bot.core.writing import PlainWriting
from bot.msteams.field_inputs import EDIT_LIMIT, field_inputs, form_fields

VERB_APPROVE: Final = "approve"
VERB_REJECT: Final = "reject"
VERB_REVISE: Final = "revise"
VERB_SAVE_APPROVE: Final = "save_approve"  # Revise's second submit: the edited call approved by its editor at once
VERB_REFRESH: Final = "refresh"
VERB_TRIAGE_REVERSE: Final = "triage_reverse"  # a channel admin reverses a triage model's held approval (TRIAGE_HOLD)
INPUT_REASON: Final = "reason"  # Reject's reason, Revise's note
INPUT_ARGUMENTS: Final = "arguments"  # Revise: the edited arguments, JSON
SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION: Final = "1.5"
MAX_CARD_BYTES: Final = 28 * 1024  # Teams refuses a message over 28 KB
TASK_LIMIT: Final = 600
NOTE_LIMIT: Final = 1500
LINE_LIMIT: Final = 500  # a line the agent or a policy wrote (why, claim, summary, policy reason)
ARGUMENTS_LIMIT: Final = 2500  # the arguments shown, in characters (more: "… N more characters")
ARGUMENT_LIMIT: Final = 600  # one argument's value
LINES_SHOWN: Final = 40  # lines of code or of a message shown
NAME_LIMIT: Final = 80

_SPECIALS = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character: CommonMark escapes each of them
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_LEADING = re.compile(r"^[ \t]+", re.MULTILINE)


def plain(text: str) -> str:
    """Untrusted text made inert for a TextBlock (or a Fact): control characters and direction overrides dropped,
    every ASCII punctuation character backslash-escaped (Markdown's `*`, `_`, `` ` ``, `#`, `[`, `]`, `(`, `)`, `<`,
    `>`, `-`, `+`, `.`, `!`, `|`, `~`, and `:` and `/`, so that no address becomes a link), and leading spaces of a
    line made non-breaking (four would start a code block). A renderer that reads Markdown shows the text as written;
    the one path for every untrusted string of a card."""
    escaped = _SPECIALS.sub(r"\\\1", _CONTROL.sub("", text))
    return _LEADING.sub(lambda m: "\u00a0" * len(m.group(0).expandtabs(4)), escaped)


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, saying what it left out: "… 1,234 more characters"."""
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()} … {len(text) - limit:,} more characters"


class TeamsWriting(PlainWriting):
    """The core's words (bot/approvals/refusals.py) as a Teams card's notice says them: plain text (`_text` makes
    every notice inert), people by their names (`name`: the Teams file's or Teams' name, else Slack's), untrusted
    text `cut` as the card cuts it."""

    def person(self, user: str, /) -> str:
        return name(user, self.names)

    def untrusted(self, text: str, limit: int, /) -> str:
        return cut(text, limit)


class DrawCard(Protocol):
    """What draws an approval's card (`approval_card`; delivery and the invokes are given it, tests their own)."""

    def __call__(self, approval: ApprovalRecord, *, names: Mapping[str, str], actions: bool,
                 refresh_users: Sequence[str] = (), notice: str = "", details_url: str = "") -> dict[str, Any]: ...


def approval_card(approval: ApprovalRecord, *, names: Mapping[str, str], actions: bool,
                  refresh_users: Sequence[str] = (), notice: str = "", details_url: str = "") -> dict[str, Any]:
    """The card JSON of `approval` (as stored: redacted) for Teams. `names`: person id -> display name (an id not
    named is shown as it is); `actions`: the approver's card (buttons and forms, while pending) or the read-only
    status; `refresh_users`: the Teams user ids whose card Teams refreshes (a pending card's `refresh`, at most 60);
    `notice`: a line on top ("Already decided by Ana", a refusal's words); `details_url`: the bot's page of it.
    Kept within Teams' 28 KB: when the card would be larger, its long texts are shown shorter."""
    for scale in (1.0, 0.5, 0.25, 0.1):
        card = _card(approval, names=names, actions=actions, refresh_users=refresh_users, notice=notice,
                     details_url=details_url, scale=scale)
        if card_bytes(card) <= MAX_CARD_BYTES:
            return card
    return card


def card_bytes(card: Mapping[str, Any]) -> int:
    """The size of the card as sent (JSON, non-ASCII escaped: the largest spelling)."""
    return len(json.dumps(card).encode())


def _card(approval: ApprovalRecord, *, names: Mapping[str, str], actions: bool, refresh_users: Sequence[str],
          notice: str, details_url: str, scale: float) -> dict[str, Any]:
    body: list[CardElement] = []
    if notice:
        body.append(_text(cut(notice, int(LINE_LIMIT * scale)), color="Attention", weight="Bolder"))
    body.append(TextBlock(text=plain(title(approval)), wrap=True, size="Large", weight="Bolder", style="heading"))
    body.append(_text(cut(approval.task.strip(), int(TASK_LIMIT * scale)) or "(no task)", weight="Bolder"))
    body.append(FactSet(facts=facts(approval, names)))
    body.extend(_said(approval, scale))
    unread = oncall_words(approval, ", ".join(name(p, names) for p in approval.oncall_fallback))
    if unread and approval.pending:  # (issue 90: said on every copy of the card)
        body.append(_text(unread, color="Warning"))
    body.extend(proposal(approval, scale))
    if approval.triage:  # the triage model's reading, under the change, labelled as the model's (untrusted: inert)
        body.append(_text(f"The triage model's reading (a model's, not a person's): "
                          f"{cut(approval.triage, int(LINE_LIMIT * scale))}", subtle=True))
    body.extend(outcome(approval, names, scale))
    if details_url.startswith(("https://", "http://")):
        body.append(TextBlock(text=f"[Open its page]({_url(details_url)})", wrap=True, spacing="Medium"))
    card = AdaptiveCard(body=body, fallback_text=fallback_text(approval))
    if approval.pending:
        card.refresh = Refresh(action=_execute("Refresh", VERB_REFRESH, approval),
                               user_ids=list(refresh_users[:MAX_REFRESH_USERS]))
        if actions:
            card.body = [*body, reason_field()]
            card.actions = buttons(approval, scale)
        if held(approval):  # on every copy, as on Slack's: the core's reverse step decides who may
            card.actions = [*(card.actions or []), reverse_button(approval)]
    return {"$schema": SCHEMA, **card.model_dump(exclude_none=True), "version": VERSION}


def title(approval: ApprovalRecord) -> str:
    """The card's heading, fixed words: "Tool call needs approval" while pending, "Tool call rejected" once decided
    (the Slack card's words)."""
    if approval.pending:
        return HEADERS.get(approval.kind, "Approval needed")
    return decided_title(approval)


def facts(approval: ApprovalRecord, names: Mapping[str, str]) -> list[Fact]:
    """Who asked, for whom, what (the tool, the change's summary), who may decide, the quorum, the status."""
    shown: list[tuple[str, str]] = [("Agent", agent(approval, names))]
    if approval.requester:
        shown.append(("Requested by", name(approval.requester, names)))
    shown.append(("What", what(approval)))
    if approval.approvers:
        shown.append(("Who may decide", ", ".join(name(p, names) for p in approval.approvers[:20])))
    if approval.required_approvals > 1:
        shown.append(("Approvals", votes(approval, names)))
    if approval.pending:
        shown.append(("Times out", deadline(approval)))
    shown.append(("Status", status(approval, names)))
    return [Fact(title=plain(key), value=plain(value or "-")) for key, value in shown]


def deadline(approval: ApprovalRecord) -> str:
    """When a pending approval times out and what that means: "2026-11-27 17:30 UTC (after 10m), then rejected"."""
    if approval.never_times_out:
        return "never"
    then = "approved" if approval.timeout_outcome == "approve" else "rejected"
    at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(approval.deadline))
    return f"{at} (after {format_duration(approval.timeout_seconds)}), then {then}"


def agent(approval: ApprovalRecord, names: Mapping[str, str]) -> str:
    """The agent that asked: a program's key name (and its sponsor), or the bot's run (and its agent team)."""
    if approval.asked_by:
        sponsor = f", sponsored by {name(approval.sponsor, names)}" if approval.sponsor else ""
        return cut(approval.asked_by, NAME_LIMIT) + sponsor
    team = f" ({cut(approval.agent, NAME_LIMIT)})" if approval.agent else ""
    return f"run {approval.run_id}{team}"


def what(approval: ApprovalRecord) -> str:
    """"Tool call send_email · +12 −3 in 2 files": what is asked, and the change's summary where it carries one."""
    if approval.kind == "tool_call":
        kind = f"Tool call {cut(approval.tool_name, 64)}".rstrip()
    else:
        kind = "Code to run" if approval.kind == "code" else "Message"
    change = summary(approval.artifact_items) if approval.artifacts else ""
    return f"{kind} · {change}" if change else kind


def name(person: str, names: Mapping[str, str]) -> str:
    """A person's display name, or their id when none is known."""
    return cut(names.get(person) or person, NAME_LIMIT)


def votes(approval: ApprovalRecord, names: Mapping[str, str]) -> str:
    """"1 of 2: Ana" (and "Bob for Ana" where a delegate voted)."""
    shown = []
    for voter in approval.voters:
        through = approval.voted_through(voter)
        shown.append(f"{name(through, names)} for {name(voter, names)}" if through else name(voter, names))
    count = f"{len(approval.voters)} of {approval.required_approvals}"
    return f"{count}: {', '.join(shown)}" if shown else count


def status(approval: ApprovalRecord, names: Mapping[str, str]) -> str:
    """What happened to it, one line: "Waiting for a decision", "Rejected by Ana, 42s after the request"."""
    if approval.pending:
        return "Waiting for a decision"
    if approval.status == "timed_out":
        meaning = "approved" if approval.timeout_outcome == "approve" else "rejected"
        return f"Timed out: no decision within {format_duration(approval.timeout_seconds)}, so {meaning}"
    if approval.decided_by.startswith("model:") and approval.status == "approved":  # a triage model (#92)
        return approval.feedback or f"Approved by the triage model ({approval.decided_by.removeprefix('model:')})"
    who = name(approval.decided_by, names) if approval.decided_by else ""
    if approval.on_behalf:
        who += f" for {name(approval.on_behalf, names)}"
    if approval.status == "approved" and len(approval.voters) > 1:
        who = votes(approval, names).partition(": ")[2] or who
    after = format_duration(max(0.0, approval.decided_at - approval.created_at))
    said = {"approved": "Approved", "rejected": "Rejected", "revised": "Sent back for revision",
            "cancelled": "Cancelled"}.get(approval.status, approval.status.replace("_", " ").capitalize())
    return f"{said} by {who}, {after} after the request" if who else said


def _said(approval: ApprovalRecord, scale: float) -> list[CardElement]:
    limit = int(LINE_LIMIT * scale)
    lines = [("Summary", approval.summary), ("Its reason", approval.claim), ("Why asked", approval.why),
             ("Policy", approval.policy_reason)]
    shown: list[CardElement] = [_text(f"{label}: {cut(text, limit)}", subtle=True) for label, text in lines if text]
    if approval.hidden_items:
        count = len(approval.hidden_items)
        shown.append(_text(f"{count} value{'s' if count > 1 else ''} hidden: shown by kind, never in Teams",
                           subtle=True))
    if approval.pending:
        shown.extend(_text(line, subtle=True) for line in conditions(approval))
    shown.extend(_text(cut(line, limit), subtle=True) for line in reach_lines(approval, PlainWriting()))  # (#90)
    if approval.schema_error:
        shown.append(_text("These arguments do not match the tool's schema: "
                           f"{cut(approval.schema_error, limit)}. Approving is not offered.", color="Warning"))
    return shown


def conditions(approval: ApprovalRecord) -> list[str]:
    """What approving a pending approval takes beyond a click, in fixed words (as the Slack card says them)."""
    found = []
    if approval.step_up:
        found.append("Approving needs your passkey: you confirm this exact action on the bot's page (Reject does not)")
    if approval.attest:
        scopes = ", ".join(scope.partition(":")[2] for scope in approval.attest if SCOPE.fullmatch(scope))
        found.append(f"Approving or revising needs your current attestation to the brief of {scopes} (Reject does"
                     " not)")
    if approval.require_details:
        found.append(f"{DETAILS_WORDS}: a policy counts an Approve only from someone who opened them (its page)")
    return found


def proposal(approval: ApprovalRecord, scale: float) -> list[CardElement]:
    """What is decided: a tool call's arguments one fact each (values as compact JSON, masks as masks), else the
    code or message in monospace lines; cut to the card's budget ("… N more characters")."""
    limit = int(ARGUMENTS_LIMIT * scale)
    if approval.kind == "tool_call":
        found = _object(approval.arguments or approval.proposal)
        if found is not None:
            return [_text("Arguments", weight="Bolder"), FactSet(facts=_argument_facts(found, limit, scale))]
    label = {"tool_call": "Arguments", "code": "Code to run"}.get(approval.kind, "Proposal")
    text = cut(approval.arguments or approval.proposal if approval.kind == "tool_call" else approval.proposal, limit)
    lines = text.split("\n")
    if len(lines) > LINES_SHOWN:
        lines = [*lines[:LINES_SHOWN], f"… {len(lines) - LINES_SHOWN:,} more lines"]
    return [_text(label, weight="Bolder"),
            *(_text(line or " ", monospace=True, spacing="None") for line in lines)]


def _argument_facts(values: dict[str, Any], limit: int, scale: float) -> list[Fact]:
    shown: list[Fact] = []
    left = limit
    for index, (key, value) in enumerate(values.items()):
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = cut(text, min(int(ARGUMENT_LIMIT * scale), max(left, 0)))
        if left <= 0:
            rest = len(values) - index
            shown.append(Fact(title=plain("…"), value=plain(f"{rest:,} more argument{'s' if rest > 1 else ''}")))
            break
        shown.append(Fact(title=plain(cut(str(key), 60) or "?"), value=plain(text or '""')))
        left -= len(text) + len(str(key))
    return shown or [Fact(title=plain("(none)"), value=plain("{}"))]


def outcome(approval: ApprovalRecord, names: Mapping[str, str], scale: float) -> list[CardElement]:
    """A decided card's reason, note or edited arguments (the note as the decider wrote it, redacted as stored)."""
    if approval.pending:
        return []
    limit = int(NOTE_LIMIT * scale)
    edit = revision_arguments(approval)
    if edit is not None:
        shown: list[CardElement] = [_text("Edited arguments", weight="Bolder"),
                                    *(_text(line or " ", monospace=True, spacing="None")
                                      for line in cut(edit[0], limit).split("\n")[:LINES_SHOWN])]
        return shown + ([_text(f"Note: {cut(edit[1], limit)}")] if edit[1].strip() else [])
    if not approval.feedback.strip() or approval.status == "timed_out":
        return []
    label = {"revised": "Feedback", "rejected": "Reason", "cancelled": "Reason"}.get(approval.status, "Comment")
    return [_text(f"{label}: {cut(approval.feedback.strip(), limit)}")]


def buttons(approval: ApprovalRecord, scale: float) -> list[CardAction]:
    """The approver's actions, each an `Action.Execute` with its verb and `{"approval": id}`: Approve (not when the
    arguments fail the tool's schema; it sends no input), Reject (with the reason typed above the buttons) and Revise,
    a form (`Action.ShowCard`) for the arguments to edit whose submit sends them with the note typed above."""
    made: list[CardAction] = []
    if not approval.schema_error:
        made.append(_execute("Approve", VERB_APPROVE, approval, style="positive", inputs=False))
    made.append(_execute("Reject", VERB_REJECT, approval, style="destructive"))
    made.append(ShowCardAction(title="Revise", card=revise_form(approval, scale)))
    return made


def held(approval: ApprovalRecord) -> bool:
    """Whether a triage model's approval of it is held (TRIAGE_HOLD), reversible: pending, held, not reversed."""
    return approval.pending and bool(approval.triage_hold) and not approval.triage_reversed


def reverse_button(approval: ApprovalRecord) -> ExecuteAction:
    """Reverse the triage model's held approval (bot/approvals/triage_hold.py): the channel's admins only, which the
    core's reverse step checks (anyone else is told so, and audited)."""
    return _execute("Reverse the model's approval", VERB_TRIAGE_REVERSE, approval, style="destructive", inputs=False)


def reason_field() -> TextInput:
    """The one `reason` input of the approver's card, above its buttons: Reject's reason, Revise's note. (One input
    for both: two inputs of one id in a card are invalid, and a form's submit sends its parent card's inputs too.)"""
    return TextInput(id=INPUT_REASON, label="Reason to reject, or note to send back with Revise (optional)",
                     is_multiline=True, max_length=NOTE_LIMIT)


def revise_form(approval: ApprovalRecord, scale: float) -> AdaptiveCard:
    """Revise's form: the arguments to edit where they may be edited, one input per argument (`field_inputs`) when
    the call's fit the card (`form_fields`), else as pretty JSON (saying why), each prefilled with the stored,
    redacted arguments (a masked value left as its mask keeps the original); and the submit."""
    fields: list[CardElement] = []
    editable = approval.kind == "tool_call" and not approval.fixed_arguments
    found = _object(approval.arguments) if editable else None
    by_field = form_fields(approval, scale) if found is not None else None
    if by_field is not None:
        fields.append(_text("Edit the arguments, one field each (a hidden value left as shown is kept unchanged).",
                            subtle=True))
        fields.extend(field_inputs(approval, by_field))
    elif found is not None:
        text = pretty_json(found)
        if len(text) <= EDIT_LIMIT * scale:
            fields.append(_text(TOO_MANY_FIELDS, subtle=True))
            fields.append(TextInput(id=INPUT_ARGUMENTS, label="Arguments (JSON)", is_multiline=True, value=text))
        else:
            fields.append(_text("The arguments are too long to edit here: open its page to edit them.", subtle=True))
    else:
        fields.append(_text("Sends the note above back to the agent.", subtle=True))
    submits: list[CardAction] = [_execute("Send back", VERB_REVISE, approval)]
    if by_field is not None and not approval.asked_by:  # (as Slack's field form: a run's own call)
        fields.append(_text(SAVE_APPROVE_WORDS, subtle=True))
        submits.append(_execute("Save & approve", VERB_SAVE_APPROVE, approval, style="positive"))
    return AdaptiveCard(body=fields, actions=submits)


SAVE_APPROVE_WORDS = ("Save & approve: the edited call counts as approved by you. It is a new call: the policies"
                      " decide it first, and may send it to other approvers; where more than one approval is needed,"
                      " yours counts as one of them.")


TOO_MANY_FIELDS = ("This call has too many arguments, or too long or too deeply nested ones, to edit one field each"
                   " here: edit them as JSON.")


def _execute(label: str, verb: str, approval: ApprovalRecord, *, style: ActionStyle | None = None,
             inputs: bool = True) -> ExecuteAction:
    action = ExecuteAction(title=label, verb=verb, data={"approval": approval.id}, style=style)
    if not inputs:
        action.associated_inputs = "none"
    return action


def _text(text: str, *, weight: TextWeight | None = None, color: TextColor | None = None, subtle: bool = False,
          monospace: bool = False, spacing: Spacing | None = None) -> TextBlock:
    """A TextBlock of `text` made inert (`plain`), wrapped."""
    return TextBlock(text=plain(text), wrap=True, weight=weight, color=color, is_subtle=subtle or None,
                     font_type="Monospace" if monospace else None, spacing=spacing)


def _object(text: str) -> dict[str, Any] | None:
    try:
        found = json.loads(text) if text else None
    except ValueError:
        return None
    return found if isinstance(found, dict) and found else None


def _url(url: str) -> str:
    """The bot's own address in a Markdown link: no character that could end the link early."""
    return re.sub(r"[\s()<>\[\]\\]", lambda m: f"%{ord(m.group(0)):02X}", url)


def notice_card(text: str) -> dict[str, Any]:
    """A card of one line of the bot's (untrusted parts made inert by `plain`): what a person is told outside an
    approval's card, e.g. the step-up link of their Save & approve."""
    card = AdaptiveCard(body=[_text(cut(text, NOTE_LIMIT))], fallback_text="A message from the approvals bot")
    return {"$schema": SCHEMA, **card.model_dump(exclude_none=True), "version": VERSION}


def fallback_text(approval: ApprovalRecord) -> str:
    """What a client that cannot show the card shows: fixed words and the run id only."""
    run = f" for run {approval.run_id}" if approval.run_id else ""
    return f"Approval needed{run}" if approval.pending else f"Approval{run}: {approval.status.replace('_', ' ')}"


def reminder_text(approval: ApprovalRecord, *, kind: Literal["reminder", "escalation"], now: float) -> str:
    """A reminder or an escalation in a person's personal chat, beside their card: fixed words and the approval's
    title (made inert by `plain`, as on the card), e.g. "Reminder: Refund the customer (Tool call send_refund) has
    waited 15m for a decision; it times out 2026-11-27 17:30 UTC (after 30m), then rejected. Your card is in this
    chat." Markdown as Teams reads a message's text."""
    waited = format_duration(max(0.0, now - approval.created_at))
    about = f"{cut(approval.task.strip(), 200) or 'An approval'} ({what(approval)})"
    head = "Reminder" if kind == "reminder" else "Escalated to you"
    votes = (f" {len(approval.voters)} of {approval.required_approvals} approvals so far."
             if approval.required_approvals > 1 else "")
    return plain(f"{head}: {about} has waited {waited} for a decision; it times out {deadline(approval)}.{votes}"
                 " Your card is in this chat.")

