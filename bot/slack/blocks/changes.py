"""The change an approval is about, on its card (pending, decided, in a DM copy): the summary ("+12 −3 in 2 files ·
1 command"), the first hunk of each file as preformatted text, each command, message and query, and a link to the
whole change on the bot's signed-in page (`/approvals/{id}/diff`). The artefacts are read as the record keeps them
(`ApprovalRecord.artifact_items`: hidden values already replaced, bot/redaction/hiding.py) and every text of them
goes through `bot.slack.blocks.text` (untrusted, inert). Whatever the size (a 2,000-line file, a diff of hundreds of
files), the part stays within `CHANGE_BLOCKS` blocks and `CHANGE_BUDGET` characters, and says what it left out
("… 1,990 more lines", "… 495 more files")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from bot.core.diffs import Changes, FileChange, message_words, read, summary_of
from bot.core.records import ApprovalRecord
from bot.slack.blocks.text import Block, clean, code_block, context_block, escape, mrkdwn, untrusted

CHANGE_BUDGET: Final = 4000  # characters of the card's text the change may take (Slack: 12,000 for a message)
CHANGE_BLOCKS: Final = 8  # blocks the change may take (Slack: 50 for a message)
ITEM_LIMIT: Final = 1200  # one file's first hunk, or one command, message or query
HUNK_LINES: Final = 16  # lines of a first hunk shown
LINE_LIMIT: Final = 160  # characters of one line shown
BODY_LINES: Final = 8  # lines of a message's body shown
DIFF_PATH: Final = "/approvals/{id}/diff"


_KEPT = 32  # approvals' changes read lately, kept by their artefacts' text
_read_lately: dict[str, tuple[Changes, str]] = {}


def _read(approval: ApprovalRecord) -> tuple[Changes, str]:
    """An approval's artefacts read (and summed up) once per text: a card, its copies, its redraws and the Homes ask
    again for the same (a 2,000-line file's diff is computed once, not at each)."""
    found = _read_lately.get(approval.artifacts)
    if found is None:
        changes = read(approval.artifact_items)
        found = (changes, summary_of(changes))
        if len(_read_lately) >= _KEPT:
            _read_lately.pop(next(iter(_read_lately)))
        _read_lately[approval.artifacts] = found
    return found


def change_summary(approval: ApprovalRecord) -> str:
    """The approval's change in a few words ("+12 −3 in 2 files · 1 command"), "" when it has no artefacts."""
    return _read(approval)[1] if approval.artifacts else ""


def diff_url(pages: str, approval_id: str) -> str:
    """The address of the whole change on the bot's page, "" without a pages URL."""
    return pages.rstrip("/") + DIFF_PATH.format(id=quote(approval_id, safe="")) if pages else ""


def _more(count: int, word: str) -> str:
    return f"… {count:,} more {word}{'' if count == 1 else 's'}"


def hunk_text(change: FileChange) -> tuple[str, int]:
    """The first hunk of a file as a unified diff writes it (its header, at most HUNK_LINES lines, each cut to
    LINE_LIMIT characters), and how many lines of the file's diff that leaves out."""
    hunk = change.first_hunk
    if hunk is None:
        return "(no line changes)", 0
    lines = [hunk.header] + [line.kind + (line.text if len(line.text) <= LINE_LIMIT else line.text[:LINE_LIMIT] + "…")
                             for line in hunk.lines[:HUNK_LINES]]
    return "\n".join(lines), change.shown_lines + change.lines_left - min(len(hunk.lines), HUNK_LINES)


def file_label(change: FileChange) -> str:
    """"path/to/file.py (+12 −3)", saying a new or deleted file."""
    state = " (new file)" if change.new_file else " (deleted)" if change.deleted else ""
    return f"{clean(change.path)[:200]}{state} · +{change.added:,} −{change.removed:,}"


def file_block(change: FileChange) -> Block:
    text, left = hunk_text(change)
    if left:
        text += "\n" + _more(left, "line")
    return {"type": "section", "text": code_block(text, label=file_label(change), limit=ITEM_LIMIT)}


def other_block(artifact: Mapping[str, Any]) -> Block:
    """A command, a message or a query as the card shows it (every part the program's: untrusted)."""
    kind = artifact.get("kind")
    if kind == "command":
        cwd = artifact.get("cwd")
        label = "Command" + (f" in {clean(str(cwd))[:200]}" if cwd else "")
        return {"type": "section", "text": code_block(str(artifact.get("command") or ""), label=label,
                                                       limit=ITEM_LIMIT)}
    if kind == "query":
        database = artifact.get("database")
        label = "Query" + (f" on {clean(str(database))[:200]}" if database else "")
        return {"type": "section", "text": code_block(str(artifact.get("sql") or ""), label=label, limit=ITEM_LIMIT)}
    to = artifact.get("to")
    people = [str(t) for t in to] if isinstance(to, list) else []
    shown = ", ".join(people[:5]) + (f" and {len(people) - 5:,} more" if len(people) > 5 else "")
    body = str(artifact.get("body") or "").splitlines()
    text = f"To: {shown}\n" + (f"Subject: {artifact.get('subject')}\n" if artifact.get("subject") else "") + "\n"
    text += "\n".join(body[:BODY_LINES]) + (f"\n{_more(len(body) - BODY_LINES, 'line')}" if len(body) > BODY_LINES
                                            else "")
    return {"type": "section", "text": untrusted(text, label=message_words(artifact).capitalize(), limit=ITEM_LIMIT)}


def _items(changes: Changes) -> list[tuple[Block, str]]:
    """Each artefact's block, and the word that counts it when it is left out."""
    return [(file_block(f), "file") for f in changes.files] + [(other_block(a), "artefact") for a in changes.others]


def _size(block: Block) -> int:
    return len(block["text"]["text"])


def change_blocks(approval: ApprovalRecord, *, pages: str = "") -> list[Block]:
    """The change on the card ([] when the approval has no artefacts): its summary, as many items as fit in
    CHANGE_BLOCKS blocks and CHANGE_BUDGET characters (the rest counted), and the link to the whole change (given
    the pages' base URL `pages`)."""
    if not approval.artifacts:
        return []
    changes, said = _read(approval)
    head = mrkdwn(f":mag: *The change:* {escape(said)}" if said else ":mag: *The change*")
    blocks: list[Block] = [{"type": "section", "text": head}]
    url = diff_url(pages, approval.id)
    room = CHANGE_BLOCKS - 1 - 1 - (1 if url else 0)  # the summary, a "more" line, the link
    budget = CHANGE_BUDGET - _size(blocks[0]) - 300
    items = _items(changes)
    shown = 0
    for block, _ in items:
        if shown >= room or _size(block) > budget:
            break
        blocks.append(block)
        budget -= _size(block)
        shown += 1
    left_files = sum(1 for _, word in items[shown:] if word == "file") + changes.files_left
    left_others = sum(1 for _, word in items[shown:] if word != "file")
    more = [_more(n, w) for n, w in ((left_files, "file"), (left_others, "artefact")) if n]
    if more:
        blocks.append(context_block(" · ".join(more) + (": the whole change is on the page" if url else "")))
    if url:
        blocks.append(context_block(f"<{url}|See the whole change> (unified and side by side, after Sign in with"
                                    " Slack)"))
    return blocks
