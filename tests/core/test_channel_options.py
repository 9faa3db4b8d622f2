"""The channel settings' declarations (`bot/core/channel_options.py`) and what is derived from them: parsing
`/agent config <key> <value>`, the store, the displays and the docs' table (docs/operators/configuration.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.modes import DEFAULT_RISK_WORDS
from pydantic import ValidationError

from bot.core.channel_options import (
    OPTIONS,
    BadValue,
    Channel,
    ChannelSettings,
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
    help_lines,
    markdown,
    option,
    options_of,
    parse_setting,
    read_settings,
)
from bot.core.reach import FORM as ROUTE_FORM
from bot.slack.blocks import clean, config_text, help_text, show_setting
from bot.slackapp.command_parser import WIDENING, Invalid, SetConfig, as_typed, parse_command
from bot.store import Store

CONFIG_PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators" / "configuration.md"

# One value of each kind as typed in Slack, what is stored and what it reads back as.
SAMPLES: dict[type[Kind[Any]], tuple[str, str, object]] = {
    Duration: ("15m", "900", 900),
    Flag: ("yes", "true", True),
    Number: ("1", "1", 1),
    People: ("<@U0ALICE|alice> <@U0BOB|bob>", "U0ALICE,U0BOB", ("U0ALICE", "U0BOB")),
    Channel: ("<#C0OTHER|other>", "C0OTHER", "C0OTHER"),
    Reminders: ("15m,1h", "900,3600", (900, 3600)),
    RiskWords: ("Deploy,  drop   table", "deploy,drop table", ("deploy", "drop table")),
    Route: ("Slack;  email AFTER 10m", "slack; email after 10m", "slack; email after 10m"),
    TeamsTarget: ("<https://teams.microsoft.com/l/channel/19%3aAb-1%40thread.tacv2/General?groupId=g&amp;tenantId=t>",
                  "19:Ab-1@thread.tacv2", "19:Ab-1@thread.tacv2"),
}


def given(text: str) -> Given:
    return Given(tuple(text.split()), typed=as_typed, quote=lambda t: t[:40], clean=clean)


def sample(declared: Any) -> tuple[str, str, object]:
    if isinstance(declared.kind, Choice):
        last = declared.kind.choices[-1]
        return last.upper(), last, last
    return SAMPLES[type(declared.kind)]


def docs_table() -> str:
    text = CONFIG_PAGE.read_text()
    start = text.index("| key | default | values |")
    return text[start : text.index("\n\n", start) + 1]


@pytest.mark.slow
def test_the_docs_table_is_the_generated_one() -> None:
    assert docs_table() == markdown(), "run: python -m bot.core.channel_options --markdown"
    made = subprocess.run(
        [sys.executable, "-m", "bot.core.channel_options", "--markdown"], capture_output=True, text=True, check=True
    )
    assert made.stdout == markdown()


def test_the_docs_check_can_fail() -> None:
    changed = [replace(o, doc="reminders") if o.name == "remind" else o for o in OPTIONS.values()]
    assert markdown(changed) != docs_table()


def test_every_field_is_declared_with_its_texts() -> None:
    assert list(OPTIONS) == [f.name for f in fields(ChannelSettings)]
    for name, declared in OPTIONS.items():
        assert declared.name == name and declared.values and declared.doc and declared.topic, name
    assert ChannelSettings(timeout=60).risk_words == DEFAULT_RISK_WORDS == OPTIONS["risk_words"].default
    assert WIDENING == {"timeout_outcome": "approve", "timeout_approves_tools": "true", "allow_self_approval": "true",
                        "step_up": "never", "require_attestation": "false",
                        "escalate_at": "at_risk"}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_each_setting_parses_stores_and_reads_back(name: str) -> None:
    declared = OPTIONS[name]
    typed, stored, value = sample(declared)
    assert parse_command(f"config {name} {typed}") == SetConfig(name, stored)
    assert parse_setting(name, given(typed)) == stored
    settings = read_settings({name: stored}, default_timeout=60)
    assert getattr(settings, name) == value
    untouched = read_settings({}, default_timeout=60)
    assert untouched == ChannelSettings(timeout=60)  # nothing stored: every default
    shown = config_text("C0SALES", settings, default_approvals_channel="C0A")
    assert f"• `{name}`: {show_setting(name, stored)}" in shown


@pytest.mark.parametrize("name", list(OPTIONS))
def test_a_missing_or_extra_value_gets_the_declared_usage(name: str) -> None:
    usage = f"Usage: `/agent config {name} <value>` where value is {OPTIONS[name].values}. Setting unchanged."
    assert parse_command(f"config {name}") == Invalid(usage)
    if not OPTIONS[name].kind.many:
        assert parse_command(f"config {name} a b") == Invalid(usage)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("timeout 8d", "Bad timeout `8d`: out of range; use 90, 90s, 15m, 2h or 1d (from 1 second to 7 days), or"
         " `never`. Setting unchanged."),
        ("escalate_after soon", "Bad escalate_after `soon`: not a duration; use 90, 90s, 15m, 2h or 1d (from 1"
         " second to 7 days), or `off`. Setting unchanged."),
        ("allow_self_approval maybe", "Bad allow_self_approval `maybe`: use true or false. Setting unchanged."),
        ("timeout_outcome later", "Bad timeout_outcome `later`: use reject or approve. Setting unchanged."),
        ("deliver email", "Bad deliver `email`: use channel, dm or both. Setting unchanged."),
        ("mode polcy", "Unknown mode `polcy`. Did you mean `policy`? Valid: `always`, `terminate`, `never`,"
         " `policy`. Setting unchanged."),
        ("required_approvals 11", "Bad required_approvals `11`: use a number from 1 to 10. Setting unchanged."),
        ("checkpoint_every ²", "Bad checkpoint_every `²`: use a number from 0 to 100. Setting unchanged."),
        ("admins <!subteam^S0OPS|@ops>", "Bad admins `@ops`: name people with @, or say `anyone`. Setting unchanged."),
        ("escalate_to bob", "Bad escalate_to `bob`: name people and user groups with @, or say `none`. Setting"
         " unchanged."),
        ("approvals_channel approvals", "Bad approvals_channel `approvals`: name a channel, e.g. #approvals. Setting"
         " unchanged."),
        ("remind 1h,15m", "Bad remind `1h,15m`: the durations are not increasing; use increasing durations separated"
         " by commas, e.g. `15m,1h` (each 90, 90s, 15m, 2h or 1d (from 1 second to 7 days)), or `off`. Setting"
         " unchanged."),
        ("remind 1,2,3,4,5,6", "At most 5 reminders (this is 6). Setting unchanged."),
        ("risk_words ,", "Give risk words separated by commas, e.g. `delete, drop table, deploy`. Setting unchanged."),
        ("reach slack; fax after 2m", "Bad reach `slack; fax after 2m`: step 2: 'fax' is not a surface; use slack,"
         f" teams, email, push or oncall:<schedule>; use {ROUTE_FORM}, or `off`. Setting unchanged."),
        ("reach email after 10m; slack after 2m", "Bad reach `email after 10m; slack after 2m`: step 2 (slack after"
         f" 2m) comes before the step before it; order the steps by time; use {ROUTE_FORM}, or `off`. Setting"
         " unchanged."),
        ("reach slack after soon", "Bad reach `slack after soon`: step 1: not a duration: 'soon'; use 90, 90s, 15m,"
         f" 2h or 1d (from 1 second to 7 days); use {ROUTE_FORM}, or `off`. Setting unchanged."),
        ("reach oncall: after 2m", "Bad reach `oncall: after 2m`: step 1: `oncall:` needs a schedule's name"
         f" (letters, digits, _ . -), such as `oncall:payments`; use {ROUTE_FORM}, or `off`. Setting unchanged."),
    ],
)
def test_refusals_say_what_they_said_before(typed: str, message: str) -> None:
    assert parse_command(f"config {typed}") == Invalid(message)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("timeout never", "0"), ("escalate_after OFF", "0"), ("remind off", "off"), ("escalate_to off", "none"),
        ("approvers anyone", "anyone"), ("admins <@U0A|a> <@U0A|a>", "U0A"), ("timeout_approves_tools no", "false"),
        ("approvals_channel C0ABC", "C0ABC"), ("risk_words Default", "default"), ("mode Policy", "policy"),
        ("reach off", "off"), ("reach oncall:payments after 30m", "oncall:payments after 30m"),
        ("admins <@U0A|a> email:Ops@Example.com", "U0A,email:ops@example.com"),  # an admin without Slack (#90)
    ],
)
def test_the_other_forms_are_accepted_as_before(typed: str, stored: str) -> None:
    key = typed.split()[0]
    assert parse_command(f"config {typed}") == SetConfig(key, stored)


def test_what_was_not_written_by_the_parser_reads_as_the_default() -> None:
    settings = read_settings({"deliver": "fax", "mode": "sometimes", "max_auto_replies": "x"}, default_timeout=60)
    assert (settings.deliver, settings.mode, settings.max_auto_replies) == ("channel", "always", 10)


def test_channel_settings_are_a_model_that_refuses_a_value_of_the_wrong_kind() -> None:
    """What is read back is validated as a pydantic model: a value of the wrong type, or a field nobody declared,
    never makes a channel's settings (the parser's strings are read by their kinds first, so none reaches it)."""
    with pytest.raises(ValidationError, match="timeout"):
        ChannelSettings(timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="deliver"):
        ChannelSettings(timeout=60, deliver="fax")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="required_approvals"):
        ChannelSettings(timeout=60, required_approvals=[2])  # type: ignore[arg-type]
    assert ChannelSettings(timeout=60, remind=[900, 3600]).remind == (900, 3600)  # type: ignore[arg-type]


async def test_the_store_keeps_what_the_parser_returns(store: Store) -> None:
    channel = "C0OPTIONS"
    await store.redis.delete(store.keys.settings(channel))
    expected: dict[str, object] = {}
    for name, declared in OPTIONS.items():
        typed, _, value = sample(declared)
        await store.settings.set(channel, name, parse_setting(name, given(typed)), by="U0ALICE")
        expected[name] = value
    assert await store.settings.get(channel, default_timeout=60) == ChannelSettings(**expected)  # type: ignore[arg-type]


# A setting nobody has yet, declared as a new one would be: one field. Parsed, shown, stored and documented.
@dataclass(frozen=True, slots=True)
class WithNewFlag(ChannelSettings):
    notify_requester: bool = field(default=False, metadata=option(
        Flag(), values="true or false: is the person who started a run told of each decision",
        topic="who", gist="tell the requester of each decision", admin_only="true",
        doc="`true`: the person who started a run is told of each decision",
    ))


def test_a_new_boolean_setting_is_one_declaration() -> None:
    options = options_of(WithNewFlag)
    declared = options["notify_requester"]
    assert list(options)[:-1] == list(OPTIONS)
    assert parse_setting("notify_requester", given("on"), options) == "true"
    refusal = "Bad notify_requester `sometimes`: use true or false. Setting unchanged."
    with pytest.raises(BadValue, match=re.escape(refusal)):
        parse_setting("notify_requester", given("sometimes"), options)
    with pytest.raises(BadValue, match="where value is true or false: is the person who started a run told"):
        parse_setting("notify_requester", given("true false"), options)
    settings = read_settings({"notify_requester": "true"}, default_timeout=60, settings=WithNewFlag)
    assert isinstance(settings, WithNewFlag) and settings.notify_requester is True
    assert read_settings({}, default_timeout=60, settings=WithNewFlag) == WithNewFlag(timeout=60)
    assert "• `notify_requester`: true" in config_text("C0SALES", settings, default_approvals_channel="C0A")
    help_line = "`notify_requester true|false`: tell the requester of each decision"
    assert any(help_line in line for line in help_lines(options.values()))
    assert "`notify_requester true|false`" in help_text(presets=["writer"], options=options.values())
    row = "| `notify_requester` | `false` | `true`: the person who started a run is told of each decision |"
    assert row in markdown(options.values()).splitlines() and row not in markdown().splitlines()
    assert declared.admin_only == "true"


def test_help_lists_every_setting_once_and_fits_slack() -> None:
    text = help_text(presets=["writer"])
    for name in OPTIONS:
        assert len(re.findall(rf"`{name} ", text)) == 1, name
    assert len(help_text(presets=["writer"])) < 3000
