"""The App Home: a person's inbox. The approvals waiting for them (a page at a time, oldest first, each
with the card's buttons), the runs they started and what they decided lately; and for a channel's
admins, their channels: the last 7 days' headline numbers (as `/agent report`) and the live rules, each
with a Revoke button. Everyone's passkeys (step-up) are in their own section (`bot.slack.blocks.passkeys`).

Untrusted text (tasks, proposals, arguments, code, why a human is asked) is made inert by
`bot.slack.blocks.text`. The only live markup here is what text.py makes from checked ids (mentions, channel
links, dates) and a link to a run's header message, made only from a checked workspace address, channel
id and message timestamp.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.allow_rules import RULE_ID, Rule
from bot.core.card_words import parked_line, timeout_meaning
from bot.core.durations import format_duration
from bot.core.oversight import DETAILS_WORDS
from bot.core.passkeys import Passkey
from bot.core.records import RUN_ID, SLACK_ID, SLACK_TS, ApprovalRecord, RunRecord
from bot.report import Headline
from bot.slack.blocks.approval_card import (
    ACTION_DETAILS,
    ACTION_FULL_TEXT,
    button,
    decision_buttons,
    decision_line,
    item_summary,
    proposal_text,
    quorum_line,
)
from bot.slack.blocks.card_notes import Said, policy_line
from bot.slack.blocks.claims import agent_name, claim_line, summary_line, task_label, workflow_part
from bot.slack.blocks.freeze import Frozen, frozen_lines
from bot.slack.blocks.nudges import escalated_line, sla_line
from bot.slack.blocks.oversight import DIGEST_TITLE, digest_lines
from bot.slack.blocks.passkeys import build_passkey_blocks
from bot.slack.blocks.rules import ACTION_RULE_REVOKE, match_text, scope_text
from bot.slack.blocks.runs import RUN_STATUS_LINE
from bot.slack.blocks.text import (
    HEADER_LIMIT,
    TEXT_LIMIT,
    Block,
    Names,
    channel_ref,
    context_block,
    date_ref,
    escape,
    mrkdwn,
    people_refs,
    plain,
    safe,
    untrusted,
    user_ref,
)

ACTION_HOME_PAGE = "home_page"  # button value: the page number (0-based) to show
ACTION_HOME_BATCH = "home_batch"  # "Decide several…": opens the batch modal
HOME_PAGE_SIZE = 10  # waiting approvals per page
HOME_LIST_SIZE = 10  # runs, and recent decisions, listed
HOME_SHOWN = 600  # a waiting approval's proposal, arguments or code on the Home (else cut, with "Full text")
HOME_TASK = 300  # a waiting approval's task on the Home
RUN_TASK = 80  # a run's task in its line
HOME_CHANNELS = 5  # an admin's channels shown (the most active first)
HOME_RULES = 5  # a channel's live rules shown (the newest first)
HOME_BLOCKS = 100  # Slack's limit on a Home's blocks
HEADLINE_DAYS = 7  # the period of the headline numbers (as `/agent report`)

_LINE_LIMIT = 1000  # a line in a list (ours, and far longer than any we make)
_MORE_ROOM = 40  # room for "… and 12 more"
_WHOLE = sys.maxsize  # a limit nothing reaches: the text as it shows whole
_WORKSPACE_URL = re.compile(r"^https?://[A-Za-z0-9.-]{1,120}(:[0-9]{1,5})?/?$")


@dataclass(frozen=True, slots=True)
class HomeContent:
    """Everything one person's Home shows (read by the caller; the builder makes no call)."""

    user: str  # whose Home
    now: float  # epoch seconds, for ages and deadlines
    waiting: Sequence[ApprovalRecord]  # this page of the pending approvals this person may decide, oldest first
    waiting_total: int  # how many wait for them in all
    page: int  # 0-based page shown
    runs: Sequence[RunRecord]  # the runs they started, newest first (at most 10 are shown)
    recent: Sequence[ApprovalRecord]  # approvals they decided lately, newest first (at most 10 are shown)
    workspace_url: str = ""  # "https://acme.slack.com/": links to a run's header message; "" -> no links
    channels: Sequence[ChannelPanel] = ()  # the channels they administer, the most active first (admins only)
    channels_total: int = 0  # how many channels they administer in all (0: not an admin: no such section)
    passkeys: Sequence[Passkey] = ()  # their passkeys (step-up), the oldest first
    frozen: Sequence[Frozen] = ()  # the frozen scopes (`/agent freeze`), shown first (admins only)
    names: Names = field(default_factory=dict)  # the Teams-only people these approvals name, by name (`user_ref`)


