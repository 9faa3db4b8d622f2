"""Channel settings (`/agent config <key> <value>`), each declared once: a field of `ChannelSettings` below.

A field's `option(...)` says what kind of value the setting takes (bot/core/setting_kinds.py: `Duration`, `Flag`,
`Number`, `Choice`, `People`, `Channel`, `Reminders`, `RiskWords`: how a typed value is checked and stored, how the
stored string reads back), what `/agent config` and `/agent help` say of it, its line in the docs' configuration
reference and which value only a named admin may set. The rest is derived from these declarations (`options_of`):

- parsing and checking `/agent config <key> <value>`: `parse_setting` (`bot.slackapp.command_parser`);
- storage: the store writes the string `parse_setting` returns in the channel's settings hash, under the
  setting's name, and reads them all back with `read_settings` (`bot.store.channel_settings`), each by its kind, into
  `ChannelSettings`, a pydantic model (a value of the wrong type, or a field not declared, is refused there);
- what `/agent config` and `/agent help` show (`bot.slack.blocks.replies`, by kind);
- the docs' reference table (docs/operators/configuration.md): `python -m bot.core.channel_options --markdown`
  (a test compares them).

A new boolean setting is one field here::

    notify_requester: bool = field(default=False, metadata=option(
        Flag(), values="true or false: ...", gist="...", topic="who", doc="...", admin_only="true"))
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import Any, Literal

from agent_approvals.modes import (
    CHECKPOINT_EVERY_LIMIT,
    DEFAULT_MAX_AUTO_REPLIES,
    DEFAULT_MODE,
    DEFAULT_RISK_WORDS,
    MAX_AUTO_REPLIES_LIMIT,
    MODES,
)
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass as pydantic_dataclass

from bot.core import markdown_tables
from bot.core.service_levels import ESCALATE_AT
from bot.core.setting_kinds import CHANNEL as CHANNEL  # (the store reads channels and settings by these names)
from bot.core.setting_kinds import (
    MAX_REMINDERS,
    UNCHANGED,
    BadValue,
    Channel,
    Choice,
    Duration,
    Flag,
    Given,
    Kind,
    Number,
    People,
    Reminders,
    RiskWords,
    Route,
    TeamsTarget,
)
from bot.core.setting_kinds import named as named


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


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class ChannelSettings:
    """Per-channel settings, one field each, in the order `/agent config` shows them; unset values fall back
    to their defaults (`timeout`: the worker's APPROVAL_TIMEOUT)."""

    timeout: int = field(metadata=option(
        Duration(off="never"),
        values="a duration: 90, 90s, 15m, 2h or 1d (1 second to 7 days), or `never`",
        topic="timeout", gist="how long a card waits (up to 7d)",
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
        topic="timeout", gist="also tools, code", admin_only="true",
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
        topic="nudges", gist="when `escalate_to` may decide",
        doc="when nobody has decided by then, the people in `escalate_to` may decide too (a duration, or `off`)",
    ))
    escalate_to: tuple[str, ...] = field(default=(), metadata=option(
        People(groups=True, nobody=("none", "off"), nobody_reads="nobody", oncall=True),
        values="people and user groups who may decide once an approval is escalated: @oncall @leads, or whoever is"
        " on call then, `oncall:<schedule>`; or `none`",
        topic="nudges", gist="who else may decide", doc_default="nobody",
        doc="people and user groups an escalation lets in (`@oncall @leads`, or `none`), or whoever is on call at"
        " the escalation, `oncall:<schedule>` (docs: On-call schedules); checked like `approvers`; setting people"
        " beyond the `approvers` (or sooner) is admin only",
    ))
    reach: str = field(default="", metadata=option(
        Route(),
        values="how to reach the people who may decide, in order: steps separated by `;`, each `slack`, `teams`,"
        " `email`, `push` or `oncall:<schedule>` with `after <duration>` from the ask, e.g. `slack; email after"
        " 10m`; or `off`",
        topic="nudges", doc_default="`off`",
        doc="a route across surfaces (see Reach): steps separated by `;`, each `slack` (a direct message to each"
        " approver), `teams`, `email` (the approval mail to each approver with an address), `push` or"
        " `oncall:<schedule>` (the people on call now), with `after <duration>` from the ask (none: at once), in"
        " time order, e.g. `slack; email after 10m; oncall:payments after 30m`; or `off`. Each step is taken"
        " once, only while the approval waits, and shown on its card; a policy's `@reach` wins",
    ))
    sla: int = field(default=0, metadata=option(
        Duration(off="off", example="15m"),
        values="how long an approval may wait for a person: a duration such as 15m (at risk once 80 % of it is"
        " gone, then breached), or `off`",
        topic="nudges", gist="service level",
        doc="the service level: how long an approval may wait for a person (a duration, or `off`). Each pending"
        " approval is *within*, *at risk* (80 % of it gone) or *breached*: on its card, in App Home (breached"
        " first), in `/agent status` and the metrics; each change is audited once (`sla_at_risk`,"
        " `sla_breached`). A policy's `@sla` is a floor: the shorter wins",
    ))
    escalate_at: Literal["request", "at_risk"] = field(default="request", metadata=option(
        Choice(ESCALATE_AT), values="`request` (the escalation comes `escalate_after` after the request) or"
        " `at_risk` (it comes when the approval is at risk of breaching its `sla`, if that is sooner)",
        topic="nudges", admin_only="at_risk",
        doc="`request`: the escalation comes `escalate_after` after the request; `at_risk`: when the approval is"
        " at risk of breaching its `sla` (80 % of it gone), if that is sooner (`escalate_after off`: then only)."
        " Needs `escalate_to`; `at_risk` is admin only (it lets `escalate_to` in sooner)",
    ))
    approvers: tuple[str, ...] = field(default=(), metadata=option(
        People(groups=True, teams=True, oncall=True),
        values="`anyone`, or people and user groups: @alice @bob @approvers, or whoever is on call, oncall:<schedule>",
        topic="who", doc="`anyone`, or people and user groups: `@alice @bob @approvers` (and, with Microsoft Teams,"
        " a Teams-only person of the Teams file as `teams:<object id>`; whoever is on call at the ask,"
        " `oncall:<schedule>`: docs: On-call schedules). Anyone else's click is refused"
        " (ephemerally, naming who may decide: at most once per person and approval in 10 s, a replayed click is"
        " not answered again) and audited, every click (a flood as one entry with its `count`); the card is"
        " unchanged. Adding someone, or going back to `anyone`, is admin only",
    ))
    oncall_fallback: tuple[str, ...] = field(default=(), metadata=option(
        People(groups=True, teams=True, nobody=("none", "off"), nobody_reads="the channel's admins"),
        values="who gets an approval when an on-call schedule (`oncall:<schedule>`) cannot be read: @alice @leads, or"
        " `none` (the channel's `admins`)",
        topic="who", doc_default="the channel's `admins`",
        doc="people and user groups an approval goes to when the on-call schedule its `approvers` or `escalate_to`"
        " name cannot be read (the provider down, a bad token, an answer of another shape): its card says so, it is"
        " audited `oncall_unread` and counted; `none`: the channel's `admins` (with neither, nobody may approve it"
        " and it times out). Naming people beyond the `approvers` is admin only",
    ))
    required_approvals: int = field(default=1, metadata=option(
        Number(1, 10), values="how many different approvers must approve: a number from 1 to 10", topic="who",
        doc="M distinct approvers must approve (1 to 10, and no more than the named approvers); one click per"
        " person counts once; the card shows \"1 of 2 approvals: @alice\" and keeps its buttons; a reject (or"
        " revise) by an allowed approver vetoes at once. Lowering it is admin only",
    ))
    max_asks_per_hour: int = field(default=0, metadata=option(
        Number(0, 10000, zero="0 (off)"),
        values="the most cards one approver gets an hour: a number from 1 to 10000, or 0 (off)", topic="who",
        gist="per person (0: off)",
        doc="the most cards a named approver gets in an hour (0: off). Above it, a new approval goes to the other"
        " named approvers (the card says \"sent to @bob: @ana has had 30 cards this hour\", audited `rerouted`); when"
        " none of them is under it, it is held for the next hour (its card in the channel says so; at HH:00 UTC each"
        " of them gets one DM listing what was held for them)",
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
    require_attestation: bool = field(default=False, metadata=option(
        Flag(), values="true or false: may only people who attested to this channel's brief decide its approvals",
        topic="who", admin_only="false",
        doc="`true`: approving or revising an approval of this channel needs the person's current attestation to"
        " its brief (`/agent attest #channel`; the brief an admin writes with `/agent attest brief #channel`);"
        " without one it is refused, saying how to get one, and audited. Reject never needs it. `false` is admin"
        " only; a policy's `@require_attestation(\"NAME\")` is a floor this does not lower",
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
        topic="where", gist="cards by DM",
        doc="`channel`: the card in the approvals channel; `dm`: the card in a direct message to each person who"
        " may decide (named approvers, members of named groups; not the requester unless `allow_self_approval`);"
        " `both`. `dm` and `both` need named `approvers` (refused with `anyone`, and `approvers anyone` is refused"
        " while they are set)",
    ))
    teams: str = field(default="", metadata=option(
        TeamsTarget(), values="a Microsoft Teams channel's or chat's link, or its conversation id (`19:…`), or `off`",
        topic="where", gist="Teams too", doc_default="`off`",
        doc="a Microsoft Teams channel or chat where this channel's cards go too (its link, *Get link to channel*, or"
        " its conversation id `19:…`; `off`: none): the card read-only for everyone there, with buttons for its"
        " approvers; a link of another tenant than `TEAMS_TENANT_ID` is refused. Where it is `off`, `TEAMS_FILE`'s"
        " route for the channel applies",
    ))
    teams_personal: bool = field(default=False, metadata=option(
        Flag(), values="true or false: do approvers also get their card in their personal chat with the bot in Teams",
        topic="where",
        doc="`true`: each approver with a Teams personal chat with the bot gets their card (with buttons) there too,"
        " and their reminders and escalations; a delegate of someone away too",
    ))
    ticket: Literal["off", "jira", "servicenow"] = field(default="off", metadata=option(
        Choice(("off", "jira", "servicenow")),
        values="`jira` or `servicenow`: open a change ticket for each approval here, closed with its decision; or"
        " `off`",
        topic="where", gist="a change ticket per approval",
        doc="`jira`: each approval that waits for a person opens a change in Jira (`JIRA_*`), `servicenow`: a"
        " `change_request` in ServiceNow (`SERVICENOW_*`), linked on its card and closed with the decision, who"
        " and when; `off`: none. The ticket system down delays no decision (docs: Change tickets)",
    ))
    admins: tuple[str, ...] = field(default=(), metadata=option(
        People(groups=False, nobody_reads="anyone in the channel", emails=True),
        values="`anyone`, or people who may change these settings: @alice @bob (an admin without Slack as"
        " email:ops@example.com)", topic="where",
        doc_default="anyone in the channel",
        doc="who may change these settings (`@people`, or `anyone`); `ADMIN_USERS` may everywhere. Only a named"
        " admin sets it: `ADMIN_USERS` name a channel's first admins, nobody claims them (refused and audited)."
        " Every change is audited with its before and after. Also who may cancel others' runs here. An"
        " `email:<address>` admin (no Slack) gets the weekly digest of parked approvals by e-mail (SMTP_URL)",
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
        topic="mode", gist="a card every N automatic steps",
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
    rows = [
        (f"`{declared.name}`", declared.doc_default or f"`{declared.reading(declared.default)}`", declared.doc)
        for declared in options
    ]
    return markdown_tables.table(("key", "default", "values"), rows)


if __name__ == "__main__":
    raise SystemExit(markdown_tables.main(sys.argv[1:], "bot.core.channel_options", markdown))
