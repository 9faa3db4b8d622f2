"""A policy's annotations (`@id("...")`, `@outcome("ask")`, `@approvers`, `@quorum`, `@channel`, `@timeout`, `@sla`,
`@mode`, `@step_up`, `@require_attestation`, `@require_details`, `@triage`, `@triage_may_approve`, `@triage_mode`,
`@ticket`, `@reach`), each checked, in the project's words, as the bundle loader reads a policy (bot/policy/bundle.py).
Pure."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from bot.core.attestations import NAME as ATTESTATION_NAME
from bot.core.documents import STRICT_DOCUMENT, refuse
from bot.core.durations import parse_duration
from bot.core.people import schedule_of
from bot.core.reach import FORM as ROUTE_FORM
from bot.core.reach import RouteError, parse_route, route_text

ANNOTATIONS = ("id", "reason", "outcome", "approvers", "quorum", "channel", "timeout", "mode", "step_up",
               "require_attestation", "require_details", "sla", "triage", "triage_may_approve", "triage_mode", "ticket",
               "reach")
MAX_QUORUM = 10
MAX_TIMEOUT = 7 * 86400
_APPROVER = re.compile(r"[UWS][A-Z0-9]{2,}")
_CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,99}")  # a model's name as MODEL_CONFIG writes it (`model`)
RISKS = ("low", "medium", "high")  # a triage model's risk levels, lowest first

# the annotations that name something: the form of its name, and what a refusal says to write
_NAMES: dict[str, tuple[re.Pattern[str], str]] = {
    "require_attestation": (ATTESTATION_NAME, "name a brief, 1 to 40 lowercase letters, digits or _ . - (`/agent"
                            " attest brief NAME` writes it)"),
    "triage": (_MODEL, "name a model of MODEL_CONFIG (its `model`), such as @triage(\"llama3.1\")"),
}
# the annotations that take one of a few words (trimmed, in any case): the words, and what a refusal says to use
_WORDS: dict[str, tuple[tuple[str, ...], str]] = {
    "triage_may_approve": (RISKS, "use \"low\", \"medium\" or \"high\" (the highest risk the model may approve at)"),
    "triage_mode": (("shadow", "decide"), "use \"shadow\" (the model's reading is only audited) or \"decide\" (the"
                    " default)"),
    "ticket": (("jira", "servicenow"), "use \"jira\" or \"servicenow\""),
}
# those of them that need @triage, and what its absence tells to do
_NEEDS_TRIAGE = {"triage_may_approve": "name the model that may approve",
                 "triage_mode": "name the model that reads the ask"}

EFFECT = " effect"  # the policy's effect, beside its annotations (no annotation has a space in its name)


class Annotations(BaseModel):
    """A policy's annotations (`@id("...")`, `@outcome("ask")`...), each checked in this order, with its effect."""

    model_config = STRICT_DOCUMENT

    effect: Literal["permit", "forbid"] = Field(alias=" effect")  # `EFFECT`
    id: str = Field(default="", validate_default=True)
    reason: str = ""
    outcome: Literal["", "ask", "deny", "allow"] = ""
    mode: Literal["shadow", "enforce"] = "enforce"
    approvers: tuple[str, ...] = ()
    quorum: int = 0
    channel: str = ""
    timeout: int | None = None
    step_up: bool = False
    require_attestation: str = ""
    require_details: bool = False
    sla: int | None = None
    triage: str = ""  # @triage("model"): the model of MODEL_CONFIG that reads the ask (bot/approvals/triage.py)
    triage_may_approve: Literal["", "low", "medium", "high"] = ""  # the highest risk it may approve at ("": none)
    triage_mode: Literal["decide", "shadow"] = "decide"  # @triage_mode("shadow"): its reading is only audited
    ticket: Literal["", "jira", "servicenow"] = ""  # a change ticket per approval (bot/tickets/, issue 91)
    reach: str = ""  # @reach("slack; email after 10m"): its route across surfaces, canonical (bot/core/reach.py)

    @model_validator(mode="before")
    @classmethod
    def _known(cls, given: dict[str, str | None]) -> dict[str, str]:
        notes = {name: value or "" for name, value in given.items()}  # `@step_up` has no value
        unknown = sorted(set(notes) - {*ANNOTATIONS, EFFECT})
        if unknown:
            raise refuse(f"unknown annotation @{unknown[0]} (known: {', '.join(ANNOTATIONS)})")
        return notes

    @field_validator("id", "reason", "channel", mode="before")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @field_validator("id")
    @classmethod
    def _named(cls, policy_id: str) -> str:
        if not policy_id:
            raise refuse("every policy needs an @id(\"...\"): audit entries, receipts and cards name it")
        return policy_id

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, outcome: str, info: ValidationInfo) -> str:
        effect = info.data.get("effect")
        if outcome not in ("", "ask", "deny", "allow"):
            raise refuse(f"@outcome({outcome!r}): use \"ask\" (on a forbid)")
        if outcome == "ask" and effect != "forbid":
            raise refuse("@outcome(\"ask\") is for a forbid: a permit allows")
        if outcome in ("allow", "deny") and (outcome == "allow") != (effect == "permit"):
            raise refuse(f"@outcome({outcome!r}) contradicts its effect ({effect})")
        return outcome

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, mode: str) -> str:
        if mode not in ("shadow", "enforce"):
            raise refuse(f"@mode({mode!r}): use \"shadow\" or \"enforce\"")
        return mode

    @field_validator("approvers", mode="before")
    @classmethod
    def _approvers(cls, given: str) -> tuple[str, ...]:
        approvers = tuple(part.strip() for part in given.split(",") if part.strip())
        bad = [who for who in approvers if not _APPROVER.fullmatch(who) and schedule_of(who) is None]
        if bad:
            raise refuse(f"@approvers: {bad[0]!r} is not a Slack user (U…, W…) or user group (S…) id, or an"
                         " on-call schedule (oncall:<schedule>)")
        return approvers

    @field_validator("quorum", mode="before")
    @classmethod
    def _quorum(cls, given: str) -> int:
        text = given.strip()
        if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_QUORUM):
            raise refuse(f"@quorum({text!r}): use a number from 1 to {MAX_QUORUM}")
        return int(text)

    @field_validator("channel")
    @classmethod
    def _channel(cls, channel: str) -> str:
        if channel and not _CHANNEL.fullmatch(channel):
            raise refuse(f"@channel({channel!r}) is not a channel id (C…)")
        return channel

    @field_validator("timeout", "sla", mode="before")
    @classmethod
    def _timeout(cls, given: str, info: ValidationInfo) -> int:
        try:
            return parse_duration(given, max_seconds=MAX_TIMEOUT)
        except ValueError:
            raise refuse(f"@{info.field_name}({given!r}): use a duration such as 30m, 2h, 1d") from None

    @field_validator("step_up", mode="before")
    @classmethod
    def _step_up(cls, given: str) -> bool:
        if given.strip().lower() not in ("", "true"):
            raise refuse("@step_up takes no value (or \"true\"): write @step_up")
        return True

    @field_validator(*_NAMES, mode="before")
    @classmethod
    def _name(cls, given: str, info: ValidationInfo) -> str:
        annotation = str(info.field_name)
        form, use = _NAMES[annotation]
        name = given.strip()
        if not form.fullmatch(name):
            raise refuse(f"@{annotation}({name[:40]!r}): {use}")
        return name

    @field_validator("require_details", mode="before")
    @classmethod
    def _require_details(cls, given: str) -> bool:
        said = given.strip().lower()
        if said not in ("true", "false"):
            raise refuse(f"@require_details({given!r}): use \"true\" (or \"false\")")
        return said == "true"

    @field_validator(*_WORDS, mode="before")
    @classmethod
    def _word(cls, given: str, info: ValidationInfo) -> str:
        annotation = str(info.field_name)
        words, use = _WORDS[annotation]
        word = given.strip().lower()
        if word not in words:
            raise refuse(f"@{annotation}({given[:40]!r}): {use}")
        if annotation in _NEEDS_TRIAGE and not info.data.get("triage"):
            raise refuse(f"@{annotation} needs @triage(\"model\"): {_NEEDS_TRIAGE[annotation]}")
        return word

    @field_validator("reach", mode="before")
    @classmethod
    def _reach(cls, given: str) -> str:
        try:
            steps = parse_route(given)
        except RouteError as exc:
            raise refuse(f"@reach({given[:60]!r}): {exc}; use {ROUTE_FORM}") from None
        if not steps:
            raise refuse(f"@reach({given[:60]!r}): name at least one step; use {ROUTE_FORM}")
        return route_text(steps)

    @field_validator("approvers", "quorum", "channel", "timeout", "step_up", "require_attestation",
                     "require_details", "sla", "triage", "triage_may_approve", "triage_mode", "ticket", "reach",
                     mode="before")
    @classmethod
    def _asks(cls, given: str, info: ValidationInfo) -> str:
        """An annotation that routes an ask on a policy that does not ask is refused (checked before the
        annotation's own check: the last "before" validator declared runs first)."""
        if info.data.get("outcome") != "ask":
            raise refuse(f"@{info.field_name} routes an ask: it needs @outcome(\"ask\")")
        return given
