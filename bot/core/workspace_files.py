"""SLACK_WORKSPACES_FILE: the workspaces an operator lists with their bot tokens, instead of (or besides) installing
the app through Slack's OAuth. Read by `Settings.from_env`, with the environment it was given (`env:VARIABLE`
tokens), never `os.environ` itself."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr


class WorkspacesFileError(ValueError):
    """The file, or one of its entries, is not what it must be; the message names which (never a token)."""


@dataclass(frozen=True)
class StaticWorkspace:
    """A workspace of SLACK_WORKSPACES_FILE: its team (or, org-wide, only its organisation) and bot token."""

    team: str | None
    enterprise: str | None
    bot_token: SecretStr

    @property
    def key(self) -> str:
        """Its installation's id: the team's, or the organisation's for an org-wide token."""
        return self.team or self.enterprise or ""


_TEAM_ID = re.compile(r"^T[A-Z0-9]{1,30}$")
_ENTERPRISE_ID = re.compile(r"^E[A-Z0-9]{1,30}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_workspaces_file(path: str, environ: Mapping[str, str]) -> tuple[StaticWorkspace, ...]:
    """The workspaces of SLACK_WORKSPACES_FILE: a JSON list of `{"team": "T…", "enterprise": "E…" (optional),
    "bot_token": "xoxb-…" or "env:VARIABLE"}`; an entry with only `enterprise` is an org-wide install.
    WorkspacesFileError naming the entry and what is wrong (never a token)."""
    try:
        with open(path, encoding="utf-8") as file:
            entries = json.load(file)
    except (OSError, ValueError, RecursionError) as exc:
        raise WorkspacesFileError(f"SLACK_WORKSPACES_FILE cannot be read as JSON ({type(exc).__name__})") from None
    if not isinstance(entries, list):
        raise WorkspacesFileError("SLACK_WORKSPACES_FILE must be a JSON list of {team, enterprise?, bot_token}")
    found: dict[str, StaticWorkspace] = {}
    for n, entry in enumerate(entries, start=1):
        where = f"SLACK_WORKSPACES_FILE entry {n}"
        if not isinstance(entry, dict) or set(entry) - {"team", "enterprise", "bot_token"}:
            raise WorkspacesFileError(f"{where}: must be an object with team, enterprise (optional) and bot_token")
        team, enterprise, token = entry.get("team"), entry.get("enterprise"), entry.get("bot_token")
        if team is not None and not (isinstance(team, str) and _TEAM_ID.fullmatch(team)):
            raise WorkspacesFileError(f"{where}: team must be a team id such as T0123ABC")
        if enterprise is not None and not (isinstance(enterprise, str) and _ENTERPRISE_ID.fullmatch(enterprise)):
            raise WorkspacesFileError(f"{where}: enterprise must be an organisation id such as E0123ABC")
        if team is None and enterprise is None:
            raise WorkspacesFileError(f"{where}: names no team (nor, org-wide, an enterprise)")
        if not isinstance(token, str) or not token.strip():
            raise WorkspacesFileError(f"{where}: bot_token is missing")
        if token.startswith("env:"):
            name = token[len("env:"):]
            if not _ENV_NAME.fullmatch(name) or not environ.get(name, "").strip():
                raise WorkspacesFileError(f"{where}: bot_token names the variable {name[:60]!r}, which is not set")
            token = environ[name].strip()
        made = StaticWorkspace(team=team, enterprise=enterprise, bot_token=SecretStr(token.strip()))
        if made.key in found:
            raise WorkspacesFileError(f"{where}: {made.key} is listed twice")
        found[made.key] = made
    return tuple(found.values())
