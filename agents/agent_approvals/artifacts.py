"""Artefacts: the change an ask is about, as it will happen, so a reviewer sees it and the executor is held to it.

An ask may carry `artifacts`, a list of at most MAX_ARTIFACTS of these (JSON objects, each with its `kind`):

    file      {"kind": "file", "path", "before", "after", "diff", "before_sha256"}
              `path`: relative to the executor's root and never out of it: not absolute (`/etc/passwd`,
              `C:\\x`, `\\\\server\\x`), no `..` that climbs above it (`../x`, `a/../../x`); `before` / `after`:
              the file's whole text before and after (`before` null: a new file; `after` null: the file deleted),
              or `diff`: a unified diff with the `before_sha256` of the text it applies to
    command   {"kind": "command", "command", "cwd"}
    message   {"kind": "message", "to": [...], "subject", "body"}: as it will be sent
    query     {"kind": "query", "sql", "database"}

    normalised(artifact)     the artefact as the plane keeps it: every field of its kind (absent ones null), a file's
                             `before_sha256` computed from its `before`; `ArtifactError` (naming the field) if not one
    artifact_sha256(a)       hex SHA-256 of the RFC 8785 canonical JSON of `normalised(a)`: what a receipt binds
    text_sha256(text)        hex SHA-256 of the UTF-8 text (a file's `before_sha256`)
    disk_mismatch(a, root)   why the file on disk is no longer the approved `before` (None when it is): an executor
                             checks it before applying an approved file change. Only a regular file under `root` is
                             read (`agent_approvals.files`): one a symbolic link takes out of `root`, a FIFO, a
                             device or a file over 64 MiB is a mismatch saying so, never read or waited on
    declared(makers, name, arguments)   the artefacts a tool declares for one call: `makers[name](arguments)` (one
                             artefact or a list), normalised; [] for a tool with none (the adapters' `artifacts=`)
    under(roots)             a `may_read(path)` for files whose real path lies in one of `roots`: what a reader of
                             files someone else names (the bot's Claude Code hook, the MCP gateway) may read
    file_change, file_diff, command, message, query   an artefact of each kind, normalised

Both sides compute the same digests: the bot (bot/api/requests.py) and the TypeScript package (`artifactSha256`).
Pure: nothing here speaks HTTP.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from agent_approvals.canonical import jcs
from agent_approvals.files import inside, regular_sha256

MAX_ARTIFACTS: Final = 20
MAX_PATH: Final = 4096
MAX_SHORT: Final = 1000  # a cwd, a subject, a database, a recipient
MAX_RECIPIENTS: Final = 100
KINDS: Final = ("file", "command", "message", "query")
FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "file": ("path", "before", "after", "diff", "before_sha256"),
    "command": ("command", "cwd"),
    "message": ("to", "subject", "body"),
    "query": ("sql", "database"),
}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ABSOLUTE = re.compile(r"[/\\]|[A-Za-z]:")  # POSIX /x; Windows \x, a share's \\server, a drive's C:


class ArtifactError(ValueError):
    """An artefact that is not one: `field` names where ("path", "to[2]"), the message says what it must be."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


