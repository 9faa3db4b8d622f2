"""The one escaping path for text in Block Kit: every builder in `bot.slack.blocks` makes its text objects here.

Untrusted text (the task, agent output, feedback, anything a person or a model wrote) is stripped of
control characters and direction overrides, escaped, cut to Slack's limits, and sent in a mrkdwn object
with `verbatim: true`: it never becomes live Slack markup (no mention, no link, no broken card), and it
still shows as typed. Slack's mrkdwn treats only `&`, `<` and `>` as control characters, so escaping those
three is all it takes. Live markup (mentions, channel links, dates) is made only here, and only from ids
that match Slack's id format. A person is shown by `user_ref` alone: a Slack user's mention, a Teams-only person
(`teams:<object id>`) by their name (untrusted: `name_text`, inert even as bold or italics) and "(Teams)".
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.core.msteams import is_teams_person
from bot.core.records import SLACK_ID

Block = dict[str, Any]

TEXT_LIMIT = 3000  # a text object
HEADER_LIMIT = 150
PROPOSAL_LIMIT = 2900  # proposal section on a card, leaves room for its label
SHOWN_LIMIT = PROPOSAL_LIMIT - 60  # arguments or code shown whole on a card (else cut, full text in the thread)
TASK_LIMIT = 600
SECTION_LIMIT = 2900  # one section's text in a list of lines (Slack: 3000)
TEXT_BUDGET = 11000  # all the text of one message's blocks (Slack refuses a message over 12,000)
FEEDBACK_LIMIT = 1500
NAME_LIMIT = 80  # a person's name shown in a line
TEAMS_MARK = " (Teams)"  # after a Teams-only person's name
Names = Mapping[str, str]  # a Teams-only person's id -> their name (`CardService.names`), for `user_ref`
NO_NAMES: Names = {}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_CUT = "… (cut)"
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_.:-]")
_FENCE_LANG = re.compile(r"```[A-Za-z0-9_+.-]*[ \t]*\n")
# mrkdwn's formatting marks (bold, italics, strike, code) as look-alikes that mark nothing, for a name in a line
MARKS = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})


def escape(text: str) -> str:
    """Slack's three mrkdwn control characters (`&`, `<`, `>`), and nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clean(text: str) -> str:
    """Untrusted text without control characters or direction overrides."""
    return _CONTROL.sub("", text)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, saying so when cut."""
    return text if len(text) <= limit else text[: limit - len(_CUT)].rstrip() + _CUT


def safe(text: str, limit: int = TEXT_LIMIT) -> str:
    """Untrusted text made inert for a mrkdwn object: cleaned, cut, then escaped within `limit`."""
    escaped = escape(clean(text))
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: limit - len(_CUT)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:  # never split an entity
        cut = cut[:amp]
    return cut.rstrip() + _CUT


def fits(text: str, limit: int) -> bool:
    """Whether untrusted `text` shows whole within `limit` characters (after cleaning and escaping)."""
    return len(escape(clean(text))) <= limit


def untrusted(text: str, *, label: str = "", limit: int = TEXT_LIMIT) -> dict[str, Any]:
    """A mrkdwn text object for untrusted text, with an optional trusted bold label above it."""
    prefix = f"*{escape(clean(label))}*\n" if label else ""
    body = safe(text, limit - len(prefix))
    if not body.strip():
        body = "_(empty)_"
    return {"type": "mrkdwn", "text": prefix + body, "verbatim": True}


def untrusted_parts(text: str, *, size: int = 2900) -> list[dict[str, Any]]:
    """Untrusted text of any length as inert mrkdwn objects of at most `size` characters each,
    split on escaped text so that no part is cut and no entity is split."""
    escaped = escape(clean(text))
    parts: list[dict[str, Any]] = []
    while escaped:
        cut = min(size, len(escaped))
        amp = escaped.rfind("&", max(0, cut - 5), cut)
        if cut < len(escaped) and amp != -1 and ";" not in escaped[amp:cut]:
            cut = amp
        parts.append({"type": "mrkdwn", "text": escaped[:cut], "verbatim": True})
        escaped = escaped[cut:]
    return parts


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn object for text we composed ourselves (mentions of ids we checked)."""
    return {"type": "mrkdwn", "text": text[:TEXT_LIMIT], "verbatim": True}


