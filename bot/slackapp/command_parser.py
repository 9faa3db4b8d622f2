"""Parsing `/agent ...` text into a command. Pure: no Slack, no Redis."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from agent_approvals.modes import CHECKPOINT_EVERY_LIMIT, MAX_AUTO_REPLIES_LIMIT
from agent_approvals.modes import MODES as INPUT_MODES

from bot.core.allow_rules import DEFAULT_MIN_APPROVED, RULE_ID
from bot.core.durations import FORMS, DurationError, parse_duration
from bot.core.records import KEY_NAME, RUN_ID
from bot.runs.teams import PRESETS
from bot.slack.blocks import clean, safe

MAX_TASK_CHARS = 3000
MAX_REMINDERS = 5
MAX_AWAY_SECONDS = 90 * 86400
SUBCOMMANDS = ("help", "status", "cancel", "config", "audit", "away", "report", "rules", "keys")
MAX_MIN_APPROVED = 100  # `/agent rules suggest N`: N from 1 to this
SETTINGS = {
    "timeout": "a duration: 90, 90s, 15m, 2h or 1d (1 second to 7 days), or `never`",
    "timeout_outcome": "reject or approve",
    "approvers": "`anyone`, or people and user groups: @alice @bob @approvers",
    "required_approvals": "how many different approvers must approve: a number from 1 to 10",
    "allow_self_approval": "true or false: may the person who started a run decide its approvals",
    "approvals_channel": "a channel, e.g. #approvals (the bot must be able to post there)",
    "admins": "`anyone`, or people who may change these settings: @alice @bob",
    "mode": "the input mode of runs started here: always, terminate, never or policy (see `/agent help`)",
    "max_auto_replies": (
        f"automatic replies in a row before a human is asked (terminate, policy) or the run ends (never):"
        f" 0 to {MAX_AUTO_REPLIES_LIMIT}"
    ),
    "risk_words": (
        "what needs a human in mode policy: comma-separated words or phrases, e.g. `delete, drop table, deploy`;"
        " or `default`, or `none`"
    ),
    "checkpoint_every": f"in mode policy, a card after this many automatic steps: 0 (off) to {CHECKPOINT_EVERY_LIMIT}",
    "timeout_approves_tools": "true or false: may `timeout_outcome approve` also approve tool calls and code",
    "deliver": (
        "where approval cards go: `channel` (the approvals channel), `dm` (a direct message to each person who"
        " may decide; needs named approvers) or `both`"
    ),
    "remind": (
        f"reminders after a request, mentioning who may still decide: increasing durations such as `15m,1h`"
        f" (at most {MAX_REMINDERS}), or `off`"
    ),
    "escalate_after": "when nobody has decided by then, `escalate_to` may decide too: a duration such as 30m, or `off`",
    "escalate_to": "people and user groups who may decide once an approval is escalated: @oncall @leads, or `none`",
}
# Values that widen who may decide (or let nobody decide): only an admin may set them (see `widens`).
WIDENING = {
    "allow_self_approval": "true",
    "timeout_outcome": "approve",
    "timeout_approves_tools": "true",
}
DELIVER = ("channel", "dm", "both")
_DIGITS = re.compile(r"[0-9]{1,3}")  # ASCII only: `str.isdigit` also accepts "²", which `int` refuses
_BOOLEANS = {"true": "true", "yes": "true", "on": "true", "false": "false", "no": "false", "off": "false"}
MAX_RISK_WORDS = 40
MAX_RISK_WORD_CHARS = 40
_PERSON = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>")
_GROUP = re.compile(r"<!subteam\^(S[A-Z0-9]{2,20})(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]{2,20})(?:\|[^>]*)?>|([CG][A-Z0-9]{2,20})")
MODES: tuple[str, ...] = INPUT_MODES
FLAGS: dict[str, Callable[[], tuple[str, ...]]] = {"--team": lambda: tuple(PRESETS), "--mode": lambda: MODES}
USAGE = (
    "Valid forms: `/agent <task>`, `/agent --team NAME --mode MODE <task>`, `/agent help`, `/agent status`, "
    "`/agent cancel <run id>`, `/agent audit`, `/agent report`, "
    "`/agent away until <date or duration> [delegate @person]`, "
    "`/agent rules`, `/agent rules revoke <rule id>`, `/agent rules suggest [N]`, "
    "`/agent keys`, `/agent keys create <name>`, `/agent keys revoke <name>`, "
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
class AuditLog:
    pass


@dataclass(frozen=True, slots=True)
class ShowConfig:
    pass


@dataclass(frozen=True, slots=True)
class SetConfig:
    key: str
    value: str  # normalised: seconds for timeout


@dataclass(frozen=True, slots=True)
class Report:
    pass


@dataclass(frozen=True, slots=True)
class Away:
    """`/agent away`: show (`show`), end (`off`), or set until `seconds` from now or epoch `at`."""

    show: bool = False
    off: bool = False
    seconds: int = 0
    at: float = 0.0
    delegate: str = ""


@dataclass(frozen=True, slots=True)
class ListRules:
    """`/agent rules`: this channel's live "always allow" rules."""


