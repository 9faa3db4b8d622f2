"""What a tool's call changes, for the MCP gateway: the artefacts (`agent_approvals.artifacts`) a tool marks in its
`inputSchema`, or the gateway's own `--artifact` says, made of the call's arguments; and the check, right before an
approved call is forwarded, that each file it changes is still as approved.

A mark names which argument holds what, one object per artefact (or a list of them), under `x-artifact` at the top
of the tool's `inputSchema`:

    {"type": "object", "properties": {"path": ..., "content": ...},
     "x-artifact": {"kind": "file", "path": "path", "after": "content"}}

    file      path (required), after (required): the file's `before` is the file on disk now (a missing file: a
              new one), read only under the directories `--files` names (the artefact's path is relative to the
              one it is in), only a regular file of at most 4 MiB (a FIFO, a device or a socket is never opened to
              wait on: `agent_approvals.files`); elsewhere no artefact is made
    command   command (required), cwd
    message   to (required), subject, body (required)
    query     sql (required), database

A tool that does not mark itself is marked by the gateway's `--artifact TOOL=JSON` (the same object or list),
which wins over the schema's. A mark the gateway is given that is not one stops it at start (`BadMark`, naming
what); one an upstream's schema carries that is not one is ignored, with a log line (the upstream is not trusted).
An argument a mark names that is absent or not text (a `to` may be a list of text) makes no artefact: the card
shows the arguments, as for a tool with no mark. Files are read off the event loop on the file readers' own threads,
at most READ_TIMEOUT seconds (`made`, `checked`). Nothing here forwards or asks.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from agent_approvals.artifacts import ArtifactError, normalised, under
from agent_approvals.files import MOST_READ, READ_TIMEOUT, inside, off_loop, regular_bytes

log = logging.getLogger("agent_approvals.mcp_gateway")
MARK: Final = "x-artifact"
NAMED: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {  # kind: (required, optional) argument names
    "file": (("path", "after"), ()),
    "command": (("command",), ("cwd",)),
    "message": (("to", "body"), ("subject",)),
    "query": (("sql",), ("database",)),
}


class BadMark(ValueError):
    """A mark that is not one (the message says what it must be)."""


def marks_of(value: Any) -> list[dict[str, str]]:
    """The marks `value` holds (an object or a list of objects), each checked; else `BadMark`."""
    given = value if isinstance(value, list) else [value]
    if not given or len(given) > 20:
        raise BadMark("x-artifact must be an object, or a list of 1 to 20 objects")
    checked = []
    for mark in given:
        if not isinstance(mark, dict) or mark.get("kind") not in NAMED:
            raise BadMark(f"each x-artifact needs a kind: one of {', '.join(NAMED)}")
        required, optional = NAMED[mark["kind"]]
        names = {k: v for k, v in mark.items() if k != "kind"}
        unknown = sorted(set(names) - set(required) - set(optional))
        if unknown or not set(required) <= set(names):
            raise BadMark(f"a {mark['kind']} x-artifact names the arguments of {', '.join(required)} (and may of"
                          f" {', '.join(optional) or 'nothing else'}), not {', '.join(unknown) or 'less'}")
        if not all(isinstance(v, str) and v for v in names.values()):
            raise BadMark("each field of an x-artifact names an argument (a non-empty string)")
        checked.append({"kind": mark["kind"], **names})
    return checked


def configured(specs: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """`--artifact TOOL=JSON` options as each tool's marks; `BadMark` naming the option that is not one."""
    found: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        tool, _, text = spec.partition("=")
        try:
            if not tool.strip():
                raise BadMark("it must be TOOL=JSON")
            found[tool.strip()] = marks_of(json.loads(text))
        except (ValueError, BadMark) as exc:
            raise BadMark(f"--artifact {spec[:80]!r}: {exc}") from None
    return found


