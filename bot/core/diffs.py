"""An ask's artefacts (`agent_approvals.artifacts`) as people read them: each file change as hunks with line numbers
(computed with difflib from `before` / `after`, or read from the unified diff the program gave), the lines added and
removed, the summary a card, a Home row and a DM say ("+12 −3 in 2 files · 1 command · email to 3 people"), and the
rows of a side-by-side view. Pure: no Slack, no HTML (the card's blocks and the page's template render these).

    >>> change = file_changes({"kind": "file", "path": "a.txt", "before": "a\\nb\\nc\\n", "after": "a\\nB\\nc\\nd\\n"})
    >>> [(f.path, f.added, f.removed) for f in change]
    [('a.txt', 2, 1)]
    >>> change[0].hunks[0].header
    '@@ -1,3 +1,4 @@'
    >>> [line.text for line in change[0].hunks[0].lines]
    ['a', 'b', 'B', 'c', 'd']
    >>> summary([{"kind": "file", "path": "a.txt", "before": "a\\n", "after": "b\\n"},
    ...          {"kind": "command", "command": "make"},
    ...          {"kind": "message", "to": ["a@x.org", "b@x.org"], "body": "hi"}])
    '+1 −1 in 1 file · 1 command · email to 2 people'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

CONTEXT: Final = 3  # lines of context around a change (as `diff -u`)
MAX_DIFF_LINES: Final = 20_000  # lines of a file's diff kept (a page shows these, and says how many more)
MAX_FILES: Final = 1_000  # files read from one unified diff (the rest counted, not read)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT_PATH = re.compile(r"^diff --git a/(.*) b/(.*)$")
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")

Kind = Literal[" ", "+", "-"]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a hunk: kept (" "), added ("+") or removed ("-"), its text (no line end), and its numbers in the
    file before (`old`) and after (`new`); None where it has none."""

    kind: Kind
    text: str
    old: int | None
    new: int | None


