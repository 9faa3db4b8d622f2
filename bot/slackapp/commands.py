"""The commands `/agent ...` asks for (bot/slackapp/command_parser.py reads them from the text Slack sends). Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.core.allow_rules import DEFAULT_MIN_APPROVED


@dataclass(frozen=True, slots=True)
class Start:
    task: str
    team: str | None = None
    mode: str | None = None


@dataclass(frozen=True, slots=True)
class Help:
    topic: str = ""  # `/agent help config`: "config"; '' for the short list


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
    # the value's words as Slack sent them, for what only the worker's settings can check (a Teams link's tenant)
    words: tuple[str, ...] = field(default=(), compare=False)


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
    """`/agent keys create <name> [#channel]`: a key that may ask in `channel` ("": this channel), shown once."""

    name: str
    channel: str = ""


@dataclass(frozen=True, slots=True)
class RevokeKey:
    """`/agent keys revoke <name>`."""

    name: str


@dataclass(frozen=True, slots=True)
class RevokePasskeys:
    """`/agent passkeys revoke @person`: every passkey of `person` (an admin's, for a lost device)."""

    person: str


@dataclass(frozen=True, slots=True)
class ShowPolicy:
    """`/agent policy`: the policies in force and what those in shadow would have changed here."""


@dataclass(frozen=True, slots=True)
class Invalid:
    message: str


@dataclass(frozen=True, slots=True)
class Freeze:
    """`/agent freeze all|#channel|key NAME|agent NAME [reason]`: `scope` as bot/store/freezes.py names it."""

    scope: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Unfreeze:
    """`/agent unfreeze <scope>`: asked by one admin, confirmed by a second (four eyes)."""

    scope: str


@dataclass(frozen=True, slots=True)
class Attest:
    """`/agent attest NAME|#channel` (attest to its brief), `/agent attest` (yours), `/agent attest brief
    NAME|#channel` (write it: its owner), `/agent attest grant|revoke @person NAME|#channel` (its owner): `scope` as
    bot/core/attestations.py names it."""

    action: Literal["attest", "list", "brief", "grant", "revoke"]
    scope: str = ""
    person: str = ""


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
    | RevokePasskeys
    | Freeze
    | Unfreeze
    | ShowPolicy
    | Attest
    | Invalid
)
RulesCommand = ListRules | RevokeRule | SuggestRules  # `/agent rules ...`
KeysCommand = ListKeys | CreateKey | RevokeKey  # `/agent keys ...`
