"""What a push says (issue 90): the JSON the service worker shows as a notification (bot/templates/push/sw.js).

The card's words only: the title (the request), the agent, the change's summary words (those the card and the e-mail
show: a model's summary, else the one made from the artefacts, the diff's "+12 −3 in 2 files", the tool's name), whether
it is parked and who holds it (timeout `never`, as the e-mail and the Home say) and two actions, Approve and Reject,
whose URL opens the bot's confirm page for that approval (a signed link bound to the person, bot/push/links.py). Never
the call's arguments nor any hidden value: every word comes from the approval as Redis keeps it, redacted
(bot/redaction), and the arguments are not read. A push service sees only ciphertext (RFC 8291); the payload stays under
`LIMIT` bytes (what every push service takes)."""

from __future__ import annotations

import json
from typing import Final

from bot.core.card_words import parked_line
from bot.core.diffs import read, summary_of
from bot.core.plain_summary import plain_summary, tool_description
from bot.core.records import ApprovalRecord
from bot.core.writing import PlainWriting

LIMIT: Final = 3000  # bytes of JSON (push services take 4096 of ciphertext)
HEADINGS: Final = {"opened": "Waiting for your decision", "reminded": "Reminder: waiting for your decision",
                   "escalated": "Escalated to you: waiting for a decision"}


def one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def summary_words(approval: ApprovalRecord) -> str:
    """The change in the card's words: a model's summary (labelled), else the artefacts' plain summary, the diff's
    counts and the tool's name; never its arguments."""
    parts = []
    if approval.summary.strip():
        parts.append(f"{one_line(approval.summary, 200)} (summary written by a model)")
    else:
        said = plain_summary(approval.artifact_items, description=tool_description(approval.arguments_schema),
                             tool=approval.tool_name)
        if said:
            parts.append(said)
    if approval.artifacts:
        counts = summary_of(read(approval.artifact_items))
        if counts:
            parts.append(counts)
    if approval.tool_name and not parts:
        parts.append(f"Calls {approval.tool_name}")
    return one_line(" · ".join(parts), 300)


def agent_words(approval: ApprovalRecord) -> str:
    name = one_line(approval.author, 40)
    return f"the agent calling itself “{name}”" if approval.asked_by else name


def push_payload(approval: ApprovalRecord, *, link: str, kind: str = "opened") -> bytes:
    """The push of `approval` for one person, `kind` "opened", "reminded" or "escalated", its actions opening
    `link` (their confirm page), as UTF-8 JSON."""
    what = "Tool call" if approval.kind == "tool_call" else "Code" if approval.kind == "code" else "Message"
    body = {
        "heading": HEADINGS.get(kind.partition("-")[0], HEADINGS["opened"]),
        "title": one_line(approval.task or what, 120),
        "agent": agent_words(approval),
        "summary": summary_words(approval),
        "parked": parked_line(approval, PlainWriting()),  # timeout `never`: parked, and who holds it ("" else)
        "approval": approval.id,
        "kind": kind,
        "url": link,
        "actions": [{"action": "approve", "title": "Approve", "url": f"{link}?verb=approved"},
                    {"action": "reject", "title": "Reject", "url": f"{link}?verb=rejected"}],
    }
    data = json.dumps(body, ensure_ascii=False).encode()
    if len(data) > LIMIT:  # (never the link: the words cut)
        body.update(summary=one_line(str(body["summary"]), 80), title=one_line(str(body["title"]), 60),
                    agent=one_line(str(body["agent"]), 40), parked=one_line(str(body["parked"]), 120))
        data = json.dumps(body, ensure_ascii=False).encode()
    return data