@dataclass(frozen=True, slots=True)
class Hunk:
    """A run of changed lines with their context, as a unified diff's `@@ -a,b +c,d @@`."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[Line, ...]

    @property
    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"

    def text(self) -> str:
        """The hunk as a unified diff writes it (header, then each line with its sign)."""
        return "\n".join([self.header, *(line.kind + line.text for line in self.lines)])


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file's change: its path, its hunks, how many lines it adds and removes, whether it is new or deleted, and
    how many lines of its diff were not kept (beyond `MAX_DIFF_LINES`: counted, said, never shown)."""

    path: str
    hunks: tuple[Hunk, ...]
    added: int
    removed: int
    new_file: bool = False
    deleted: bool = False
    lines_left: int = 0
    context_only: bool = False  # the file was given whole, kept as its diff: no unchanged line beyond the context


    @property
    def first_hunk(self) -> Hunk | None:
        return self.hunks[0] if self.hunks else None

    @property
    def shown_lines(self) -> int:
        return sum(len(hunk.lines) for hunk in self.hunks)


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a side-by-side view: the line before (left) and after (right); None on the side that has none."""

    left: Line | None
    right: Line | None

    @property
    def changed(self) -> bool:
        return self.left is None or self.right is None or self.left.kind != " "


@dataclass(frozen=True, slots=True)
class Changes:
    """An ask's artefacts as read: its file changes (in order, a unified diff's files each apart) and the others."""

    files: tuple[FileChange, ...] = ()
    others: tuple[Mapping[str, Any], ...] = field(default=())
    files_left: int = 0  # files of a unified diff beyond MAX_FILES, counted and not read


def _lines(text: str | None) -> list[str]:
    return [] if text is None else text.splitlines()


SMALL: Final = 200  # lines of a differing middle left to difflib whole (a larger one is split at a unique line)


def _common(a: list[str], b: list[str], *, tail: bool = False) -> int:
    """How many lines `a` and `b` have in common at their start (at their end with `tail`): list slices compared
    (in C), halving the step."""
    if tail:
        a, b = a[::-1], b[::-1]
    found, step = 0, max(1, min(len(a), len(b)))
    while step:
        if found + step <= min(len(a), len(b)) and a[found:found + step] == b[found:found + step]:
            found += step
        else:
            step //= 2
    return found


def _blocks(a: list[str], b: list[str], i: int, j: int, out: list[tuple[int, int, int]]) -> None:
    """The matching blocks (`SequenceMatcher.get_matching_blocks`, without its sentinel) of `a` and `b`, each at
    `i` / `j` in the whole texts, added to `out`: the lines they share at their start and end, then a middle of at
    most SMALL lines by difflib, a larger one split at a line it holds once on each side (searched from its centre
    out; none: difflib). Of a large file with a few changes, a few slices compared instead of difflib's lines."""
    head = _common(a, b)
    if head:
        out.append((i, j, head))
    if head == len(a) == len(b):
        return
    tail = _common(a[head:], b[head:], tail=True)
    mid_a, mid_b = a[head:len(a) - tail], b[head:len(b) - tail]
    if min(len(mid_a), len(mid_b)) > SMALL:
        centre = len(mid_a) // 2
        for at in (centre + (k + 1) // 2 * (1 if k % 2 else -1) for k in range(16)):  # centre, +1, -1, +2...
            line = mid_a[at]
            if mid_a.count(line) == 1 and mid_b.count(line) == 1:
                to = mid_b.index(line)
                _blocks(mid_a[:at], mid_b[:to], i + head, j + head, out)
                out.append((i + head + at, j + head + to, 1))
                _blocks(mid_a[at + 1:], mid_b[to + 1:], i + head + at + 1, j + head + to + 1, out)
                break
        else:
            out.extend((i + head + x, j + head + y, n) for x, y, n in difflib.SequenceMatcher(
                None, mid_a, mid_b, autojunk=False).get_matching_blocks()[:-1])
    elif mid_a and mid_b:
        out.extend((i + head + x, j + head + y, n) for x, y, n in difflib.SequenceMatcher(
            None, mid_a, mid_b, autojunk=False).get_matching_blocks()[:-1])
    if tail:
        out.append((i + len(a) - tail, j + len(b) - tail, tail))


class _Matcher(difflib.SequenceMatcher[str]):
    """difflib's matcher of `before` and `after`, its matching blocks found by `_blocks`: its opcodes and their groups
    are difflib's own (made from the blocks alone; difflib's index of `after` is not built)."""

    def __init__(self, before: list[str], after: list[str]) -> None:
        super().__init__(None, [], [], autojunk=False)
        self._before, self._after = before, after
        self._found: list[difflib.Match] | None = None

    def get_matching_blocks(self) -> list[difflib.Match]:
        if self._found is None:
            found: list[tuple[int, int, int]] = []
            _blocks(self._before, self._after, 0, 0, found)
            merged: list[tuple[int, int, int]] = []
            for i, j, n in found:  # adjacent blocks as one (as difflib's are)
                if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
                    merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + n)
                elif n:
                    merged.append((i, j, n))
            merged.append((len(self._before), len(self._after), 0))
            self._found = [difflib.Match(*block) for block in merged]
        return list(self._found)


def _hunks_of(before: list[str], after: list[str]) -> tuple[list[Hunk], int, int]:
    hunks: list[Hunk] = []
    added = removed = 0
    matcher = _Matcher(before, after)
    for group in matcher.get_grouped_opcodes(CONTEXT):
        lines: list[Line] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(Line(" ", before[i], i + 1, j1 + i - i1 + 1) for i in range(i1, i2))
                continue
            lines.extend(Line("-", before[i], i + 1, None) for i in range(i1, i2))
            lines.extend(Line("+", after[j], None, j + 1) for j in range(j1, j2))
            removed, added = removed + i2 - i1, added + j2 - j1
        first, last = group[0], group[-1]
        old_count, new_count = last[2] - first[1], last[4] - first[3]
        hunks.append(Hunk(first[1] + (1 if old_count else 0), old_count, first[3] + (1 if new_count else 0),
                          new_count, tuple(lines)))
    return hunks, added, removed


