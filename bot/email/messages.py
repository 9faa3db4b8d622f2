"""The e-mail of an approval (issue 88): a subject, a plain-text part and an HTML part, rendered from
bot/templates/email/ (`approval.html` autoescaped through the one page Environment; `approval.txt` as plain text,
never read as markup), with the card's words: the title, the agent and the requester, the change's summary and first
hunk, `The agent says` (its claim, shown as said), the service level, and the **Review and decide** link; and the mail
that tells a decision to the people an ask names in `notify` (`decided_mail`: the outcome, who and when, the same
words of the change, no link); the weekly digest of parked approvals to an admin without Slack (`parked_mail`).

Every text comes from the approval as Redis keeps it, whose arguments and artefacts are already redacted (hidden
values replaced by their masks: bot/redaction/hiding.py): no hidden value is ever in the clear in a mail. The words
are made here from the core's pure parts (bot.core.diffs, bot.core.plain_summary, bot.core.service_levels), not
from a surface's (bot.slack.blocks writes mrkdwn)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from bot.core.card_words import parked_line
from bot.core.diffs import read, summary_of
from bot.core.durations import format_duration
from bot.core.plain_summary import plain_summary, tool_description
from bot.core.records import ApprovalRecord
from bot.core.service_levels import at_risk_after
from bot.core.templates import render, render_text
from bot.core.writing import PlainWriting

SUBJECT_CHARS: Final = 120
HUNK_LINES: Final = 16
LINE_CHARS: Final = 160
TEXT_CHARS: Final = 1200  # the task, the claim, the call's arguments as shown
KINDS: Final = {"opened": "Waiting for your decision", "reminded": "Reminder: waiting for your decision",
                "escalated": "Escalated to you: waiting for a decision"}
OUTCOMES: Final = {"approved": "Approved", "rejected": "Rejected", "revised": "Sent back for changes",
                   "timed_out": "Timed out", "cancelled": "Cancelled"}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A mail's subject (one line) and its two parts."""

    subject: str
    text: str
    html: str


