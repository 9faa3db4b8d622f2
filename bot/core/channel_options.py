"""Channel settings (`/agent config <key> <value>`), each declared once: a field of `ChannelSettings` below.

A field's `option(...)` says what kind of value the setting takes (`Duration`, `Flag`, `Number`, `Choice`,
`People`, `Channel`, `Reminders`, `RiskWords`: how a typed value is checked and stored, how the stored
string reads back), what `/agent config` and `/agent help` say of it, its line in the docs' configuration
reference and which value only a named admin may set. The rest is derived from these declarations (`options_of`):

- parsing and checking `/agent config <key> <value>`: `parse_setting` (`bot.slackapp.command_parser`);
- storage: the store writes the string `parse_setting` returns in the channel's settings hash, under the
  setting's name, and reads them all back with `read_settings` (`bot.store.channel_settings`);
- what `/agent config` and `/agent help` show (`bot.slack.blocks.replies`, by kind);
- the docs' reference table (docs/operators/configuration.md): `python -m bot.core.channel_options --markdown`
  (a test compares them).

A new boolean setting is one field here::

    notify_requester: bool = field(default=False, metadata=option(
        Flag(), values="true or false: ...", gist="...", topic="who", doc="...", admin_only="true"))
"""

from __future__ import annotations

import difflib
import itertools
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import Any, Generic, Literal, TypeVar

from agent_approvals.modes import (
    CHECKPOINT_EVERY_LIMIT,
    DEFAULT_MAX_AUTO_REPLIES,
    DEFAULT_MODE,
    DEFAULT_RISK_WORDS,
    MAX_AUTO_REPLIES_LIMIT,
    MODES,
    risk_words_setting,
)

from bot.core.durations import FORMS, DurationError, format_duration, parse_duration

T = TypeVar("T")
PERSON = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>")  # a mention, as Slack escapes it in a command
GROUP = re.compile(r"<!subteam\^(S[A-Z0-9]{2,20})(?:\|[^>]*)?>")
CHANNEL = re.compile(r"<#([CG][A-Z0-9]{2,20})(?:\|[^>]*)?>|([CG][A-Z0-9]{2,20})")
_DIGITS = re.compile(r"[0-9]{1,3}")  # ASCII only: `str.isdigit` also accepts "²", which `int` refuses
_BOOLEANS = {"true": "true", "yes": "true", "on": "true", "false": "false", "no": "false", "off": "false"}
MAX_REMINDERS = 5
MAX_RISK_WORDS = 40
MAX_RISK_WORD_CHARS = 40
UNCHANGED = "Setting unchanged."


class BadValue(ValueError):
    """A value `/agent config` refuses; the message says why and what to type (and ends "Setting unchanged.")."""


@dataclass(frozen=True, slots=True)
class Given:
    """The words after `/agent config <key>` as Slack sent them (mentions escaped as `<@U…|name>`), with the
    Slack layer's text helpers: `typed` undoes Slack's escaping, `quote` shows typed text inert and short
    inside our messages, `clean` drops control and direction-override characters."""

    words: tuple[str, ...]
    typed: Callable[[str], str]
    quote: Callable[[str], str]
    clean: Callable[[str], str]

    @property
    def value(self) -> str:
        """The first word as typed."""
        return self.typed(self.words[0]).strip()


def _alternatives(words: Sequence[str]) -> str:
    """"a, b or c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


class Kind(Generic[T]):
    """A kind of value: how a typed one is checked and stored (`parse`), read back (`load`) and read by people
    (`reading`, plain text; the Slack layer shows people and channels as mentions and links)."""

    many = False  # whether the value may be several words

    @property
    def form(self) -> str:
        """The value's forms in `/agent help`, e.g. `true|false`."""
        raise NotImplementedError

    def parse(self, key: str, given: Given) -> str:
        """The value to store, or BadValue."""
        raise NotImplementedError

    def load(self, stored: str) -> T:
        """The value of a stored (non-empty) string; ValueError if it has none (the default then applies)."""
        raise NotImplementedError

    def reading(self, value: T) -> str:
        return str(value)


