"""Claude Code's own calls as artefacts (`agent_approvals.artifacts`): what an `Edit`, `MultiEdit`, `Write` or
`NotebookEdit` does to the file on disk, and a `Bash` call's command.

    found = sourced(call.tool, call.arguments, cwd=call.cwd)
    found.artifacts   # [{"kind": "file", "path": "notes.txt", "before": <the file now>, "after": <with the edit>}]
    found.note        # "old_string not found in notes.txt": why no change could be computed ("" when it could)

The change is computed as Claude Code 2.1 applies it (its FileEditTool, read in its own source): the file read as
UTF-8, its CRLF line endings taken out before the edit and put back after (when most of its first 4,096
characters' lines end so); `old_string` found as given or, failing that, with curly quotes read as straight ones
(the new text then given the file's curly quotes); the first occurrence replaced (all with `replace_all`), and an
empty `new_string` also taking the line break after `old_string`; an empty `old_string` writes a new (or empty)
file. A `Write` of a path that does not exist is a new file (`before` null). A notebook edit is applied to its JSON
as Claude Code does (a replaced code cell loses its outputs; the notebook written back with one space of indent);
an inserted cell's id is Claude Code's own random one, shown here as `new-cell`.

No change is made up: an edit that does not apply (its `old_string` not in the file, found more than once without
`replace_all`, a file that is not UTF-8 text, one it may not read) gives no artefact and says why in `note`.
`may_read(path)` says which files may be read at all (the bot's HTTP hook reads only the directories its operator
names). A file is read only when it is in the project (`cwd`, symbolic links followed: an artefact's path is
relative to it), a regular file (a FIFO, a device or a socket is never opened to wait on) and at most 4 MiB
(`agent_approvals.files`); else the note says why. A change too large for one ask (the API takes 256 KiB) is sent as
a unified diff with the SHA-256 of the text it applies to, or, larger still, not at all (said in `note`).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from agent_approvals.artifacts import ArtifactError, command, file_change, file_diff, text_sha256
from agent_approvals.files import MOST_READ, TooLarge, inside, regular_bytes

FILE_TOOLS: Final = ("Edit", "MultiEdit", "Write", "NotebookEdit")
BUDGET: Final = 200 * 1024  # characters of artefacts and arguments one ask may carry (the API takes 256 KiB)
_STRAIGHT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_OPENS = " \t\n\r([{\u2014\u2013"
_CELL_INDEX = re.compile(r"cell-(\d+)")


@dataclass(frozen=True, slots=True)
class Sourced:
    """A call's artefacts, and why none could be computed where one was expected."""

    artifacts: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


class NotApplied(ValueError):
    """The edit does not apply to the file as it is (the message says why, as the card says it)."""


def everywhere(path: Path) -> bool:
    """`may_read` of the command hook: it runs as the user, on their machine, as Claude Code does."""
    return True


def sourced(tool: str, arguments: dict[str, Any], *, cwd: str = "",
            may_read: Callable[[Path], bool] = everywhere) -> Sourced:
    """The artefacts of Claude Code's call `tool(arguments)` made in `cwd` (see the module docstring)."""
    if tool == "Bash":
        text = arguments.get("command")
        return Sourced([command(text, cwd or None)]) if isinstance(text, str) and text.strip() else Sourced()
    if tool not in FILE_TOOLS:
        return Sourced()
    name = arguments.get("notebook_path" if tool == "NotebookEdit" else "file_path")
    if not isinstance(name, str) or not name.strip():
        return Sourced()
    path = Path(cwd or ".", name)
    if not may_read(path):
        return Sourced()
    shown = _in_project(path, cwd)
    if shown is None:
        return Sourced(note=f"no diff shown: {name} is outside the project")
    try:
        before = _read(path)
        after = _applied(tool, arguments, before)
        return _fitted(shown, before, after, arguments)
    except NotApplied as exc:
        return Sourced(note=f"{exc} in {shown}")
    except (OSError, ArtifactError) as exc:
        return Sourced(note=f"{shown} cannot be read ({getattr(exc, 'strerror', None) or exc})")


