"""Parsing `/agent ...` text into a command (bot/slackapp/commands.py). Pure: no Slack, no Redis."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from datetime import UTC, datetime

from agent_approvals.modes import MODES as INPUT_MODES

from bot.core.allow_rules import DEFAULT_MIN_APPROVED, RULE_ID
from bot.core.attestations import scope_of
from bot.core.channel_options import OPTIONS, parse_setting
from bot.core.durations import DurationError, parse_duration
from bot.core.key_records import KEY_NAME
from bot.core.records import RUN_ID
from bot.core.setting_kinds import CHANNEL, PERSON, BadValue, Given
from bot.runs.teams import PRESETS
from bot.slack.blocks import clean, safe
from bot.slackapp.commands import (
    Attest,
    AuditLog,
    Away,
    Cancel,
    Command,
    CreateKey,
    Freeze,
    Help,
    Invalid,
    ListKeys,
    ListRules,
    Report,
    RevokeKey,
    RevokePasskeys,
    RevokeRule,
    SetConfig,
    ShowConfig,
    ShowPolicy,
    Start,
    Status,
    SuggestRules,
    Unfreeze,
)
from bot.store.freezes import MAX_FREEZE_REASON, parse_scope

MAX_TASK_CHARS = 3000
MAX_AWAY_SECONDS = 90 * 86400
SUBCOMMANDS = ("help", "status", "cancel", "config", "audit", "away", "report", "rules", "keys", "policy", "passkeys",
               "freeze", "unfreeze", "attest")
# How close a task's first word must be to a subcommand to be taken for its typo (difflib's ratio): "confg",
# "stauts", "kyes" are; "state", "hello", "draft" are not.
TYPO_CUTOFF = 0.75
MAX_MIN_APPROVED = 100  # `/agent rules suggest N`: N from 1 to this
# Values that widen who may decide (or let nobody decide): only an admin may set them (see `widens`).
WIDENING = {name: declared.admin_only for name, declared in OPTIONS.items() if declared.admin_only}
_DIGITS = re.compile(r"[0-9]{1,3}")  # ASCII only: `str.isdigit` also accepts "²", which `int` refuses
MODES: tuple[str, ...] = INPUT_MODES
FLAGS: dict[str, Callable[[], tuple[str, ...]]] = {"--team": lambda: tuple(PRESETS), "--mode": lambda: MODES}
USAGE = (
    "Valid forms: `/agent <task>`, `/agent --team NAME --mode MODE <task>`, `/agent help`, `/agent status`, "
    "`/agent cancel <run id>`, `/agent audit`, `/agent report`, "
    "`/agent away until <date or duration> [delegate @person]`, "
    "`/agent rules`, `/agent rules revoke <rule id>`, `/agent rules suggest [N]`, "
    "`/agent keys`, `/agent keys create <name> [#channel]`, `/agent keys revoke <name>`, `/agent policy`, "
    "`/agent passkeys revoke @person`, `/agent freeze all|#channel|key NAME|agent NAME [reason]`, "
    "`/agent unfreeze all|#channel|key NAME|agent NAME`, "
    "`/agent attest [NAME|#channel]`, `/agent attest brief|grant @person|revoke @person NAME|#channel`, "
    "`/agent config`, `/agent config <key> <value>` (keys: " + ", ".join(f"`{k}`" for k in OPTIONS) + ")."
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
    if head == "help" and len(words) <= 2:
        return Help(words[1].lower() if len(words) == 2 else "")
    if head in _ALONE and len(words) == 1:
        return _ALONE[head]()
    if head == "cancel":
        if len(words) != 2 or not RUN_ID.fullmatch(words[1]):
            return Invalid("Usage: `/agent cancel <run id>` (the id looks like `rabc2345`; see `/agent status`).")
        return Cancel(words[1])
    if head in _WITH_ARGUMENTS:
        return _WITH_ARGUMENTS[head](raw.split()[1:])  # the words as Slack sent them (mentions linked)
    if head.startswith("--"):
        return _parse_flags(words)
    return _parse_task(text, words, head)


def _parse_task(text: str, words: list[str], head: str) -> Command:
    """A task to start a run with; a subcommand's typo, or a lone unknown word, is not one."""
    typo = _subcommand_typo(head) if len(words) > 1 else None
    if typo is not None:
        meant = _quote(" ".join([typo, *words[1:]]))
        return Invalid(
            f"Unknown subcommand `{_quote(words[0])}`: did you mean `/agent {meant}`? Nothing started."
            f" (To start a run whose task begins with “{_quote(words[0])}”, put another word first.)"
        )
    if len(words) == 1:
        close = difflib.get_close_matches(head, SUBCOMMANDS, n=1, cutoff=0.6)
        hint = f" Did you mean `/agent {close[0]}`?" if close else ""
        return Invalid(f"Unknown subcommand `{_quote(words[0])}`.{hint} To start a run, describe the task. " + USAGE)
    if len(text) > MAX_TASK_CHARS:
        return Invalid(f"The task is {len(text)} characters long; the limit is {MAX_TASK_CHARS}. Nothing started.")
    return Start(text)