def one_line(text: str, limit: int) -> str:
    """`text` on one line (every run of spaces and line breaks one space), cut to `limit` with "…"."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def cut(text: str, limit: int = TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def first_hunk(approval: ApprovalRecord) -> tuple[str, str]:
    """The change's summary words ("+12 −3 in 2 files") and its first file's first hunk as a unified diff writes it
    (at most HUNK_LINES lines), ("", "") when it changes no file."""
    if not approval.artifacts:
        return "", ""
    changes = read(approval.artifact_items)
    summary = summary_of(changes)
    for change in changes.files:
        hunk = change.first_hunk
        if hunk is None:
            continue
        lines = [f"--- {change.path}", hunk.header]
        lines += [line.kind + (line.text if len(line.text) <= LINE_CHARS else line.text[:LINE_CHARS] + "…")
                  for line in hunk.lines[:HUNK_LINES]]
        if len(hunk.lines) > HUNK_LINES:
            lines.append(f"… {len(hunk.lines) - HUNK_LINES:,} more lines")
        return summary, "\n".join(lines)
    return summary, ""


def in_short(approval: ApprovalRecord) -> str:
    """One sentence of what it does (a model's, labelled, else the one made from its artefacts), "" for none."""
    if approval.summary.strip():
        return f"{one_line(approval.summary, 300)} (summary written by a model)"
    return plain_summary(approval.artifact_items, description=tool_description(approval.arguments_schema),
                         tool=approval.tool_name)


def service_level(approval: ApprovalRecord) -> str:
    """Its service level in words ("" without one), by the state last told."""
    if approval.sla_seconds <= 0:
        return ""
    sla = format_duration(approval.sla_seconds)
    if approval.sla_state == "breached":
        return f"Service level breached: {sla} is over; nobody has decided yet"
    if approval.sla_state == "at_risk":
        return f"At risk: 80 % of its service level ({sla}) is gone"
    return f"Service level {sla}: within (at risk after {format_duration(at_risk_after(approval.sla_seconds))})"


def agent_words(approval: ApprovalRecord) -> str:
    """Who proposes: a program's agent by the name it gives itself, labelled as its words."""
    name = one_line(approval.author, 40)
    return f"the agent calling itself “{name}”" if approval.asked_by else name


def approval_mail(approval: ApprovalRecord, *, link: str, kind: str = "opened",
                  names: Mapping[str, str] | None = None) -> Rendered:
    """The mail of `approval` for one person, `kind` "opened", "reminded" or "escalated", with their `link`;
    `names`: people's display names by id (the requester's, else their id)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")
    summary, hunk = first_hunk(approval)
    what = "Tool call" if approval.kind == "tool_call" else "Code" if approval.kind == "code" else "Message"
    context = {
        "heading": KINDS[kind], "what": what, "title": cut(approval.task), "agent": agent_words(approval),
        "requester": (names or {}).get(approval.requester, approval.requester), "tool": approval.tool_name,
        "arguments": cut(approval.proposal), "in_short": in_short(approval), "change": summary, "hunk": hunk,
        "claim": cut(approval.claim), "service_level": service_level(approval), "link": link, "id": approval.id,
        "parked": parked_line(approval, PlainWriting(dict(names or {}))),  # (issue 90)
    }
    subject = one_line(f"{KINDS[kind]}: {approval.task or what}", SUBJECT_CHARS)
    return Rendered(subject=subject, text=render_text("email/approval.txt", **context),
                    html=render("email/approval.html", **context))


def decided_mail(approval: ApprovalRecord, *, names: Mapping[str, str] | None = None) -> Rendered:
    """The mail telling `approval`'s decision (to the people its ask named in `notify`): the outcome, who decided and
    when (UTC), their reason or feedback, and the change as the opened mail shows it (hidden values as their masks)."""
    outcome = OUTCOMES.get(approval.status, approval.status.replace("_", " ").capitalize())
    who = (names or {}).get(approval.decided_by, approval.decided_by.removeprefix("email:"))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(approval.decided_at)) if approval.decided_at else ""
    by = f" by {who}" if who and who not in ("system", "timeout") else ""
    summary, hunk = first_hunk(approval)
    what = "Tool call" if approval.kind == "tool_call" else "Code" if approval.kind == "code" else "Message"
    context = {
        "heading": outcome, "outcome_line": one_line(f"{outcome}{by}" + (f" on {when}" if when else "") + ".", 300),
        "feedback": cut(approval.feedback), "feedback_label": "Feedback" if approval.status == "revised" else "Reason",
        "what": what, "title": cut(approval.task), "agent": agent_words(approval),
        "requester": (names or {}).get(approval.requester, approval.requester), "tool": approval.tool_name,
        "arguments": cut(approval.proposal), "in_short": in_short(approval), "change": summary, "hunk": hunk,
        "claim": cut(approval.claim), "id": approval.id,
    }
    subject = one_line(f"{outcome}: {approval.task or what}", SUBJECT_CHARS)
    return Rendered(subject=subject, text=render_text("email/decided.txt", **context),
                    html=render("email/decided.html", **context))


PARKED_HEADING: Final = "Parked approvals"
PARKED_SHOWN: Final = 30


def parked_mail(approvals: Sequence[ApprovalRecord], *, names: Mapping[str, str] | None = None) -> Rendered:
    """The weekly digest of parked approvals (timeout `never`, issue 90) to one admin without Slack: each one's task
    (the agent's words, as text), id, channel, who holds it and since when (UTC), as Slack's digest names them."""
    writing = PlainWriting(dict(names or {}))
    items = [{"task": one_line(a.task or "(no title)", 120), "id": a.id, "channel": a.origin_channel,
              "held_by": writing.people(list(a.approvers)),
              "since": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(a.created_at))}
             for a in approvals[:PARKED_SHOWN]]
    context = {"heading": PARKED_HEADING, "count": len(approvals), "items": items,
               "more": max(0, len(approvals) - PARKED_SHOWN)}
    subject = f"{PARKED_HEADING}: {len(approvals)} waiting, never timing out"
    return Rendered(subject=subject, text=render_text("email/parked.txt", **context),
                    html=render("email/parked.html", **context))
