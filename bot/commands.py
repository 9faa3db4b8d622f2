"""Parsing `/agent ...` text into a command. Pure: no Slack, no Redis."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from agents.teams import PRESETS
from bot.blocks import clean, escape
from bot.durations import DurationError, parse_duration
from bot.records import RUN_ID

MAX_TASK_CHARS = 3000
SUBCOMMANDS = ("help", "status", "cancel", "config")
SETTINGS = {
    "timeout": "a duration: 90, 90s, 15m, 2h or 1d (1 second to 7 days)",
    "timeout_outcome": "reject or approve",
}
MODES = ("always",)
FLAGS: dict[str, Callable[[], tuple[str, ...]]] = {"--team": lambda: tuple(PRESETS), "--mode": lambda: MODES}
USAGE = (
    "Valid forms: `/agent <task>`, `/agent --team NAME --mode MODE <task>`, `/agent help`, `/agent status`, "
    "`/agent cancel <run id>`, "
    "`/agent config`, `/agent config <key> <value>` (keys: " + ", ".join(f"`{k}`" for k in SETTINGS) + ")."
)


@dataclass(frozen=True, slots=True)
class Start:
    task: str
    team: str | None = None
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Status:
    pass


@dataclass(frozen=True, slots=True)
class Cancel:
    run_id: str


@dataclass(frozen=True, slots=True)
class ShowConfig:
    pass


@dataclass(frozen=True, slots=True)
class SetConfig:
    key: str
    value: str  # normalised: seconds for timeout


@dataclass(frozen=True, slots=True)
class Invalid:
    message: str


Command = Start | Help | Status | Cancel | ShowConfig | SetConfig | Invalid


_SLACK_REF = re.compile(r"<([@#!])([A-Za-z0-9^]+)(?:\|([^>]*))?>|<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")


def as_typed(text: str) -> str:
    """Slack's escaped command text (`should_escape`) back to what the person typed.

    `<@U123|bob>` -> `@bob`, `<#C123|sales>` -> `#sales`, `<!here>` -> `@here`,
    `<!subteam^S1|@team>` -> `@team`, `<https://x|label>` -> `label (https://x)`, then `&lt;` -> `<` etc.
    """

    def replace(match: re.Match[str]) -> str:
        sigil, ident, label, url, url_label = match.groups()
        if url is not None:
            return f"{url_label} ({url})" if url_label else url
        if label:
            return label if label.startswith("@") else f"{'#' if sigil == '#' else '@'}{label}"
        if sigil == "!":
            return "@" + ident.split("^")[0]
        return f"{sigil}{ident}"

    return _SLACK_REF.sub(replace, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_command(text: str) -> Command:
    """What `/agent <text>` asks for (text as Slack sends it). Anything we cannot accept is `Invalid`."""
    text = as_typed(text).strip()
    if not text:
        return Invalid("Tell me what to do, e.g. `/agent Draft an email to our vendor`. " + USAGE)
    words = text.split()
    head = words[0].lower()
    if head == "help" and len(words) == 1:
        return Help()
    if head == "status" and len(words) == 1:
        return Status()
    if head == "cancel":
        if len(words) != 2 or not RUN_ID.match(words[1]):
            return Invalid("Usage: `/agent cancel <run id>` (the id looks like `rabc2345`; see `/agent status`).")
        return Cancel(words[1])
    if head == "config":
        return _parse_config(words[1:])
    if head.startswith("--"):
        return _parse_flags(words)
    if len(words) == 1:
        close = difflib.get_close_matches(head, SUBCOMMANDS, n=1, cutoff=0.6)
        hint = f" Did you mean `/agent {close[0]}`?" if close else ""
        return Invalid(f"Unknown subcommand `{_quote(words[0])}`.{hint} To start a run, describe the task. " + USAGE)
    if len(text) > MAX_TASK_CHARS:
        return Invalid(f"The task is {len(text)} characters long; the limit is {MAX_TASK_CHARS}. Nothing started.")
    return Start(text)


def _parse_flags(words: list[str]) -> Command:
    """`--team NAME` and `--mode MODE` before the task."""
    chosen: dict[str, str] = {}
    rest = list(words)
    while rest and rest[0].startswith("--"):
        flag = rest.pop(0).lower()
        if flag not in FLAGS:
            return Invalid(f"Unknown option `{_quote(flag)}`. Options: `--team NAME`, `--mode MODE`. " + USAGE)
        valid = FLAGS[flag]()
        if not rest:
            return Invalid(f"`{flag}` needs a value: one of {', '.join(f'`{v}`' for v in valid)}.")
        value = rest.pop(0).lower()
        if value not in valid:
            close = difflib.get_close_matches(value, valid, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            listed = ", ".join(f"`{v}`" for v in valid)
            return Invalid(f"Unknown {flag[2:]} `{_quote(value)}`.{hint} Valid: {listed}. Nothing started.")
        chosen[flag[2:]] = value
    task = " ".join(rest)
    if not task:
        return Invalid("Give the task after the options, e.g. `/agent --team writer Draft a memo`.")
    if len(task) > MAX_TASK_CHARS:
        return Invalid(f"The task is {len(task)} characters long; the limit is {MAX_TASK_CHARS}. Nothing started.")
    return Start(task, team=chosen.get("team"), mode=chosen.get("mode"))


def _parse_config(args: list[str]) -> Command:
    if not args:
        return ShowConfig()
    key = args[0].lower()
    if key not in SETTINGS:
        valid = ", ".join(f"`{k}`" for k in SETTINGS)
        return Invalid(f"Unknown setting `{_quote(args[0])}`. Settings: {valid}. Usage: `/agent config <key> <value>`.")
    if len(args) != 2:
        return Invalid(f"Usage: `/agent config {key} <value>` where value is {SETTINGS[key]}.")
    value = args[1]
    if key == "timeout":
        try:
            return SetConfig(key, str(parse_duration(value)))
        except DurationError as exc:
            return Invalid(f"Bad timeout: {exc}. Setting unchanged.")
    if key == "timeout_outcome":
        if value.lower() not in ("reject", "approve"):
            return Invalid(f"Bad timeout_outcome `{_quote(value)}`: use reject or approve. Setting unchanged.")
        return SetConfig(key, value.lower())
    raise AssertionError(key)  # pragma: no cover - SETTINGS and this function list the same keys


def _quote(text: str) -> str:
    """User text inside our own messages: inert and short."""
    return escape(clean(text[:40])).replace("`", "'")