def _subcommand_typo(head: str) -> str | None:
    """The subcommand `head` (a task's first word, lowercased) looks like a typo of, if any. A word that is a
    subcommand, or one that begins with a subcommand or is the beginning of one ("configure", "rule", "key",
    "reports"), or a longer one with all of it but its last letter ("policies", "statuses"): other words, not slips
    of the keyboard, is not a typo."""
    if head in SUBCOMMANDS or not head.isalpha():
        return None
    close = difflib.get_close_matches(head, SUBCOMMANDS, n=1, cutoff=TYPO_CUTOFF)
    if not close or head.startswith(close[0]) or close[0].startswith(head):
        return None
    if len(head) > len(close[0]) and head.startswith(close[0][:-1]):
        return None
    return close[0]


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
    """`config [<key> <value...>]`; `args` as Slack sent them (mentions escaped as `<@U…|name>`). What each
    setting accepts is declared once, in `bot.core.channel_options`."""
    if not args:
        return ShowConfig()
    key = args[0].lower()
    if key not in OPTIONS:
        valid = ", ".join(f"`{k}`" for k in OPTIONS)
        form = "Usage: `/agent config <key> <value>`."
        return Invalid(f"Unknown setting `{_quote(as_typed(args[0]))}`. Settings: {valid}. {form}")
    try:
        given = Given(tuple(args[1:]), typed=as_typed, quote=_quote, clean=clean)
        return SetConfig(key, parse_setting(key, given), words=given.words)
    except BadValue as exc:
        return Invalid(str(exc))


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
        person = PERSON.fullmatch(rest[1]) if len(rest) == 2 and rest[0].lower() == "delegate" else None
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
    "`/agent keys` (the API keys of this channel), `/agent keys create <name> [#channel]` (a key that may ask"
    " in that channel, this one when left out; shown once), `/agent keys revoke <name>`"
)
_TYPED_CHANNEL = re.compile(r"#[^\s#]{1,80}")  # `#name` as typed: Slack did not link it to a channel


def parse_keys(args: list[str]) -> Command:
    """`keys [list]`, `keys create <name> [#channel]`, `keys revoke <name>` (args as Slack sent them: a
    channel it knows arrives linked, `<#C123|name>`; a bare channel id is taken too)."""
    if not args or (len(args) == 1 and args[0].lower() == "list"):
        return ListKeys()
    action = args[0].lower()
    if action in ("create", "revoke"):
        channel = ""
        rest = args[1:]
        if action == "create" and len(rest) == 2:
            linked = CHANNEL.fullmatch(rest[1])
            if linked is None:
                typed = as_typed(rest[1])
                what = (
                    f"I cannot tell which channel `{_quote(typed)}` is: pick it from the list Slack shows as you"
                    " type #, so that it is linked (or give its id, C…)"
                    if _TYPED_CHANNEL.fullmatch(typed)
                    else f"Bad channel `{_quote(typed)}`: name one channel, e.g. #sales"
                )
                return Invalid(f"{what}. Usage: {KEYS_FORMS}. Nothing changed.")
            channel = linked.group(1) or linked.group(2)
            rest = rest[:1]
        name = as_typed(rest[0]) if len(rest) == 1 else ""
        if not KEY_NAME.fullmatch(name):
            what = f"Bad key name `{_quote(name)}`" if name else "Name the key"
            if len(rest) > 1:
                what = f"Bad command `keys {_quote(as_typed(' '.join(args)))}`"
            return Invalid(
                f"{what}: 1 to 40 lowercase letters, digits or _ . - (starting with a letter or digit)."
                f" Usage: {KEYS_FORMS}. Nothing changed."
            )
        return CreateKey(name, channel) if action == "create" else RevokeKey(name)
    close = difflib.get_close_matches(action, ("create", "revoke", "list"), n=1, cutoff=0.6)
    hint = f" Did you mean `/agent keys {close[0]}`?" if close else ""
    return Invalid(
        f"Unknown command `keys {_quote(as_typed(' '.join(args)))}`.{hint} Usage: {KEYS_FORMS}. Nothing changed."
        " (To start a run whose task begins with “keys”, put another word first.)"
    )


PASSKEYS_FORMS = "`/agent passkeys revoke @person` (every passkey of theirs: a lost device; for admins)"


def parse_passkeys(args: list[str]) -> Command:
    """`passkeys revoke @person` (args as Slack sent them: the person arrives linked, `<@U123|name>`)."""
    person = PERSON.fullmatch(args[1]) if len(args) == 2 and args[0].lower() == "revoke" else None
    if person is None:
        return Invalid(f"Usage: {PASSKEYS_FORMS}. Name one person with @. Nothing changed."
                       " (Your own passkeys are in your App Home.)")
    return RevokePasskeys(person.group(1))


FREEZE_FORMS = ("`/agent freeze all|#channel|key NAME|agent NAME [reason]` and `/agent unfreeze all|#channel|key"
                " NAME|agent NAME` (for admins; an unfreeze needs a second admin to confirm it)")