def made_safe(text: str) -> dict[str, Any]:
    """A mrkdwn object of text its builder already made inert piece by piece (with `safe`), not cut here."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain(text: str, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    """A plain_text object (never markup), cleaned and cut to `limit`."""
    return {"type": "plain_text", "text": clip(clean(text), limit) or " ", "emoji": True}


def modal(title: str, blocks: list[Block], *, close: str = "Cancel", submit: str = "", callback_id: str = "",
          metadata: str = "") -> Block:
    """A modal view: its title and buttons (within Slack's 24 characters), its blocks; a view that is submitted has
    its `callback_id` and `private_metadata`, one without `submit` only closes."""
    view: Block = {"type": "modal"}
    if callback_id:
        view |= {"callback_id": callback_id, "private_metadata": metadata}
    view["title"] = plain(title, 24)
    if submit:
        view["submit"] = plain(submit, 24)
    return view | {"close": plain(close, 24), "blocks": blocks}


def context_block(text: str) -> Block:
    """A context block of text we composed ourselves."""
    return {"type": "context", "elements": [mrkdwn(text)]}


def line_sections(lines: Iterable[str], budget: int) -> tuple[list[Block], int]:
    """Lines we composed (inert already) in as few sections as hold them (each within SECTION_LIMIT), up to
    `budget` characters in all: the sections, and how many of the lines they hold (the rest did not fit)."""
    sections: list[list[str]] = [[]]
    size = shown = 0
    for line in lines:
        if len(line) + 1 > budget:
            break
        if sections[-1] and size + 1 + len(line) > SECTION_LIMIT:
            sections.append([])
            size = 0
        sections[-1].append(line)
        size += len(line) + 1
        budget -= len(line) + 1
        shown += 1
    return [{"type": "section", "text": mrkdwn("\n".join(chunk))} for chunk in sections if chunk], shown


def user_ref(user_id: str, names: Names = NO_NAMES) -> str:
    """A person as every Slack surface shows them: a mention of a Slack user id we received from Slack; a Teams-only
    person (`teams:<object id>`) by the name `names` gives them (the Teams file's, else Teams': untrusted, inert) with
    "(Teams)" after it; anything else (a Teams person with no name known) shown inert."""
    if SLACK_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    name = name_text(names.get(user_id, "")) if is_teams_person(user_id) else ""
    return name + TEAMS_MARK if name else escape(clean(user_id)) or "someone"


def name_text(name: str, limit: int = NAME_LIMIT) -> str:
    """A name someone chose (untrusted) made inert within a mrkdwn line: `safe`, with mrkdwn's formatting marks
    (`*`, `_`, `~`, `` ` ``) as look-alikes that format nothing; "" for a blank one."""
    return safe(" ".join(clean(name).split()).translate(MARKS), limit)


_SAFE_URL = re.compile(r"^https://[^\s<>|]{1,2000}$")


def link(url: str, label: str) -> str:
    """A link to an https URL a program gave us (one without spaces or markup), else the URL as inert text."""
    if _SAFE_URL.fullmatch(url):
        return f"<{url}|{escape(clean(label))}>"
    return escape(clean(url))[:300]


_WORKSPACE_URL = re.compile(r"^https?://[A-Za-z0-9.-]{1,120}(:[0-9]{1,5})?/?$")
_TS = re.compile(r"^[0-9]{10}\.[0-9]{6}$")


def permalink(workspace_url: str, channel: str, ts: str) -> str:
    """The address of a message (the workspace's URL from `auth.test` + channel + ts, as Slack's permalinks),
    '' unless all three are well formed."""
    if not (_WORKSPACE_URL.fullmatch(workspace_url) and SLACK_ID.fullmatch(channel) and _TS.fullmatch(ts)):
        return ""
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"


def message_link(url: str, label: str) -> str:
    """`<url|label>` for an address `permalink` made (fixed-word `label`), else the label alone."""
    return f"<{url}|{escape(clean(label))}>" if url and _WORKSPACE_URL.match(url.split("/archives/")[0]) else label


def people_refs(ids: Sequence[str], names: Names = NO_NAMES) -> str:
    """Mentions of users and user groups by id, Teams-only people by name (`user_ref`); "anyone" when there are
    none."""
    if not ids:
        return "anyone"
    refs = [f"<!subteam^{i}>" if i.startswith("S") and SLACK_ID.fullmatch(i) else user_ref(i, names) for i in ids]
    return refs[0] if len(refs) == 1 else ", ".join(refs[:-1]) + " or " + refs[-1]


def channel_ref(channel_id: str) -> str:
    """A link to a channel id; anything else is shown inert."""
    return f"<#{channel_id}>" if SLACK_ID.fullmatch(channel_id) else escape(clean(channel_id))


def date_ref(epoch: float) -> str:
    """A date each reader sees in their own time zone (UTC where the client cannot)."""
    stamp = int(epoch)
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))
    return f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|{fallback}>"


def tool_label(name: str) -> str:
    """A tool's name as inline code: only the characters tool names use."""
    return f"`{_TOOL_NAME.sub('', name)[:64] or 'tool'}`"


def code_block(text: str, *, label: str = "", limit: int = SHOWN_LIMIT) -> dict[str, Any]:
    """Untrusted text as an inert mrkdwn code block: escaped like `untrusted()`, and no ``` inside
    can close the block early."""
    inner = clean(text).replace("```", "`\u200b``").strip("\n") or " "
    prefix = f"*{escape(clean(label))}*\n" if label else ""
    return {"type": "mrkdwn", "text": prefix + "```" + safe(inner, limit) + "```", "verbatim": True}


def code_text(text: str, *, label: str = "", limit: int = SHOWN_LIMIT) -> dict[str, Any]:
    """Code blocks written by an agent (```python ...```), shown as Slack code blocks: untrusted,
    escaped, the language tags dropped (Slack shows them as text)."""
    body = safe(_FENCE_LANG.sub("```\n", clean(text)), limit)
    if body.count("```") % 2:  # cut inside a block: close it
        body += "\n```"
    prefix = f"*{escape(clean(label))}*\n" if label else ""
    return {"type": "mrkdwn", "text": prefix + (body or "_(empty)_"), "verbatim": True}