def _kept(path: str, hunks: Sequence[Hunk], added: int, removed: int, **flags: bool) -> FileChange:
    """A file change with at most MAX_DIFF_LINES lines of diff kept, the rest counted."""
    kept: list[Hunk] = []
    room = MAX_DIFF_LINES
    for hunk in hunks:
        if room <= 0:
            break
        kept.append(hunk if len(hunk.lines) <= room else Hunk(hunk.old_start, hunk.old_count, hunk.new_start,
                                                              hunk.new_count, hunk.lines[:room]))
        room -= len(kept[-1].lines)
    left = sum(len(h.lines) for h in hunks) - sum(len(h.lines) for h in kept)
    return FileChange(path, tuple(kept), added, removed, lines_left=left, **flags)


def unified(before: str, after: str) -> str:
    """The whole unified diff of `before` to `after` (its hunks with CONTEXT lines around each change, no file
    headers, every hunk: MAX_DIFF_LINES applies when it is read); "" when nothing changed. What the plane keeps of a
    file given whole that Revise does not edit (bot/api/service.py `kept_artifact`): `from_diff` reads it back to
    the same hunks as `from_texts`."""
    hunks, _, _ = _hunks_of(_lines(before), _lines(after))
    return "".join(hunk.text() + "\n" for hunk in hunks)


def from_texts(path: str, before: str | None, after: str | None) -> FileChange:
    """A file's change from its whole text before and after (None: the file is new, or deleted)."""
    hunks, added, removed = _hunks_of(_lines(before), _lines(after))
    return _kept(path, hunks, added, removed, new_file=before is None, deleted=after is None)


def from_diff(path: str, diff: str) -> list[FileChange]:
    """The file changes of a unified diff (one file's, or several files' with `---`/`+++` or `diff --git` headers,
    each then under its own path; lines before the first hunk and `\\ No newline` notes are skipped)."""
    found: list[FileChange] = []
    current, hunks, counts = path, [], [0, 0]
    lines: list[Line] = []
    old = new = 0
    header: tuple[int, int, int, int] | None = None

    def close_hunk() -> None:
        if header is not None:
            hunks.append(Hunk(*header, tuple(lines)))

    def close_file() -> None:
        close_hunk()
        if hunks:
            found.append(_kept(current, hunks, counts[0], counts[1]))

    for raw in diff.splitlines():
        git = _GIT_PATH.match(raw)
        start = _HUNK.match(raw)
        if git or (raw.startswith("--- ") and (header is None or _finished(header, old, new))):
            close_file()
            hunks, counts, lines, header = [], [0, 0], [], None
            if git:
                current = git.group(2)
            continue
        if raw.startswith("+++ ") and header is None:
            named = raw[4:].split("\t")[0].strip()
            current = named[2:] if named.startswith("b/") else (current if named == "/dev/null" else named)
            continue
        if start:
            close_hunk()
            a, b, c, d = (int(g) if g is not None else 1 for g in start.groups())
            header, lines, old, new = (a, b, c, d), [], a, c
            continue
        if header is None or raw.startswith("\\"):
            continue
        sign, text = (raw[:1] or " "), raw[1:]
        if sign == "+":
            lines.append(Line("+", text, None, new))
            new, counts[0] = new + 1, counts[0] + 1
        elif sign == "-":
            lines.append(Line("-", text, old, None))
            old, counts[1] = old + 1, counts[1] + 1
        elif sign == " ":
            lines.append(Line(" ", text, old, new))
            old, new = old + 1, new + 1
    close_file()
    return found


def _finished(header: tuple[int, int, int, int], old: int, new: int) -> bool:
    """Whether a hunk has all its lines (a `---` line after it starts the next file, not a removed `--` line)."""
    return old >= header[0] + header[1] and new >= header[2] + header[3]