def parse_freeze(head: str, args: list[str]) -> Command:
    """`freeze <scope> [reason]` or `unfreeze <scope>` (args as Slack sent them)."""
    scoped = parse_scope(args)
    if scoped is None:
        return Invalid(f"Usage: {FREEZE_FORMS}. Name the channel as Slack links it (#name). Nothing changed.")
    scope, rest = scoped
    if head == "unfreeze":
        if rest:
            return Invalid(f"Usage: {FREEZE_FORMS}. An unfreeze takes no reason. Nothing changed.")
        return Unfreeze(scope)
    reason = clean(as_typed(" ".join(rest))).strip()
    if len(reason) > MAX_FREEZE_REASON:
        return Invalid(f"The reason is {len(reason)} characters long; the limit is {MAX_FREEZE_REASON}. Nothing"
                       " changed.")
    return Freeze(scope, reason)


def widens(
    key: str,
    value: str,
    *,
    approvers: tuple[str, ...],
    required_approvals: int,
    escalate_to: tuple[str, ...] = (),
    escalate_after: int = 0,
    sla: int = 0,
    escalate_at: str = "request",
) -> bool:
    """Whether setting `key` to `value` widens who may decide an approval (or lets a timeout decide
    more): self-approval on, timeouts that approve, approvers beyond the current ones (`anyone`
    included), fewer approvals required, or an escalation to people beyond the current approvers (or
    sooner: a shorter `sla` too, with `escalate_at at_risk`). The keyword arguments are the channel's current
    settings."""
    if WIDENING.get(key) == value:
        return True
    if key == "escalate_to":
        return _beyond(set() if value == "none" else set(value.split(",")) - set(escalate_to), approvers)
    if key == "oncall_fallback":  # who gets it when a schedule cannot be read: beyond the approvers widens
        return _beyond(set() if value == "none" else set(value.split(",")), approvers)
    if key == "escalate_after":
        sooner = int(value) > 0 and (escalate_after == 0 or int(value) < escalate_after)
        return sooner and _beyond(set(escalate_to), approvers)
    if key == "sla" and escalate_at == "at_risk":  # the escalation comes when at risk: a shorter one brings it sooner
        sooner = int(value) > 0 and (sla == 0 or int(value) < sla)
        return sooner and _beyond(set(escalate_to), approvers)
    if key == "approvers":
        if not approvers:  # anyone already: naming people narrows it
            return False
        return value == "anyone" or not set(value.split(",")) <= set(approvers)
    if key == "required_approvals":
        return int(value) < required_approvals
    return False


def _beyond(people: set[str], approvers: tuple[str, ...]) -> bool:
    """Whether `people` reach beyond the channel's approvers (none named: anyone may decide already, so nobody
    does)."""
    return bool(approvers) and bool(people - set(approvers))


def _quote(text: str) -> str:
    """User text inside our own messages: inert and short."""
    return safe(text[:40]).replace("`", "'")


_ALONE: dict[str, Callable[[], Command]] = {"status": Status, "audit": AuditLog, "report": Report, "policy": ShowPolicy}
ATTEST_FORMS = ("`/agent attest NAME|#channel` (attest to its brief), `/agent attest` (yours), and for its owner"
                " `/agent attest brief NAME|#channel`, `/agent attest grant @person NAME|#channel`, `/agent attest"
                " revoke @person NAME|#channel`")


def parse_attest(args: list[str]) -> Command:
    """`attest`, `attest NAME|#channel`, `attest brief NAME|#channel`, `attest grant|revoke @person NAME|#channel`
    (args as Slack sent them: people and channels linked)."""
    if not args:
        return Attest("list")
    head = args[0].lower()
    if head in ("grant", "revoke"):
        person = PERSON.fullmatch(args[1]) if len(args) == 3 else None
        scope = scope_of(args[2], channel="") if person is not None else None
        if person is None or scope is None:
            return Invalid(f"Usage: {ATTEST_FORMS}. Name one person with @. Nothing changed.")
        return Attest("grant" if head == "grant" else "revoke", scope, person.group(1))
    if head == "brief":
        scope = scope_of(args[1], channel="") if len(args) == 2 else None
        return Attest("brief", scope) if scope else Invalid(f"Usage: {ATTEST_FORMS}. Nothing changed.")
    scope = scope_of(args[0], channel="") if len(args) == 1 else None
    if scope is None:
        return Invalid(f"Usage: {ATTEST_FORMS}. A brief's name is lowercase letters, digits or _ . -; a channel as"
                       " Slack links it (#name). Nothing changed.")
    return Attest("attest", scope)


_WITH_ARGUMENTS: dict[str, Callable[[list[str]], Command]] = {
    "config": _parse_config, "away": parse_away, "rules": parse_rules, "keys": parse_keys, "passkeys": parse_passkeys,
    "freeze": lambda args: parse_freeze("freeze", args), "unfreeze": lambda args: parse_freeze("unfreeze", args),
    "attest": parse_attest,
}