def text_sha256(text: str) -> str:
    """Hex SHA-256 of `text` as UTF-8 (a file's `before_sha256`: what the file on disk must hold)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(artifact: Mapping[str, Any], name: str, *, required: bool = False, limit: int = 0,
          blank: bool = True) -> str | None:
    value = artifact.get(name)
    if value is None:
        if required:
            raise ArtifactError(name, "must be a string")
        return None
    if not isinstance(value, str):
        raise ArtifactError(name, "must be a string" + ("" if required else " or null"))
    if limit and len(value) > limit:
        raise ArtifactError(name, f"must be at most {limit} characters")
    if not blank and not value.strip():
        raise ArtifactError(name, "must not be empty")
    if "\x00" in value:
        raise ArtifactError(name, "must not contain NUL characters")
    return value


def _relative(path: str) -> str:
    """`path` when it is relative and never climbs above where it starts; else `ArtifactError`."""
    if _ABSOLUTE.match(path):
        raise ArtifactError("path", "must be relative to the executor's root, not absolute")
    depth = 0
    for part in re.split(r"[/\\]", path):
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            raise ArtifactError("path", "must stay under the executor's root (a .. climbs out of it)")
    return path


def _file(artifact: Mapping[str, Any]) -> dict[str, Any]:
    path = _relative(str(_text(artifact, "path", required=True, limit=MAX_PATH, blank=False)))
    before, after, diff = _text(artifact, "before"), _text(artifact, "after"), _text(artifact, "diff")
    given = _text(artifact, "before_sha256")
    if given is not None and not _HEX64.fullmatch(given):
        raise ArtifactError("before_sha256", "must be 64 lowercase hex digits (SHA-256 of the file's text)")
    if diff is not None:
        if before is not None or after is not None:
            raise ArtifactError("diff", "a file change is either before/after or a diff, not both")
        if given is None:
            raise ArtifactError("before_sha256", "a diff must say the SHA-256 of the text it applies to")
        if not diff.strip():
            raise ArtifactError("diff", "must not be empty")
        return {"kind": "file", "path": path, "before": None, "after": None, "diff": diff, "before_sha256": given}
    if before is None and after is None:
        raise ArtifactError("after", "a file change needs before or after (or a diff)")
    computed = None if before is None else text_sha256(before)
    if given is not None and given != computed:
        raise ArtifactError("before_sha256", "does not match the SHA-256 of before")
    return {"kind": "file", "path": path, "before": before, "after": after, "diff": None, "before_sha256": computed}


def _recipients(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > MAX_RECIPIENTS:
        raise ArtifactError("to", f"must be a list of 1 to {MAX_RECIPIENTS} recipients")
    for index, recipient in enumerate(value):
        if not isinstance(recipient, str) or not recipient.strip() or len(recipient) > MAX_SHORT:
            raise ArtifactError(f"to[{index}]", f"must be a non-empty string of at most {MAX_SHORT} characters")
    return list(value)


def normalised(artifact: Any) -> dict[str, Any]:
    """`artifact` as the plane keeps it (see the module docstring), or `ArtifactError`. An unknown field is refused;
    `sha256` (a digest the plane answered) is dropped."""
    if not isinstance(artifact, Mapping):
        raise ArtifactError("", "an artefact must be an object with a kind")
    kind = artifact.get("kind")
    if kind not in FIELDS:
        raise ArtifactError("kind", f"must be one of {', '.join(KINDS)}")
    unknown = sorted(set(artifact) - {"kind", "sha256", *FIELDS[kind]})
    if unknown:
        raise ArtifactError(str(unknown[0]), f"is not a field of a {kind} artefact ({', '.join(FIELDS[kind])})")
    if kind == "file":
        return _file(artifact)
    if kind == "command":
        return {"kind": kind, "command": _text(artifact, "command", required=True, blank=False),
                "cwd": _text(artifact, "cwd", limit=MAX_PATH)}
    if kind == "message":
        return {"kind": kind, "to": _recipients(artifact.get("to")),
                "subject": _text(artifact, "subject", limit=MAX_SHORT), "body": _text(artifact, "body", required=True)}
    return {"kind": kind, "sql": _text(artifact, "sql", required=True, blank=False),
            "database": _text(artifact, "database", limit=MAX_SHORT)}


def normalised_all(artifacts: Any) -> list[dict[str, Any]]:
    """A list of artefacts normalised, or `ArtifactError` naming the one (`artifacts[2].path`)."""
    if not isinstance(artifacts, Sequence) or isinstance(artifacts, str | bytes):
        raise ArtifactError("artifacts", "must be a list of artefacts")
    if len(artifacts) > MAX_ARTIFACTS:
        raise ArtifactError("artifacts", f"must hold at most {MAX_ARTIFACTS} artefacts")
    kept: list[dict[str, Any]] = []
    for index, artifact in enumerate(artifacts):
        try:
            kept.append(normalised(artifact))
        except ArtifactError as error:
            where = f"artifacts[{index}]" + (f".{error.field}" if error.field else "")
            raise ArtifactError(where, error.message) from None
    return kept


def artifact_sha256(artifact: Any) -> str:
    """Hex SHA-256 of the RFC 8785 canonical JSON of `normalised(artifact)`: the digest a receipt names."""
    return hashlib.sha256(jcs(normalised(artifact))).hexdigest()


def disk_mismatch(artifact: Any, root: str | os.PathLike[str] = ".") -> str | None:
    """Why the file an approved file change is about no longer has its approved `before` (someone changed it after
    the approval), or None when it still does (or the artefact is not a file change). Its path is under `root`:
    one a symbolic link takes out of `root` is not read, nor is anything but a regular file of at most 64 MiB
    (`agent_approvals.files`), and such a file is a mismatch, saying why. A new file (`before_sha256` null) must not
    exist yet."""
    found = normalised(artifact)
    if found["kind"] != "file":
        return None
    if not inside(root, found["path"]):
        return f"{found['path']} leads out of the root (a symbolic link): it is not read"
    expected = found["before_sha256"]
    try:
        digest = regular_sha256(Path(root, found["path"]))
    except FileNotFoundError:
        return None if expected is None else f"{found['path']} no longer exists (it was changed after the approval)"
    except OSError as error:
        return f"{found['path']} cannot be read ({error.strerror or error})"
    if expected is None:
        return f"{found['path']} exists now, but the approval was for a new file (it was created after the approval)"
    if digest != expected:
        return f"{found['path']} was changed after the approval (its content is not what was approved)"
    return None


def file_change(path: str, before: str | None, after: str | None) -> dict[str, Any]:
    """A file change as before/after text (`before` None: a new file; `after` None: deleted)."""
    return normalised({"kind": "file", "path": path, "before": before, "after": after})


def file_diff(path: str, diff: str, before_sha256: str) -> dict[str, Any]:
    """A file change as a unified diff of the text whose SHA-256 is `before_sha256`."""
    return normalised({"kind": "file", "path": path, "diff": diff, "before_sha256": before_sha256})


def command(command: str, cwd: str | None = None) -> dict[str, Any]:
    """A command about to run (in `cwd`)."""
    return normalised({"kind": "command", "command": command, "cwd": cwd})


def message(to: str | Sequence[str], body: str, subject: str | None = None) -> dict[str, Any]:
    """A message as it will be sent."""
    return normalised({"kind": "message", "to": [to] if isinstance(to, str) else list(to), "subject": subject,
                       "body": body})


def query(sql: str, database: str | None = None) -> dict[str, Any]:
    """A database query about to run."""
    return normalised({"kind": "query", "sql": sql, "database": database})


def under(roots: Sequence[str]) -> Callable[[Path], bool]:
    """Whether a file may be read: its real path (symbolic links followed) lies in one of `roots` (none: no file)."""
    real = tuple(os.path.realpath(root) for root in roots if root)

    def allowed(path: Path) -> bool:
        target = os.path.realpath(path)
        return any(os.path.commonpath((root, target)) == root for root in real)

    return allowed


Makers = Mapping[str, Callable[[dict[str, Any]], Any]]  # tool name -> a function of a call's arguments


def declared(makers: Makers | None, name: str, arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The artefacts tool `name` declares for a call with `arguments`: `makers[name](arguments)` (one artefact, a
    list of them, or None), normalised (`ArtifactError` naming the tool when one is not an artefact); [] when the
    tool declares none. An adapter's `artifacts=` option is such a mapping."""
    maker = (makers or {}).get(name)
    if maker is None:
        return []
    made = maker(dict(arguments))
    if made is None:
        return []
    try:
        return normalised_all([made] if isinstance(made, Mapping) else made)
    except ArtifactError as error:
        raise ArtifactError(f"{name}: {error.field}", error.message) from None