@dataclass(frozen=True, slots=True)
class Duration(Kind[int]):
    """Seconds (stored as such), or `off` (stored "0")."""

    off: str = "off"
    example: str = "<duration>"

    @property
    def form(self) -> str:
        return f"{self.example}|{self.off}"

    def parse(self, key: str, given: Given) -> str:
        if given.value.lower() == self.off:
            return "0"
        try:
            return str(parse_duration(given.value))
        except DurationError as exc:
            quoted = given.quote(given.value)
            raise BadValue(f"Bad {key} `{quoted}`: {exc.problem}; use {FORMS}, or `{self.off}`. {UNCHANGED}") from None

    def load(self, stored: str) -> int:
        return int(stored)

    def reading(self, value: int) -> str:
        return format_duration(value) if value else self.off


@dataclass(frozen=True, slots=True)
class Flag(Kind[bool]):
    """True or false (also yes/no, on/off), stored "true" or "false"."""

    @property
    def form(self) -> str:
        return "true|false"

    def parse(self, key: str, given: Given) -> str:
        if given.value.lower() not in _BOOLEANS:
            raise BadValue(f"Bad {key} `{given.quote(given.value)}`: use true or false. {UNCHANGED}")
        return _BOOLEANS[given.value.lower()]

    def load(self, stored: str) -> bool:
        return stored == "true"

    def reading(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class Number(Kind[int]):
    """A whole number from `low` to `high`; `zero` is how 0 reads when it means off."""

    low: int
    high: int
    zero: str = "0"

    @property
    def form(self) -> str:
        return "N"

    def parse(self, key: str, given: Given) -> str:
        value = given.value
        if not _DIGITS.fullmatch(value) or not self.low <= int(value) <= self.high:
            raise BadValue(
                f"Bad {key} `{given.quote(value)}`: use a number from {self.low} to {self.high}. {UNCHANGED}"
            )
        return str(int(value))

    def load(self, stored: str) -> int:
        return int(stored)

    def reading(self, value: int) -> str:
        return str(value) if value else self.zero


@dataclass(frozen=True, slots=True)
class Choice(Kind[str]):
    """One of `choices` (stored lower case). `suggest`: an unknown one gets "Did you mean …?"."""

    choices: tuple[str, ...]
    suggest: bool = False
    example: str = ""

    @property
    def form(self) -> str:
        return self.example or "|".join(self.choices)

    def parse(self, key: str, given: Given) -> str:
        value, lowered = given.value, given.value.lower()
        if lowered in self.choices:
            return lowered
        if not self.suggest:
            raise BadValue(f"Bad {key} `{given.quote(value)}`: use {_alternatives(self.choices)}. {UNCHANGED}")
        close = difflib.get_close_matches(lowered, self.choices, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        listed = ", ".join(f"`{c}`" for c in self.choices)
        raise BadValue(f"Unknown {key} `{given.quote(value)}`.{hint} Valid: {listed}. {UNCHANGED}")

    def load(self, stored: str) -> str:
        if stored not in self.choices:
            raise ValueError(stored)
        return stored


def named(value: str | None) -> tuple[str, ...]:
    """The people (or groups) a stored list names: none for "", "anyone" and "none"."""
    value = value or ""
    return () if value in ("", "anyone", "none") else tuple(v for v in value.split(",") if v)


@dataclass(frozen=True, slots=True)
class People(Kind[tuple[str, ...]]):
    """People (and user groups, with `groups`) named with @, stored as ids "U1,S2"; or one of `nobody`
    (stored as the first), which `nobody_reads` as."""

    groups: bool
    nobody: tuple[str, ...] = ("anyone",)
    nobody_reads: str = "anyone"
    many = True

    @property
    def form(self) -> str:
        return ("@people @groups" if self.groups else "@people") + f"|{self.nobody[0]}"

    def parse(self, key: str, given: Given) -> str:
        if len(given.words) == 1 and given.words[0].lower() in self.nobody:
            return self.nobody[0]
        ids: list[str] = []
        for token in given.words:
            person, group = PERSON.fullmatch(token), GROUP.fullmatch(token)
            if person is not None:
                ids.append(person.group(1))
            elif group is not None and self.groups:
                ids.append(group.group(1))
            else:
                what = "people and user groups" if self.groups else "people"
                shown = given.quote(given.typed(token))
                raise BadValue(f"Bad {key} `{shown}`: name {what} with @, or say `{self.nobody[0]}`. {UNCHANGED}")
        return ",".join(dict.fromkeys(ids))

    def load(self, stored: str) -> tuple[str, ...]:
        return named(stored)

    def reading(self, value: tuple[str, ...]) -> str:
        return ", ".join(value) if value else self.nobody_reads


@dataclass(frozen=True, slots=True)
class Channel(Kind[str]):
    """A channel (`#name` as Slack escapes it, or an id), stored as its id; "" is the worker's default."""

    @property
    def form(self) -> str:
        return "#channel"

    def parse(self, key: str, given: Given) -> str:
        match = CHANNEL.fullmatch(given.words[0])
        if match is None:
            quoted = given.quote(given.value)
            raise BadValue(f"Bad {key} `{quoted}`: name a channel, e.g. #approvals. {UNCHANGED}")
        return match.group(1) or match.group(2)

    def load(self, stored: str) -> str:
        return stored


@dataclass(frozen=True, slots=True)
class Reminders(Kind[tuple[int, ...]]):
    """Increasing durations (at most `MAX_REMINDERS`), stored as seconds "900,3600"; or `off`."""

    @property
    def form(self) -> str:
        return "15m,1h|off"

    def parse(self, key: str, given: Given) -> str:
        value = given.value
        if value.lower() == "off":
            return "off"
        form = f"use increasing durations separated by commas, e.g. `15m,1h` (each {FORMS}), or `off`"
        seconds: list[int] = []
        for part in value.split(","):
            try:
                seconds.append(parse_duration(part))
            except DurationError as exc:
                shown = given.quote(part.strip() or value)
                raise BadValue(f"Bad {key} `{shown}`: {exc.problem}; {form}. {UNCHANGED}") from None
        if len(seconds) > MAX_REMINDERS:
            raise BadValue(f"At most {MAX_REMINDERS} reminders (this is {len(seconds)}). {UNCHANGED}")
        if any(later <= earlier for earlier, later in itertools.pairwise(seconds)):
            raise BadValue(f"Bad {key} `{given.quote(value)}`: the durations are not increasing; {form}. {UNCHANGED}")
        return ",".join(str(s) for s in seconds)

    def load(self, stored: str) -> tuple[int, ...]:
        return tuple(int(s) for s in stored.split(",") if s.isascii() and s.isdigit())

    def reading(self, value: tuple[int, ...]) -> str:
        return ", ".join(format_duration(v) for v in value) or "off"


@dataclass(frozen=True, slots=True)
class RiskWords(Kind[tuple[str, ...]]):
    """Comma-separated words or phrases (stored lower case, one space apart), `default` or `none`."""

    many = True

    @property
    def form(self) -> str:
        return "a, b, c|default|none"

    def parse(self, key: str, given: Given) -> str:
        text = given.typed(" ".join(given.words))
        lowered = text.strip().lower()
        if lowered in ("default", "none"):
            return lowered
        words = [" ".join(given.clean(w).lower().split()) for w in text.split(",")]
        words = list(dict.fromkeys(w for w in words if w))
        if not words:
            raise BadValue(f"Give risk words separated by commas, e.g. `delete, drop table, deploy`. {UNCHANGED}")
        if len(words) > MAX_RISK_WORDS:
            raise BadValue(f"At most {MAX_RISK_WORDS} risk words (this is {len(words)}). {UNCHANGED}")
        long = next((w for w in words if len(w) > MAX_RISK_WORD_CHARS), None)
        if long is not None:
            raise BadValue(
                f"Risk word `{given.quote(long)}` is longer than {MAX_RISK_WORD_CHARS} characters. {UNCHANGED}"
            )
        return ",".join(words)

    def load(self, stored: str) -> tuple[str, ...]:
        return risk_words_setting(stored)

    def reading(self, value: tuple[str, ...]) -> str:
        return ", ".join(value) or "none"


@dataclass(frozen=True, slots=True)
class Option:
    """One channel setting, as declared on its `ChannelSettings` field (`name` and `default` come from it).

    values: what the value is, in "Usage: `/agent config <key> <value>` where value is …"
    gist: what it does, after its forms in `/agent help` (optional)
    topic: the line of `/agent help` it is on (settings of one topic are next to each other)
    doc: the reference table's "values" column (Markdown)
    doc_default: the reference table's "default" column, when it is not the default's reading
    admin_only: the stored value only a named admin may set (it widens who may decide), if any
    """

    kind: Kind[Any]
    values: str
    topic: str
    doc: str
    gist: str = ""
    doc_default: str = ""
    admin_only: str = ""
    name: str = ""
    default: Any = None

    def read(self, stored: str | None, default: Any = None) -> Any:
        """The value of what the store holds (`default`, or the declared one, when nothing is stored)."""
        fallback = self.default if default is None else default
        if not stored:
            return fallback
        try:
            return self.kind.load(stored)
        except ValueError:  # not written by `parse_setting`
            return fallback

    def reading(self, value: Any) -> str:
        """`value` as people read it, in plain text."""
        return self.kind.reading(value)

    @property
    def help(self) -> str:
        """This setting in `/agent help`."""
        return f"`{self.name} {self.kind.form}`" + (f": {self.gist}" if self.gist else "")


def option(kind: Kind[Any], **declared: str) -> dict[str, Option]:
    """A `ChannelSettings` field's metadata: `field(default=..., metadata=option(Flag(), values=..., ...))`."""
    return {"option": Option(kind, **declared)}


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Per-channel settings, one field each, in the order `/agent config` shows them; unset values fall back
    to their defaults (`timeout`: the worker's APPROVAL_TIMEOUT)."""

    timeout: int = field(metadata=option(
        Duration(off="never"),
        values="a duration: 90, 90s, 15m, 2h or 1d (1 second to 7 days), or `never`",
        topic="timeout", gist="how long a card waits (90, 90s, 15m, 2h, 1d; 1s to 7d)",
        doc_default="`APPROVAL_TIMEOUT`",
        doc="a duration, 1 s to 7 days; applies to the whole quorum. Or `never` (with a warning: reminders are"
        " then the only nudge)",
    ))
    timeout_outcome: str = field(default="reject", metadata=option(
        Choice(("reject", "approve")), values="reject or approve", topic="timeout", gist="what a timeout means",
        admin_only="approve", doc="`reject`, or `approve` for low-risk channels (admin only, see below)",
    ))
    timeout_approves_tools: bool = field(default=False, metadata=option(
        Flag(), values="true or false: may `timeout_outcome approve` also approve tool calls and code",
        topic="timeout", gist="whether approve also covers tool calls and code", admin_only="true",
        doc="`true`: `timeout_outcome approve` also applies to tool calls and code; with `false` a timed-out tool"
        " call or code is rejected whatever `timeout_outcome` says (`true` is admin only)",
    ))
    remind: tuple[int, ...] = field(default=(), metadata=option(
        Reminders(),
        values="reminders after a request, mentioning who may still decide: increasing durations such as"
        f" `15m,1h` (at most {MAX_REMINDERS}), or `off`",
        topic="nudges", gist="reminders after a request",
        doc=f"reminders after each request: increasing durations, e.g. `15m,1h` (at most {MAX_REMINDERS}), or"
        " `off`; see \"When nobody answers\"",
    ))
    escalate_after: int = field(default=0, metadata=option(
        Duration(off="off", example="30m"),
        values="when nobody has decided by then, `escalate_to` may decide too: a duration such as 30m, or `off`",
        topic="nudges", gist="when `escalate_to` may decide too",
        doc="when nobody has decided by then, the people in `escalate_to` may decide too (a duration, or `off`)",
    ))
    escalate_to: tuple[str, ...] = field(default=(), metadata=option(
        People(groups=True, nobody=("none", "off"), nobody_reads="nobody"),
        values="people and user groups who may decide once an approval is escalated: @oncall @leads, or `none`",
        topic="nudges", gist="who else may decide after that", doc_default="nobody",
        doc="people and user groups an escalation lets in (`@oncall @leads`, or `none`); checked like"
        " `approvers`; setting people beyond the `approvers` (or sooner) is admin only",
    ))
    approvers: tuple[str, ...] = field(default=(), metadata=option(
        People(groups=True), values="`anyone`, or people and user groups: @alice @bob @approvers", topic="who",
        doc="`anyone`, or people and user groups: `@alice @bob @approvers`. Anyone else's click is refused"
        " (ephemerally, naming who may decide: at most once per person and approval in 10 s, a replayed click is"
        " not answered again) and audited, every click (a flood as one entry with its `count`); the card is"
        " unchanged. Adding someone, or going back to `anyone`, is admin only",
    ))
    required_approvals: int = field(default=1, metadata=option(
        Number(1, 10), values="how many different approvers must approve: a number from 1 to 10", topic="who",
        doc="M distinct approvers must approve (1 to 10, and no more than the named approvers); one click per"
        " person counts once; the card shows \"1 of 2 approvals: @alice\" and keeps its buttons; a reject (or"
        " revise) by an allowed approver vetoes at once. Lowering it is admin only",
    ))
    allow_self_approval: bool = field(default=False, metadata=option(
        Flag(), values="true or false: may the person who started a run decide its approvals", topic="who",
        admin_only="true",
        doc="whether the person who started a run may decide its approvals (`true` is admin only); never one an"
        " operator's policy routes (a policy is a floor: its requester never decides it)",
    ))
    step_up: Literal["high-risk", "always", "never"] = field(default="high-risk", metadata=option(
        Choice(("high-risk", "always", "never")),
        values="which approvals need the approver's passkey before their Approve counts: `high-risk` (those a"
        " policy marks @step_up), `always` or `never`",
        topic="who", admin_only="never",
        doc="`high-risk`: an approval needs each approver's passkey (step-up) when a policy that asks about it says"
        " `@step_up`; `always`: every approval a person decides here; `never`: only those a policy marks"
        " `@step_up` (admin only; a policy is a floor). Reject never needs it; no \"always allow\" rule approves a"
        " call that needs it",
    ))
    approvals_channel: str = field(default="", metadata=option(
        Channel(), values="a channel, e.g. #approvals (the bot must be able to post there)", topic="where",
        doc_default="`APPROVALS_CHANNEL`",
        doc="where this channel's cards go (`#channel`; checked with `conversations.info`)",
    ))
    deliver: Literal["channel", "dm", "both"] = field(default="channel", metadata=option(
        Choice(("channel", "dm", "both")),
        values="where approval cards go: `channel` (the approvals channel), `dm` (a direct message to each person"
        " who may decide; needs named approvers) or `both`",
        topic="where", gist="cards by DM to the approvers",
        doc="`channel`: the card in the approvals channel; `dm`: the card in a direct message to each person who"
        " may decide (named approvers, members of named groups; not the requester unless `allow_self_approval`);"
        " `both`. `dm` and `both` need named `approvers` (refused with `anyone`, and `approvers anyone` is refused"
        " while they are set)",
    ))
    admins: tuple[str, ...] = field(default=(), metadata=option(
        People(groups=False, nobody_reads="anyone in the channel"),
        values="`anyone`, or people who may change these settings: @alice @bob", topic="where",
        doc_default="anyone in the channel",
        doc="who may change these settings (`@people`, or `anyone`); `ADMIN_USERS` may everywhere. Only a named"
        " admin sets it: `ADMIN_USERS` name a channel's first admins, nobody claims them (refused and audited)."
        " Every change is audited with its before and after. Also who may cancel others' runs here",
    ))
    mode: str = field(default=DEFAULT_MODE, metadata=option(
        Choice(MODES, suggest=True, example="MODE"),
        values="the input mode of runs started here: always, terminate, never or policy (see `/agent help`)",
        topic="mode",
        doc="input mode of runs started here without `--mode`: `always`, `terminate`, `never`, `policy` (below)",
    ))
    max_auto_replies: int = field(default=DEFAULT_MAX_AUTO_REPLIES, metadata=option(
        Number(0, MAX_AUTO_REPLIES_LIMIT),
        values="automatic replies in a row before a human is asked (terminate, policy) or the run ends (never):"
        f" 0 to {MAX_AUTO_REPLIES_LIMIT}",
        topic="mode",
        doc="automatic replies in a row before a human is asked (`terminate`, `policy`) or the run ends"
        f" (`never`); 0 to {MAX_AUTO_REPLIES_LIMIT}",
    ))
    risk_words: tuple[str, ...] = field(default=DEFAULT_RISK_WORDS, metadata=option(
        RiskWords(),
        values="what needs a human in mode policy: comma-separated words or phrases, e.g. `delete, drop table,"
        " deploy`; or `default`, or `none`",
        topic="mode",
        doc="what needs a human in `policy` mode: comma-separated words or phrases (matched at the start of a"
        " word, `_`/`-` as spaces, so `send email` matches `send_email`), `default` or `none`",
    ))
    checkpoint_every: int = field(default=0, metadata=option(
        Number(0, CHECKPOINT_EVERY_LIMIT, zero="0 (off)"),
        values=f"in mode policy, a card after this many automatic steps: 0 (off) to {CHECKPOINT_EVERY_LIMIT}",
        topic="mode", gist="a card after N automatic steps (0: off)",
        doc="in `policy` mode, a card after this many automatic steps in a row",
    ))

def options_of(settings: type[ChannelSettings] = ChannelSettings) -> dict[str, Option]:
    """The options declared on `settings`' fields, by name, in their order."""
    return {f.name: _bound(f) for f in fields(settings)}


def _bound(declared: Field[Any]) -> Option:
    spec: Option = declared.metadata["option"]
    return replace(spec, name=declared.name, default=None if declared.default is MISSING else declared.default)


OPTIONS = options_of()


def parse_setting(key: str, given: Given, options: Mapping[str, Option] = OPTIONS) -> str:
    """The value to store for `/agent config <key> <given words>`, or BadValue (an unknown key is KeyError)."""
    declared = options[key]
    if not given.words or (len(given.words) > 1 and not declared.kind.many):
        raise BadValue(f"Usage: `/agent config {key} <value>` where value is {declared.values}. {UNCHANGED}")
    return declared.kind.parse(key, given)


def read_settings(
    stored: Mapping[str, str], *, default_timeout: int, settings: type[ChannelSettings] = ChannelSettings
) -> ChannelSettings:
    """The settings of a channel from what its settings hash holds (name -> what `parse_setting` returned)."""
    options = OPTIONS if settings is ChannelSettings else options_of(settings)
    values = {name: declared.read(stored.get(name)) for name, declared in options.items()}
    values["timeout"] = OPTIONS["timeout"].read(stored.get("timeout"), default_timeout)
    return settings(**values)


def help_lines(options: Iterable[Option] = OPTIONS.values()) -> list[str]:
    """The settings' lines of `/agent help`: one per topic."""
    lines: dict[str, list[str]] = {}
    for declared in options:
        lines.setdefault(declared.topic, []).append(declared.help)
    return ["  • " + "; ".join(helps) for helps in lines.values()]


def markdown(options: Iterable[Option] = OPTIONS.values()) -> str:
    """The docs' reference table of the channel settings (docs/operators/configuration.md)."""
    rows = ["| key | default | values |", "| --- | --- | --- |"]
    for declared in options:
        default = declared.doc_default or f"`{declared.reading(declared.default)}`"
        rows.append(f"| `{declared.name}` | {default} | {declared.doc} |")
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str]) -> int:
    """`python -m bot.core.channel_options --markdown`: print the docs' table of channel settings."""
    if list(argv) != ["--markdown"]:
        print("usage: python -m bot.core.channel_options --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