class Marks:
    """The artefacts of a gateway's calls, and their check at execution.

    Args:
        configured: each tool's marks from `--artifact` (they win over the schema's).
        files: the directories whose files may be read for a file change's `before` (`--files`; none: no file); a
            file change's path is relative to the one it is in (the first that holds it).
        root: what a relative path in a call's arguments is relative to (the gateway's working directory).
    """

    def __init__(self, configured: Mapping[str, list[dict[str, str]]] | None = None, *, files: Sequence[str] = (),
                 root: str = ".") -> None:
        self.configured = dict(configured or {})
        self.may_read: Callable[[Path], bool] = under(files)
        self.files = tuple(os.path.realpath(directory) for directory in files if directory)
        self.root = root

    def marks(self, name: str, schema: Mapping[str, Any]) -> list[dict[str, str]]:
        """The marks of tool `name` (its `inputSchema` is `schema`): the gateway's own, else the schema's."""
        if name in self.configured:
            return self.configured[name]
        if MARK not in schema:
            return []
        try:
            return marks_of(schema[MARK])
        except BadMark as exc:
            log.warning("ignored the x-artifact of %s: %s", name, exc)
            return []

    def artifacts(self, name: str, schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The artefacts of the call `name(arguments)`, each made from the arguments its mark names."""
        made = []
        for mark in self.marks(name, schema):
            values = {field: arguments.get(argument) for field, argument in mark.items() if field != "kind"}
            try:
                made.append(self._file(values) if mark["kind"] == "file" else
                            normalised({"kind": mark["kind"], **values}))
            except (ArtifactError, _Unread) as exc:
                log.info("no %s artefact for %s: %s", mark["kind"], name, exc)
        return made

    async def made(self, name: str, schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
        """`artifacts`, off the event loop; none when a file is not read within READ_TIMEOUT seconds."""
        try:
            return await off_loop(self.artifacts, name, schema, arguments)
        except TimeoutError:
            log.warning("no artefact for %s: a file was not read within %g s", name, READ_TIMEOUT)
            return []

    def _file(self, values: dict[str, Any]) -> dict[str, Any]:
        path = values["path"]
        if not isinstance(path, str) or not path.strip():
            raise _Unread("no path")
        where = Path(self.root, path)
        base = next((directory for directory in self.files if inside(directory, where)), None)
        if base is None:
            raise _Unread(f"{path} is not under --files")
        try:
            before: str | None = regular_bytes(where, most=MOST_READ).decode("utf-8")
        except FileNotFoundError:
            before = None
        except UnicodeDecodeError:
            raise _Unread(f"{path} is not UTF-8 text") from None
        except OSError as exc:
            raise _Unread(f"{path} cannot be read ({exc.strerror or exc})") from None
        return normalised({"kind": "file", "path": os.path.relpath(os.path.realpath(where), base), "before": before,
                           "after": values["after"]})

    async def checked(self, name: str, schema: Mapping[str, Any], arguments: Mapping[str, Any],
                      approved: Sequence[Mapping[str, Any]]) -> str:
        """Why the approved call `name(arguments)` may not be forwarded as it is (`changed`: its artefacts made
        again now, off the event loop); a file not read within READ_TIMEOUT seconds is not forwarded either."""
        if not any(shown.get("kind") == "file" or shown.get("edited") is True for shown in approved):
            return ""
        try:
            now = await off_loop(self.artifacts, name, schema, arguments)
        except TimeoutError:
            return f"a file it changes was not read within {READ_TIMEOUT:g} s to check it is still as approved"
        return self.changed(approved, now)

    def changed(self, approved: Sequence[Mapping[str, Any]], now: Sequence[Mapping[str, Any]]) -> str:
        """Why an approved call may not be forwarded as it is: a reviewer edited its change (the gateway forwards
        the arguments, not an edited artefact), or a file it changes is no longer as approved (the approval's
        `before_sha256` of each file change against the file as it is `now`, read as it was when asked; one that
        cannot be read now is not forwarded either); else ""."""
        if any(shown.get("edited") is True for shown in approved):
            return "the change was edited by its reviewer, and the gateway forwards only the call as made"
        current = {made["path"]: made for made in now if made.get("kind") == "file"}
        for shown in approved:
            if shown.get("kind") != "file":
                continue
            path, before = shown.get("path"), shown.get("before_sha256")
            found = current.get(path)
            if found is None:
                return f"{path} cannot be read now to check it is still as approved"
            if found["before_sha256"] == before:
                continue
            if before is None:
                return f"{path} exists now, but the approval was for a new file (it was created after the approval)"
            if found["before_sha256"] is None:
                return f"{path} no longer exists (it was changed after the approval)"
            return f"{path} was changed after the approval (its content is not what was approved)"
        return ""


class _Unread(ValueError):
    """No file artefact: the file may not, or cannot, be read."""