def file_changes(artifact: Mapping[str, Any]) -> list[FileChange]:
    """A file artefact's change(s): from `before` / `after`, or read from its `diff`; [] for another kind."""
    if artifact.get("kind") != "file":
        return []
    path = str(artifact.get("path") or "")
    diff = artifact.get("diff")
    if isinstance(diff, str) and artifact.get("context_lines") is not None:  # given whole, kept as its diff
        return [replace(change, context_only=True) for change in from_diff(path, diff)] or [
            FileChange(path, (), 0, 0, context_only=True)]
    if isinstance(diff, str):
        return from_diff(path, diff)
    before, after = artifact.get("before"), artifact.get("after")
    return [from_texts(path, before if isinstance(before, str) else None, after if isinstance(after, str) else None)]


def read(artifacts: Iterable[Mapping[str, Any]]) -> Changes:
    """The artefacts of an ask read: file changes (at most MAX_FILES; the rest counted) and the others, in order."""
    files: list[FileChange] = []
    others: list[Mapping[str, Any]] = []
    left = 0
    for artifact in artifacts:
        if artifact.get("kind") == "file":
            changes = file_changes(artifact)
            room = max(0, MAX_FILES - len(files))
            files.extend(changes[:room])
            left += len(changes) - len(changes[:room])
        else:
            others.append(artifact)
    return Changes(tuple(files), tuple(others), left)


def _plural(count: int, word: str, many: str = "") -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def message_words(artifact: Mapping[str, Any]) -> str:
    """"email to 3 people" (every recipient an address), else "message to 2 recipients"."""
    to = artifact.get("to")
    people = [str(t) for t in to] if isinstance(to, list) else []
    if people and all(_ADDRESS.fullmatch(p.strip()) for p in people):
        return f"email to {_plural(len(people), 'person', 'people')}"
    return f"message to {_plural(len(people), 'recipient')}"


def summary(artifacts: Iterable[Mapping[str, Any]]) -> str:
    """The change in a few words, the same on the card, a Home row and a DM: "+12 −3 in 2 files · 1 command ·
    email to 3 people · 1 query" ("" when there are none)."""
    return summary_of(read(artifacts))


def summary_of(changes: Changes) -> str:
    """`summary` of artefacts already read."""
    parts: list[str] = []
    if changes.files:
        files = len(changes.files) + changes.files_left
        added = sum(f.added for f in changes.files)
        removed = sum(f.removed for f in changes.files)
        more = "+" if changes.files_left else ""
        parts.append(f"+{added:,}{more} −{removed:,}{more} in {_plural(files, 'file')}")
    commands = sum(1 for a in changes.others if a.get("kind") == "command")
    if commands:
        parts.append(_plural(commands, "command"))
    parts.extend(message_words(a) for a in changes.others if a.get("kind") == "message")
    queries = sum(1 for a in changes.others if a.get("kind") == "query")
    if queries:
        parts.append(_plural(queries, "query", "queries"))
    return " · ".join(parts)


def side_by_side(hunk: Hunk) -> list[Row]:
    """The rows of a side-by-side view of `hunk`: kept lines on both sides; a run of removed lines beside the added
    lines that replace it (the shorter side padded with None).

    >>> rows = side_by_side(from_texts("f", "a\\nb\\nc\\n", "a\\nB\\nB2\\nc\\n").hunks[0])
    >>> [(r.left and r.left.text, r.right and r.right.text) for r in rows]
    [('a', 'a'), ('b', 'B'), (None, 'B2'), ('c', 'c')]
    """
    rows: list[Row] = []
    removed: list[Line] = []
    added: list[Line] = []

    def flush() -> None:
        for index in range(max(len(removed), len(added))):
            rows.append(Row(removed[index] if index < len(removed) else None,
                            added[index] if index < len(added) else None))
        removed.clear()
        added.clear()

    for line in hunk.lines:
        if line.kind == "-":
            if added:
                flush()
            removed.append(line)
        elif line.kind == "+":
            added.append(line)
        else:
            flush()
            rows.append(Row(line, line))
    flush()
    return rows
