"""One plain sentence of what an approval does, for people who do not read diffs (#79.6), made deterministically from
the tool's schema description and the artefacts: "Changes 2 lines in src/prices.py and runs make deploy." (pure).

    plain_summary(artifacts, description="", tool="")   the sentence ("" when there is nothing to say)
    tool_description(schema)   the tool's description, as its arguments' JSON schema (text) gives it

Every part is the asker's (paths, commands, recipients, the description): the sentence is untrusted text, shown
through the one escaping path (bot/slack/blocks/text.py) like any other. A model may write it instead where
MODEL_CONFIG names one (bot/runs/summaries.py), labelled as written by a model.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

PART_CHARS: Final = 60  # a path, a command, a recipient, a database, at most (cut with "…")
MOST_PARTS: Final = 4  # artefacts named one by one; more are counted ("and 3 more changes")
DESCRIPTION_CHARS: Final = 160


def plain_summary(artifacts: Sequence[Mapping[str, Any]], *, description: str = "", tool: str = "") -> str:
    """One sentence: what each artefact does, joined ("Changes 2 lines in a.py, creates b.py and runs make"), else
    the first sentence of the tool's description, else "" (nothing to say beyond the card)."""
    parts = [part for part in (_part(item) for item in artifacts[:MOST_PARTS]) if part]
    if len(artifacts) > MOST_PARTS:
        parts.append(f"{len(artifacts) - MOST_PARTS} more change{'s' if len(artifacts) - MOST_PARTS > 1 else ''}")
    if parts:
        said = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return _sentence(said)
    first = _first_sentence(description)
    if first:
        return _sentence(f"Calls {_cut(tool)}: {first}" if tool else first)
    return ""


def _part(item: Mapping[str, Any]) -> str:
    kind = item.get("kind")
    if kind == "file":
        return _file(item)
    if kind == "command":
        where = f" in {_cut(item['cwd'])}" if isinstance(item.get("cwd"), str) and item["cwd"] else ""
        return f"runs {_cut(str(item.get('command') or ''))}{where}"
    if kind == "message":
        to = [str(r) for r in item.get("to") or []]
        who = _cut(to[0]) if len(to) == 1 else f"{len(to)} people"
        return f"sends a message to {who}"
    if kind == "query":
        on = f" on {_cut(item['database'])}" if isinstance(item.get("database"), str) and item["database"] else ""
        return f"runs a query{on}"
    return ""


def _file(item: Mapping[str, Any]) -> str:
    path = _cut(str(item.get("path") or "a file"))
    before, after, diff = item.get("before"), item.get("after"), item.get("diff")
    if isinstance(diff, str):
        return f"changes {_lines(changed_in_diff(diff))} in {path}"
    if before is None and isinstance(after, str):
        return f"creates {path} ({_lines(len(after.splitlines()))})"
    if after is None:
        return f"deletes {path}"
    return f"changes {_lines(changed_lines(str(before), str(after)))} in {path}"


def changed_lines(before: str, after: str) -> int:
    """Lines changed from `before` to `after`: each line removed or added, a replaced line counted once."""
    old, new = before.splitlines(), after.splitlines()
    start = 0  # the lines both start and end with are left out first: a small edit of a long file costs little
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    changed = 0
    matcher = difflib.SequenceMatcher(None, old[start:len(old) - end], new[start:len(new) - end], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            changed += max(i2 - i1, j2 - j1)
    return changed


def changed_in_diff(diff: str) -> int:
    """Lines changed in a unified diff: the larger of its removed and added lines (headers not counted)."""
    lines = diff.splitlines()
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return max(added, removed)


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count:,} lines"


def _cut(text: str, limit: int = PART_CHARS) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _first_sentence(description: str) -> str:
    one = " ".join(description.split())
    end = one.find(". ")
    return _cut(one[: end + 1] if end >= 0 else one, DESCRIPTION_CHARS)


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def tool_description(schema: str) -> str:
    """The tool's description as the JSON schema of its arguments (`ApprovalRecord.arguments_schema`) gives it, at its
    top level; "" when none (or not JSON)."""
    try:
        found = json.loads(schema) if schema else None
    except ValueError:
        return ""
    described = found.get("description") if isinstance(found, dict) else None
    return described if isinstance(described, str) else ""