@dataclass(frozen=True, slots=True)
class ChannelPanel:
    """One channel an admin sees on their Home: its numbers and its live rules."""

    channel: str
    numbers: Headline | None  # the last 7 days' headline numbers; None while they are being computed
    as_of: float  # when the numbers were computed
    rules: Sequence[Rule]  # its live rules (any order: the newest are shown)
    digest: Mapping[str, Any] | None = None  # its last weekly oversight digest (bot/slack/digest.py), if any


def build_home_view(content: HomeContent) -> dict[str, Any]:
    """The Home tab: what waits for this person, their runs, what they decided lately, their passkeys, the
    channels they administer, and when it was drawn. At most 100 blocks whatever the input: only one page of
    waiting approvals, the first 10 runs and decisions, and of the channels as many as the rest of the
    100 blocks holds (at most 5 channels and 5 rules each; the Home says how many more there are)."""
    frozen = frozen_lines(content.frozen)
    blocks: list[Block] = [
        *([{"type": "section", "text": mrkdwn(frozen)}] if frozen else []),
        *_waiting_blocks(content),
        {"type": "divider"},
        *_runs_blocks(content),
        {"type": "divider"},
        *_recent_blocks(content),
        *build_passkey_blocks(content.passkeys),
    ]
    footer = context_block(f"Updated {date_ref(content.now)}")
    blocks += _channels_blocks(content, room=HOME_BLOCKS - len(blocks) - 1)
    return {"type": "home", "blocks": [*blocks, footer]}


# --------------------------------------------------------------------------------------------------- shared pieces


def run_code(run_id: str) -> str:
    """A run id as inline code (run ids are checked where runs start; anything else is shown inert)."""
    return f"`{run_id}`" if RUN_ID.fullmatch(run_id) else safe(run_id, 24)


def asked_line(approval: ApprovalRecord, *, now: float | None = None) -> str:
    """What is asked, in which run, by whom, from where (and how long ago, given `now`), e.g.
    "*Tool call* `send_email` · run `r12ab34` · asked by @alice in #sales 5m ago", or for a program's ask
    "*Tool call* `send_email` · asked by `nightly` (the agent calling itself “mailer (LangGraph)”) in #sales 5m ago",
    and a durable workflow's " · workflow `refund-7` (Refund, Temporal)"."""
    ago = f" {format_duration(now - approval.created_at)} ago" if now is not None else ""
    if approval.asked_by:  # a program asked with an API key (bot/api/): the key and the agent that asked
        agent = f" ({escape(agent_name(approval))})" if approval.author and approval.author != approval.asked_by else ""
        return (
            f"{item_summary(approval)} · asked by `{escape(approval.asked_by)}`{agent}"
            f" in {channel_ref(approval.origin_channel)}{ago}{workflow_part(approval.workflow)}"
        )
    return (
        f"{item_summary(approval)} · run {run_code(approval.run_id)}"
        f" · asked by {user_ref(approval.requester)} in {channel_ref(approval.origin_channel)}{ago}"
    )


def packed_sections(lines: Sequence[str], *, most: int) -> list[Block]:
    """Lines we composed (one item each) in as few sections as fit, never splitting a line, in at most
    `most` sections: lines left over are counted in a last line ("… and 12 more")."""
    texts: list[str] = []
    for index, line in enumerate(lines):
        line = line[:_LINE_LIMIT]
        if texts and len(texts[-1]) + 1 + len(line) <= TEXT_LIMIT - _MORE_ROOM:
            texts[-1] += "\n" + line
        elif len(texts) < most:
            texts.append(line)
        else:
            texts[-1] += f"\n… and {len(lines) - index:,} more"
            break
    return [{"type": "section", "text": mrkdwn(text)} for text in texts]


def header(text: str) -> Block:
    """A header of fixed words."""
    return {"type": "header", "text": plain(text, HEADER_LIMIT)}