@dataclass(frozen=True, slots=True)
class RevokeRule:
    """`/agent rules revoke <rule id>` (the id as the store writes it: "R7")."""

    rule_id: str


@dataclass(frozen=True, slots=True)
class SuggestRules:
    """`/agent rules suggest [N]`: rules that would have approved calls people approved at least N times."""

    min_approved: int = DEFAULT_MIN_APPROVED


@dataclass(frozen=True, slots=True)
class ListKeys:
    """`/agent keys`: the Approvals API keys that may ask in this channel."""


@dataclass(frozen=True, slots=True)
class CreateKey:
    """`/agent keys create <name>`: a key that may ask in this channel (shown once)."""

    name: str


@dataclass(frozen=True, slots=True)
class RevokeKey:
    """`/agent keys revoke <name>`."""

    name: str


@dataclass(frozen=True, slots=True)
class Invalid:
    message: str


Command = (
    Start
    | Help
    | Status
    | Cancel
    | ShowConfig
    | SetConfig
    | AuditLog
    | Away
    | Report
    | ListRules
    | RevokeRule
    | SuggestRules
    | ListKeys
    | CreateKey
    | RevokeKey
    | Invalid
)


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
    raw = text.strip()
    text = as_typed(raw).strip()
    if not text:
        return Invalid("Tell me what to do, e.g. `/agent Draft an email to our vendor`. " + USAGE)
    words = text.split()
    head = words[0].lower()
    if head == "help" and len(words) == 1:
        return Help()
    if head == "status" and len(words) == 1:
        return Status()
    if head == "audit" and len(words) == 1:
        return AuditLog()
    if head == "report" and len(words) == 1:
        return Report()
    if head == "cancel":
        if len(words) != 2 or not RUN_ID.fullmatch(words[1]):
            return Invalid("Usage: `/agent cancel <run id>` (the id looks like `rabc2345`; see `/agent status`).")
        return Cancel(words[1])
    if head == "config":
        return _parse_config(raw.split()[1:])
    if head == "away":
        return parse_away(raw.split()[1:])
    if head == "rules":
        return parse_rules(raw.split()[1:])
    if head == "keys":
        return parse_keys(raw.split()[1:])
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
    """`config [<key> <value...>]`; `args` as Slack sent them (mentions escaped as `<@U…|name>`)."""
    if not args:
        return ShowConfig()
    key = args[0].lower()
    if key not in SETTINGS:
        valid = ", ".join(f"`{k}`" for k in SETTINGS)
        form = "Usage: `/agent config <key> <value>`."
        return Invalid(f"Unknown setting `{_quote(as_typed(args[0]))}`. Settings: {valid}. {form}")
    values = args[1:]
    usage = Invalid(f"Usage: `/agent config {key} <value>` where value is {SETTINGS[key]}. Setting unchanged.")
    if not values or (len(values) > 1 and key not in ("approvers", "admins", "risk_words", "escalate_to")):
        return usage
    value = as_typed(values[0]).strip()
    if key == "mode":
        return _parse_mode_setting(value)
    if key in ("max_auto_replies", "checkpoint_every"):
        high = MAX_AUTO_REPLIES_LIMIT if key == "max_auto_replies" else CHECKPOINT_EVERY_LIMIT
        if not _DIGITS.fullmatch(value) or not 0 <= int(value) <= high:
            return Invalid(f"Bad {key} `{_quote(value)}`: use a number from 0 to {high}. Setting unchanged.")
        return SetConfig(key, str(int(value)))
    if key == "risk_words":
        return _parse_risk_words(as_typed(" ".join(values)))
    if key == "timeout":
        if value.lower() == "never":
            return SetConfig(key, "0")
        try:
            return SetConfig(key, str(parse_duration(value)))
        except DurationError as exc:
            return Invalid(f"Bad timeout `{_quote(value)}`: {exc.problem}; use {FORMS}, or `never`. Setting unchanged.")
    if key == "remind":
        return _parse_reminders(value)
    if key == "escalate_after":
        if value.lower() == "off":
            return SetConfig(key, "0")
        try:
            return SetConfig(key, str(parse_duration(value)))
        except DurationError as exc:
            return Invalid(
                f"Bad escalate_after `{_quote(value)}`: {exc.problem}; use {FORMS}, or `off`. Setting unchanged."
            )
    if key == "timeout_outcome":
        if value.lower() not in ("reject", "approve"):
            return Invalid(f"Bad timeout_outcome `{_quote(value)}`: use reject or approve. Setting unchanged.")
        return SetConfig(key, value.lower())
    if key in ("allow_self_approval", "timeout_approves_tools"):
        if value.lower() not in _BOOLEANS:
            return Invalid(f"Bad {key} `{_quote(value)}`: use true or false. Setting unchanged.")
        return SetConfig(key, _BOOLEANS[value.lower()])
    if key == "deliver":
        if value.lower() not in DELIVER:
            return Invalid(f"Bad deliver `{_quote(value)}`: use channel, dm or both. Setting unchanged.")
        return SetConfig(key, value.lower())
    if key == "required_approvals":
        if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= 10:
            return Invalid(f"Bad required_approvals `{_quote(value)}`: use a number from 1 to 10. Setting unchanged.")
        return SetConfig(key, str(int(value)))
    if key == "approvals_channel":
        match = _CHANNEL.fullmatch(values[0])
        if match is None:
            return Invalid(
                f"Bad approvals_channel `{_quote(value)}`: name a channel, e.g. #approvals. Setting unchanged."
            )
        return SetConfig(key, match.group(1) or match.group(2))
    return _parse_people(key, values)