def _in_project(path: Path, cwd: str) -> str | None:
    """The path relative to the project (`cwd`), as an artefact names it and people read it; None when it is not in
    the project (its symbolic links followed) or there is none."""
    if not cwd or not inside(cwd, path):
        return None
    shown = os.path.relpath(path, cwd)
    if shown.split(os.sep)[0] == "..":  # in it only through a link: named by where it leads
        shown = os.path.relpath(os.path.realpath(path), os.path.realpath(cwd))
    return shown


def _read(path: Path) -> str | None:
    """The file's text as it is on disk (None: there is no file)."""
    try:
        raw = regular_bytes(path, most=MOST_READ)
    except FileNotFoundError:
        return None
    except TooLarge:
        raise NotApplied(f"no diff shown: larger than {MOST_READ // (1024 * 1024)} MiB") from None
    if raw[:2] == b"\xff\xfe":
        raise NotApplied("no diff shown: the file is UTF-16 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotApplied("no diff shown: the file is not UTF-8 text") from None


def _applied(tool: str, arguments: dict[str, Any], before: str | None) -> str:
    """The file's text after the call, as Claude Code writes it."""
    if tool == "Write":
        content = arguments.get("content")
        if not isinstance(content, str):
            raise NotApplied("no content to write")
        return content
    if before is None and tool == "NotebookEdit":
        raise NotApplied("the notebook does not exist")
    text = (before or "").replace("\r\n", "\n")
    crlf = _crlf((before or "")[:4096])
    if tool == "NotebookEdit":
        after = _notebook(text, arguments)
    else:
        edits = arguments.get("edits") if tool == "MultiEdit" else [arguments]
        if not isinstance(edits, list) or not edits:
            raise NotApplied("no edits")
        after = _edited(text, edits, exists=before is not None)
    return after.replace("\n", "\r\n") if crlf else after


def _crlf(head: str) -> bool:
    """Claude Code's line endings of a file: CRLF when more of its first lines end in CRLF than in LF alone."""
    crlf = head.count("\r\n")
    return crlf > head.count("\n") - crlf


def _edited(text: str, edits: list[Any], *, exists: bool) -> str:
    """`text` with `edits` ({old_string, new_string, replace_all}) applied in order, as Claude Code applies them."""
    current, made = text, []
    for edit in edits:
        if not isinstance(edit, dict):
            raise NotApplied("an edit is not an object")
        old, new, every = edit.get("old_string"), edit.get("new_string"), edit.get("replace_all") is True
        if not isinstance(old, str) or not isinstance(new, str):
            raise NotApplied("old_string and new_string must be text")
        if old == new:
            raise NotApplied("old_string and new_string are the same")
        if old == "":
            if exists and current.strip():
                raise NotApplied("old_string is empty but the file exists")
            current = new
            made.append(new)
            continue
        if not exists:
            raise NotApplied("the file does not exist: old_string not found")
        stem = old.rstrip("\n")
        if stem and any(stem in earlier for earlier in made):
            raise NotApplied("old_string is a substring of a new_string from a previous edit")
        actual = _actual(current, old)
        if actual is None:
            raise NotApplied("old_string not found")
        found = current.count(actual)
        if found > 1 and not every:
            raise NotApplied(f"old_string found {found} times (replace_all is false)")
        current = _replaced(current, actual, _styled(old, actual, new), every)
        made.append(new)
    if current == text:
        raise NotApplied("the edit changes nothing")
    return current


def _actual(text: str, old: str) -> str | None:
    """The text in the file `old` stands for: itself, or the same with the file's curly quotes."""
    if old in text:
        return old
    index = text.translate(_STRAIGHT).find(old.translate(_STRAIGHT))
    return None if index == -1 else text[index:index + len(old)]


def _styled(old: str, actual: str, new: str) -> str:
    """`new` with the curly quotes of the file's text (`actual`) where `old` had straight ones."""
    if old == actual:
        return new
    doubles, singles = "\u201c" in actual or "\u201d" in actual, "\u2018" in actual or "\u2019" in actual
    chars = list(new)
    for index, char in enumerate(chars):
        opens = index == 0 or chars[index - 1] in _OPENS
        if char == '"' and doubles:
            chars[index] = "\u201c" if opens else "\u201d"
        elif char == "'" and singles:
            inside = 0 < index < len(chars) - 1 and chars[index - 1].isalpha() and chars[index + 1].isalpha()
            chars[index] = "\u2019" if inside or not opens else "\u2018"
    return "".join(chars)


def _replaced(text: str, old: str, new: str, every: bool) -> str:
    """Claude Code's replacement: the first (or every) `old`; an empty `new` also takes `old`'s line break."""
    if new == "" and not old.endswith("\n") and old + "\n" in text:
        old += "\n"
    return text.replace(old, new) if every else text.replace(old, new, 1)


def _notebook(text: str, arguments: dict[str, Any]) -> str:
    """The notebook's JSON after Claude Code's NotebookEdit."""
    try:
        notebook = json.loads(text)
        cells = notebook["cells"]
    except (ValueError, KeyError, TypeError):
        raise NotApplied("the notebook is not valid JSON") from None
    source, cell_id = arguments.get("new_source"), arguments.get("cell_id")
    kind, mode = arguments.get("cell_type"), arguments.get("edit_mode") or "replace"
    if not isinstance(source, str) or not isinstance(cells, list):
        raise NotApplied("no new_source")
    index = _cell_index(cells, cell_id, insert=mode == "insert")
    if mode == "replace" and index == len(cells):
        mode, kind = "insert", kind or "code"
    if not 0 <= index <= len(cells) or (mode != "insert" and index == len(cells)):
        raise NotApplied(f"cell {cell_id} not found")
    if mode == "delete":
        del cells[index]
    elif mode == "insert":
        cells.insert(index, _new_cell(source, kind))
    else:
        _replace_cell(cells[index], source, kind)
    return json.dumps(notebook, indent=1, ensure_ascii=False)


def _cell_index(cells: list[Any], cell_id: Any, *, insert: bool) -> int:
    """Where the edit goes: the cell `cell_id` names (its id, else `cell-N`; after it to insert), else the first."""
    if not cell_id:
        return 0
    index = next((i for i, cell in enumerate(cells) if isinstance(cell, dict) and cell.get("id") == cell_id), -1)
    if index == -1 and (number := _CELL_INDEX.fullmatch(str(cell_id))):
        index = int(number.group(1))
    if index == -1:
        raise NotApplied(f"cell {cell_id} not found")
    return index + 1 if insert else index


def _new_cell(source: str, kind: Any) -> dict[str, Any]:
    new: dict[str, Any] = {"cell_type": "markdown" if kind == "markdown" else "code", "id": "new-cell",
                           "source": source, "metadata": {}}
    if new["cell_type"] == "code":
        new.update(execution_count=None, outputs=[])
    return new


def _replace_cell(cell: dict[str, Any], source: str, kind: Any) -> None:
    cell["source"] = source
    if cell.get("cell_type") == "code":
        cell.update(execution_count=None, outputs=[])
    if kind and kind != cell.get("cell_type"):
        cell["cell_type"] = kind


def _fitted(path: str, before: str | None, after: str, arguments: dict[str, Any]) -> Sourced:
    """The file change as before/after text, or as a unified diff when that is too large for one ask."""
    room = BUDGET - len(json.dumps(arguments, ensure_ascii=False))
    if len(before or "") + len(after) <= room:
        return Sourced([file_change(path, before, after)])
    lines = difflib.unified_diff((before or "").splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"a/{path}" if before is not None else "/dev/null", tofile=f"b/{path}")
    diff = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    if before is not None and 0 < len(diff) <= room:
        return Sourced([file_diff(path, diff, text_sha256(before))])
    return Sourced(note=f"no diff shown: the change to {path} is too large for one ask")