def proposal_is_whole(approval: ApprovalRecord, limit: int) -> bool:
    """Whether `proposal_text(approval, limit=limit)` shows the whole proposal (arguments, code)."""
    return proposal_text(approval, limit=limit) == proposal_text(approval, limit=_WHOLE)


# --------------------------------------------------------------------------------------------------- waiting


def _waiting_blocks(content: HomeContent) -> list[Block]:
    """The header with the count, "Decide several…", where this page sits in the list, the page's
    approvals and the buttons to the other pages."""
    page = max(0, content.page)
    shown = list({a.id: a for a in content.waiting[:HOME_PAGE_SIZE]}.values())  # each once: block ids are unique
    first = page * HOME_PAGE_SIZE
    total = max(content.waiting_total, first + len(shown) if shown else 0)  # never fewer than shown
    if not total:
        return [header("Waiting for you"), {"type": "section", "text": mrkdwn("Nothing waits for you right now.")}]
    blocks: list[Block] = [header(f"Waiting for you ({total:,})")]
    if total >= 2:
        batch = button("Decide several…", ACTION_HOME_BATCH, "batch")
        blocks.append({"type": "actions", "block_id": "home_batch", "elements": [batch]})
    paged = page > 0 or total > first + HOME_PAGE_SIZE
    if paged:
        blocks.append(context_block(_page_line(first, len(shown), total)))
    for approval in shown:
        blocks.extend(_waiting_item(approval, now=content.now, names=content.names))
    if paged:
        blocks.extend(_page_buttons(page, total))
    return blocks


def _page_line(first: int, count: int, total: int) -> str:
    if not count:
        return f"Nothing left on this page: {total:,} wait for you, oldest first."
    return f"Showing {first + 1:,}–{first + count:,} of {total:,}, oldest first."