def _parse_mode_setting(value: str) -> Command:
    lowered = value.lower()
    if lowered in MODES:
        return SetConfig("mode", lowered)
    close = difflib.get_close_matches(lowered, MODES, n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    listed = ", ".join(f"`{m}`" for m in MODES)
    return Invalid(f"Unknown mode `{_quote(value)}`.{hint} Valid: {listed}. Setting unchanged.")


def _parse_risk_words(text: str) -> Command:
    """`default`, `none`, or comma-separated words and phrases (stored lower case, one space apart)."""
    lowered = text.strip().lower()
    if lowered in ("default", "none"):
        return SetConfig("risk_words", lowered)
    words = [" ".join(clean(w).lower().split()) for w in text.split(",")]
    words = list(dict.fromkeys(w for w in words if w))
    if not words:
        return Invalid("Give risk words separated by commas, e.g. `delete, drop table, deploy`. Setting unchanged.")
    if len(words) > MAX_RISK_WORDS:
        return Invalid(f"At most {MAX_RISK_WORDS} risk words (this is {len(words)}). Setting unchanged.")
    long = next((w for w in words if len(w) > MAX_RISK_WORD_CHARS), None)
    if long is not None:
        return Invalid(
            f"Risk word `{_quote(long)}` is longer than {MAX_RISK_WORD_CHARS} characters. Setting unchanged."
        )
    return SetConfig("risk_words", ",".join(words))


def _parse_reminders(value: str) -> Command:
    """`off`, or increasing durations separated by commas (stored as seconds: `900,3600`)."""
    if value.lower() == "off":
        return SetConfig("remind", "off")
    form = f"use increasing durations separated by commas, e.g. `15m,1h` (each {FORMS}), or `off`"
    seconds: list[int] = []
    for part in value.split(","):
        try:
            seconds.append(parse_duration(part))
        except DurationError as exc:
            return Invalid(f"Bad remind `{_quote(part.strip() or value)}`: {exc.problem}; {form}. Setting unchanged.")
    if len(seconds) > MAX_REMINDERS:
        return Invalid(f"At most {MAX_REMINDERS} reminders (this is {len(seconds)}). Setting unchanged.")
    if any(later <= earlier for earlier, later in itertools.pairwise(seconds)):
        return Invalid(f"Bad remind `{_quote(value)}`: the durations are not increasing; {form}. Setting unchanged.")
    return SetConfig("remind", ",".join(str(s) for s in seconds))


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?")
AWAY_FORMS = (
    "`/agent away until <when> [delegate @person]`, where <when> is a duration (2h, 3d; at most 90d) or a date"
    " in UTC (2026-12-24, or 2026-12-24T17:00); `/agent away off`; `/agent away` to see your state"
)


def parse_away(args: list[str]) -> Command:
    """`away`, `away off`, `away until <when> [delegate @person]` (args as Slack sent them)."""
    if not args:
        return Away(show=True)
    if len(args) == 1 and args[0].lower() == "off":
        return Away(off=True)
    usage = Invalid(f"Usage: {AWAY_FORMS}. Nothing changed.")
    if args[0].lower() != "until" or len(args) < 2:
        return usage
    when, rest = args[1], args[2:]
    if len(rest) >= 1 and re.fullmatch(r"\d{2}:\d{2}", rest[0]):  # "2026-12-24 17:00"
        when, rest = f"{when} {rest[0]}", rest[1:]
    delegate = ""
    if rest:
        person = _PERSON.fullmatch(rest[1]) if len(rest) == 2 and rest[0].lower() == "delegate" else None
        if person is None:
            return Invalid(f"Bad delegate: name one person with @ after `delegate`. Usage: {AWAY_FORMS}.")
        delegate = person.group(1)
    date = _DATE.fullmatch(when)
    if date is not None:
        year, month, day, hour, minute = (int(g) if g else 0 for g in date.groups())
        try:
            at = datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()
        except ValueError:
            return Invalid(f"Bad date `{_quote(when)}`. Usage: {AWAY_FORMS}. Nothing changed.")
        return Away(at=at, delegate=delegate)
    try:
        return Away(seconds=parse_duration(when, max_seconds=MAX_AWAY_SECONDS), delegate=delegate)
    except DurationError as exc:
        return Invalid(f"Bad `until` `{_quote(as_typed(when))}`: {exc.problem}. Usage: {AWAY_FORMS}. Nothing changed.")


RULES_FORMS = (
    "`/agent rules` (this channel's live rules), `/agent rules revoke <rule id>` (the id looks like `R7`;"
    f" `/agent rules` lists them), `/agent rules suggest [N]` (rules from calls people approved at least N times,"
    f" N from 1 to {MAX_MIN_APPROVED}, {DEFAULT_MIN_APPROVED} when left out)"
)


def parse_rules(args: list[str]) -> Command:
    """`rules`, `rules revoke <id>`, `rules suggest [N]` (args as Slack sent them)."""
    if not args:
        return ListRules()
    action = args[0].lower()
    typed = _quote(as_typed(" ".join(args)))
    if action == "revoke":
        if len(args) == 2 and RULE_ID.fullmatch(args[1].upper()):
            return RevokeRule(args[1].upper())
        what = f"Bad rule id `{_quote(as_typed(args[1]))}`" if len(args) == 2 else f"Bad command `rules {typed}`"
        if len(args) == 1:
            what = "Name the rule to revoke"
        return Invalid(f"{what}: one rule id, like `R7`. Usage: {RULES_FORMS}. Nothing changed.")
    if action == "suggest":
        if len(args) == 1:
            return SuggestRules()
        number = as_typed(args[1])
        if len(args) == 2 and _DIGITS.fullmatch(number) and 1 <= int(number) <= MAX_MIN_APPROVED:
            return SuggestRules(int(number))
        what = f"Bad N `{_quote(number)}`" if len(args) == 2 else f"Bad command `rules {typed}`"
        return Invalid(
            f"{what}: N is how many times people approved a call, a number from 1 to {MAX_MIN_APPROVED}."
            f" Usage: {RULES_FORMS}."
        )
    close = difflib.get_close_matches(action, ("revoke", "suggest"), n=1, cutoff=0.6)
    hint = f" Did you mean `/agent rules {close[0]}`?" if close else ""
    return Invalid(
        f"Unknown command `rules {typed}`.{hint} Usage: {RULES_FORMS}. Nothing changed."
        " (To start a run whose task begins with “rules”, put another word first.)"
    )


KEYS_FORMS = (
    "`/agent keys` (the API keys of this channel), `/agent keys create <name>` (a key that may ask here; shown"
    " once), `/agent keys revoke <name>`"
)


def parse_keys(args: list[str]) -> Command:
    """`keys`, `keys create <name>`, `keys revoke <name>` (args as Slack sent them)."""
    if not args:
        return ListKeys()
    action = args[0].lower()
    if action in ("create", "revoke"):
        name = as_typed(args[1]) if len(args) == 2 else ""
        if not KEY_NAME.fullmatch(name):
            what = f"Bad key name `{_quote(name)}`" if name else "Name the key"
            return Invalid(
                f"{what}: 1 to 40 lowercase letters, digits or _ . - (starting with a letter or digit)."
                f" Usage: {KEYS_FORMS}. Nothing changed."
            )
        return CreateKey(name) if action == "create" else RevokeKey(name)
    close = difflib.get_close_matches(action, ("create", "revoke"), n=1, cutoff=0.6)
    hint = f" Did you mean `/agent keys {close[0]}`?" if close else ""
    return Invalid(
        f"Unknown command `keys {_quote(as_typed(' '.join(args)))}`.{hint} Usage: {KEYS_FORMS}. Nothing changed."
        " (To start a run whose task begins with “keys”, put another word first.)"
    )


def _parse_people(key: str, values: list[str]) -> Command:
    """`approvers` (people and user groups), `admins` (people) or `escalate_to` (people and user
    groups), or `anyone` (`none` for escalate_to)."""
    if key == "escalate_to" and len(values) == 1 and values[0].lower() in ("none", "off"):
        return SetConfig(key, "none")
    if key != "escalate_to" and len(values) == 1 and values[0].lower() == "anyone":
        return SetConfig(key, "anyone")
    ids: list[str] = []
    for token in values:
        person, group = _PERSON.fullmatch(token), _GROUP.fullmatch(token)
        if person is not None:
            ids.append(person.group(1))
        elif group is not None and key in ("approvers", "escalate_to"):
            ids.append(group.group(1))
        else:
            what = "people" if key == "admins" else "people and user groups"
            other = "`none`" if key == "escalate_to" else "`anyone`"
            return Invalid(
                f"Bad {key} `{_quote(as_typed(token))}`: name {what} with @, or say {other}. Setting unchanged."
            )
    return SetConfig(key, ",".join(dict.fromkeys(ids)))


def widens(
    key: str,
    value: str,
    *,
    approvers: tuple[str, ...],
    required_approvals: int,
    escalate_to: tuple[str, ...] = (),
    escalate_after: int = 0,
) -> bool:
    """Whether setting `key` to `value` widens who may decide an approval (or lets a timeout decide
    more): self-approval on, timeouts that approve, approvers beyond the current ones (`anyone`
    included), fewer approvals required, or an escalation to people beyond the current approvers (or
    sooner). The keyword arguments are the channel's current settings."""
    if WIDENING.get(key) == value:
        return True
    if key == "escalate_to":
        added = set() if value == "none" else set(value.split(",")) - set(escalate_to)
        return bool(approvers) and bool(added - set(approvers))
    if key == "escalate_after":
        sooner = int(value) > 0 and (escalate_after == 0 or int(value) < escalate_after)
        return sooner and bool(approvers) and bool(set(escalate_to) - set(approvers))
    if key == "approvers":
        if not approvers:  # anyone already: naming people narrows it
            return False
        return value == "anyone" or not set(value.split(",")) <= set(approvers)
    if key == "required_approvals":
        return int(value) < required_approvals
    return False


def _quote(text: str) -> str:
    """User text inside our own messages: inert and short."""
    return safe(text[:40]).replace("`", "'")
