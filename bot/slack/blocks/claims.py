"""What the asker says, shown as said, never as fact (#79.6): the agent's stated reason ("The agent says: …"), a
program's title as its own words, the durable workflow it names, and the plain one-sentence summary of what the
approval does (`bot.core.plain_summary`, or a model's, labelled so), and the name a program's agent gives itself
(`agent_name`: quoted as its words, never read as a line of ours such as the key's sponsor). Every part is
untrusted, made inert by `bot.slack.blocks.text`. Used by the card (and its DM copies and decided form) and the App
Home alike."""

from __future__ import annotations

import json

from bot.core.plain_summary import plain_summary, tool_description
from bot.core.records import ApprovalRecord
from bot.slack.blocks.text import MARKS, clean, escape, link, safe, user_ref

CLAIM_CHARS = 480
SUMMARY_CHARS = 600
BY_MODEL = "Summary written by a model"


def task_label(approval: ApprovalRecord) -> str:
    """The task's label: a program's title is its agent's own words; a person's `/agent` task is theirs."""
    return "Task, in the agent's words" if approval.asked_by else "Task"


def agent_name(approval: ApprovalRecord, *, limit: int = 40) -> str:
    """Who proposes, as plain text (to be escaped by the caller): a program's agent by the name it gives itself,
    quoted and labelled as its words, one line, formatting marks inert ("the agent calling itself “mailer”"); a
    run's agent by its preset's name."""
    name = " ".join(clean(approval.author).split())
    if not approval.asked_by:
        return name[:limit]
    return f"the agent calling itself “{name.translate(MARKS)[:limit]}”"


def claim_line(approval: ApprovalRecord, *, limit: int = CLAIM_CHARS) -> str:
    """ ":speech_balloon: The agent says: “…”" for an agent's stated reason; "" for none."""
    if not approval.claim.strip():
        return ""
    return f":speech_balloon: The agent says: “{safe(approval.claim, limit)}”"


def summary_line(approval: ApprovalRecord, *, limit: int = SUMMARY_CHARS) -> str:
    """ ":memo: In short: <one sentence>" (a model's labelled "Summary written by a model"); "" when there is nothing
    to say beyond the card."""
    if approval.summary.strip():
        return f":memo: *In short* ({BY_MODEL}): {safe(approval.summary, limit)}"
    said = plain_summary(approval.artifact_items, description=tool_description(approval.arguments_schema),
                         tool=approval.tool_name)
    return f":memo: *In short:* {safe(said, limit)}" if said else ""


def edited_line(approval: ApprovalRecord) -> str:
    """ ":pencil2: The change was edited by @bob (Revise)" once a reviewer's edit of an artefact decided it; else ""."""
    if approval.pending or not any(item.get("edited") is True for item in approval.artifact_items):
        return ""
    return f":pencil2: The change was edited by {user_ref(approval.decided_by)} (Revise): this is the edited one"


ENGINES = {"temporal": "Temporal", "dbos": "DBOS"}


def workflow_part(workflow: str) -> str:
    """" · workflow `refund-7` (Refund, Temporal)" for a program's durable workflow (its id a link to the engine's
    page of it when the program gave one); "" for none. Every part is the program's: untrusted."""
    try:
        found = json.loads(workflow) if workflow else None
    except ValueError:
        return ""
    if not isinstance(found, dict) or not isinstance(found.get("id"), str):
        return ""
    label = safe(found["id"], 120).replace("`", "'")
    shown = link(found["url"], found["id"][:120]) if isinstance(found.get("url"), str) else f"`{label}`"
    engine = str(found.get("engine") or "")
    about = [safe(str(found.get("type") or ""), 80), escape(ENGINES.get(engine, clean(engine)[:20]))]
    return f" · workflow {shown} ({', '.join(part for part in about if part)})"