def _page_buttons(page: int, total: int) -> list[Block]:
    """ "← Older" and "Newer →", each in its own actions block (both send `ACTION_HOME_PAGE`)."""
    last = max(0, (total - 1) // HOME_PAGE_SIZE)
    blocks: list[Block] = []
    if page > 0:
        back = button("← Older", ACTION_HOME_PAGE, str(min(page - 1, last)))
        blocks.append({"type": "actions", "block_id": "home_page_older", "elements": [back]})
    if total > (page + 1) * HOME_PAGE_SIZE:
        on = button("Newer →", ACTION_HOME_PAGE, str(page + 1))
        blocks.append({"type": "actions", "block_id": "home_page_newer", "elements": [on]})
    return blocks


def _waiting_item(approval: ApprovalRecord, *, now: float, names: Names) -> list[Block]:
    """One waiting approval in 5 blocks and a divider: what is asked, by whom, from where and when; the
    task; the proposal (arguments, code) cut to fit; the deadline and notes; the card's buttons, and
    "Full text" when the proposal was cut ("Details" when its policy asks to open them before approving)."""
    full = [] if proposal_is_whole(approval, HOME_SHOWN) else [button("Full text", ACTION_FULL_TEXT, approval.id)]
    if approval.require_details:  # (the same modal: opening it counts)
        full = [button("Details", ACTION_DETAILS, approval.id)]
    return [
        {"type": "section", "text": mrkdwn(asked_line(approval, now=now))},
        {"type": "section", "text": untrusted(approval.task, label=task_label(approval), limit=HOME_TASK)},
        {"type": "section", "text": proposal_text(approval, limit=HOME_SHOWN)},
        {"type": "context", "elements": _item_notes(approval, names)},
        {"type": "actions", "block_id": f"home_{approval.id[:64]}", "elements": [*decision_buttons(approval), *full]},
        {"type": "divider"},
    ]


def _item_notes(approval: ApprovalRecord, names: Names) -> list[dict[str, Any]]:
    """The deadline and what a timeout means, who may decide and the quorum so far, who edited the arguments, why
    Approve is not offered, its service level, the policy that routed it and why, why a human is asked and the triage
    model's reading (at most 8 context elements), as its card says."""
    if approval.never_times_out:
        line = ":parking: " + (parked_line(approval, Said(names)) or "Never times out")  # parked (#90): who holds it
    else:
        then = timeout_meaning(approval.timeout_outcome)
        line = f":hourglass_flowing_sand: Times out {date_ref(approval.deadline)} (then {then})"
    if approval.approvers:
        line += f" · Who may decide: {people_refs(approval.approvers, names)}"
    quorum = quorum_line(approval, names)
    if quorum:
        line += f" · {quorum}"
    escalated = escalated_line(approval, names)
    if escalated:
        line += f" · {escalated}"
    if approval.edited_by:
        line += f" · :pencil2: arguments edited by {user_ref(approval.edited_by)}"
    if approval.require_details and approval.pending:
        line += f" · :mag: {DETAILS_WORDS}"
    notes = [mrkdwn(line)]
    if approval.sla_seconds > 0:
        notes.append(mrkdwn(sla_line(approval)))
    if approval.schema_error:
        problem = safe(approval.schema_error, 300)
        notes.append(
            mrkdwn(f":warning: Approve is not offered: the arguments do not match the tool's schema: {problem}")
        )
    if approval.policy_reason:
        notes.append(untrusted(":shield: " + policy_line(approval), limit=500))
    if approval.why:
        notes.append(untrusted(":information_source: " + approval.why, limit=300))
    if approval.triage:  # the triage model's reading, or its held approval (TRIAGE_HOLD): the model's words
        notes.append(untrusted(":robot_face: " + approval.triage, limit=300))
    said = [line for line in (summary_line(approval, limit=300), claim_line(approval, limit=300)) if line]
    return notes + [mrkdwn(line) for line in said]


# --------------------------------------------------------------------------------------------------- runs, recent


def _runs_blocks(content: HomeContent) -> list[Block]:
    runs = content.runs[:HOME_LIST_SIZE]
    if not runs:
        return [header("Your runs"), {"type": "section", "text": mrkdwn("You have not started any runs.")}]
    return [header("Your runs"), *packed_sections([_run_line(run, content.workspace_url) for run in runs], most=5)]


def _run_line(run: RunRecord, workspace_url: str) -> str:
    """A run's status, id, start and link, then its task cut to one short line (last: its characters
    cannot pair with our own formatting)."""
    status = RUN_STATUS_LINE.get(run.status, safe(run.status, 20))
    started = f" · started {date_ref(run.created_at)}" if run.created_at else ""
    task = safe(run.task, RUN_TASK).replace("\r", " ").replace("\n", " ")
    return f"{status} · {run_code(run.id)}{started}{_header_link(run, workspace_url)} · {task}"


def _header_link(run: RunRecord, workspace_url: str) -> str:
    """ " · <url|open>" to the run's header message, when the workspace address, channel and timestamp
    are all known and well formed; else ""."""
    known = _WORKSPACE_URL.fullmatch(workspace_url) and SLACK_ID.fullmatch(run.channel)
    if not (known and SLACK_TS.fullmatch(run.header_ts)):
        return ""
    base = workspace_url if workspace_url.endswith("/") else workspace_url + "/"
    return f" · <{base}archives/{run.channel}/p{run.header_ts.replace('.', '')}|open>"


def _recent_blocks(content: HomeContent) -> list[Block]:
    recent = content.recent[:HOME_LIST_SIZE]
    if not recent:
        return [header("Recently decided by you"), {"type": "section", "text": mrkdwn("Nothing yet.")}]
    lines = [_recent_line(a, content.names) for a in recent]
    return [header("Recently decided by you"), *packed_sections(lines, most=5)]


def _recent_line(approval: ApprovalRecord, names: Names) -> str:
    """What was decided (kind or tool, run), what happened to it, and when; a quorum still pending: the votes so far
    (yours among them)."""
    when = f" · {date_ref(approval.decided_at)}" if approval.decided_at else ""
    said = f"your approval counted, {quorum_line(approval, names)}" if approval.pending else \
        decision_line(approval, names)
    return f"{item_summary(approval)} · run {run_code(approval.run_id)}: {said}{when}"


# --------------------------------------------------------------------------------------------------- admins' channels


def _channels_blocks(content: HomeContent, *, room: int) -> list[Block]:
    """ "Your channels", in at most `room` blocks: per channel its numbers (one section) and its newest
    live rules (a section each, with Revoke); what does not fit is counted ("and 3 more ...")."""
    total = max(content.channels_total, len(content.channels))
    if total <= 0 or room < 4:
        return []
    blocks: list[Block] = [{"type": "divider"}, header("Your channels")]
    left = room - len(blocks)
    shown = 0
    for index, panel in enumerate(content.channels[:HOME_CHANNELS]):
        others = 1 if total > index + 1 else 0  # the last line, "and 3 more channels", if any remain
        rules = sorted(panel.rules, key=_rule_number, reverse=True)  # the newest first
        count = min(len(rules), HOME_RULES)
        while count and 1 + count + (len(rules) > count) > left - others:
            count -= 1
        if 1 + (len(rules) > count) > left - others:
            break
        blocks.append({"type": "section", "text": mrkdwn(_panel_text(panel, now=content.now))})
        blocks.extend(_rule_block(panel.channel, rule) for rule in rules[:count])
        if len(rules) > count:
            more = f"… and {len(rules) - count:,} more rules (`/agent rules` in {channel_ref(panel.channel)})"
            blocks.append(context_block(more))
        left = room - len(blocks)
        shown += 1
    if total > shown:
        rest = "more channels" if shown else "channels"
        blocks.append(context_block(f"… and {total - shown:,} {rest} (`/agent report` and `/agent rules` in each)"))
    return blocks


def _panel_text(panel: ChannelPanel, *, now: float) -> str:
    """A channel, its headline numbers (or that they are being computed) and how many live rules."""
    title = f"*{channel_ref(panel.channel)}* · last {HEADLINE_DAYS} days"
    if panel.numbers is None:
        lines = [f"{title}", ":hourglass_flowing_sand: computing the numbers…"]
    else:
        lines = [f"{title}, as of {date_ref(panel.as_of)}", *headline_lines(panel.numbers)]
    live = len(panel.rules)
    lines.append(f"Live rules: {live:,}" if live else "No live rules.")
    if panel.digest is not None:  # the week's rubber-stamp signals (issue 80)
        when = panel.digest.get("at")
        lines.append(f"*{DIGEST_TITLE}*" + (f" (to {date_ref(float(when))})" if when else ""))
        lines.extend(digest_lines(panel.digest))
    return "\n".join(lines)[:2900]


def headline_lines(numbers: Headline) -> list[str]:
    """The headline numbers as bullets (plain text, escaped; the busiest approver's id as a mention)."""
    shown = [escape(line) for line in numbers.lines()]
    if numbers.busiest and SLACK_ID.fullmatch(numbers.busiest):
        shown = [line.replace(escape(numbers.busiest), user_ref(numbers.busiest)) for line in shown]
    return [f"• {line}" for line in shown]


def _rule_number(rule: Rule) -> int:
    return int(rule.id[1:]) if RULE_ID.fullmatch(rule.id) else 0


def revoke_value(channel: str, rule_id: str) -> str:
    """A Revoke button's value: "<channel>/<rule id>" (`parse_revoke_value` reads it back)."""
    return f"{channel}/{rule_id}"


def parse_revoke_value(value: str) -> tuple[str, str] | None:
    """(channel, rule id) from a Revoke button's value, or None when it is not one (it comes from a client)."""
    channel, slash, rule_id = value.partition("/")
    if not slash or not SLACK_ID.fullmatch(channel) or not RULE_ID.fullmatch(rule_id):
        return None
    return channel, rule_id


def _rule_block(channel: str, rule: Rule) -> Block:
    """A rule in one section: id, what it matches, scope, who made it, expiry and uses; Revoke (confirmed)."""
    uses = "1 use" if rule.uses == 1 else f"{rule.uses:,} uses"
    line = (
        f"*{safe(rule.id, 12)}* · {match_text(rule)} · {scope_text(rule)} · by {user_ref(rule.created_by)}"
        f" · expires {date_ref(rule.expires_at)} · {uses}"
    )
    confirm = {
        "title": plain(f"Revoke rule {rule.id}?", 100),
        "text": plain("The calls it matches get a card again, on every worker at once.", 300),
        "confirm": plain("Revoke", 30),
        "deny": plain("Cancel", 30),
        "style": "danger",
    }
    revoke = button("Revoke", ACTION_RULE_REVOKE, revoke_value(channel, rule.id), style="danger", confirm=confirm)
    return {
        "type": "section",
        "block_id": f"rule_{channel}_{rule.id}"[:255],
        "text": mrkdwn(line),
        "accessory": revoke,
    }
