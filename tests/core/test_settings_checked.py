"""Config checked at start (#67.6), in process: every range an error message says is the range accepted (each
duration and whole-number setting probed at both ends; `AUDIT_RETENTION` said "up to 7 days" and took 3650d), a
`LOG_FORMAT` or `LOG_LEVEL` the bot does not know is refused naming it, and variables with the bot's names misspelt
are found (names only). The processes that refuse to start are tests/scenarios/test_start_checks.py."""

from __future__ import annotations

import json
import logging
import re

import pytest
from pydantic.fields import FieldInfo

from bot.__main__ import warn_misspelt
from bot.core.durations import DurationError, parse_duration
from bot.core.environment import misspelt
from bot.core.settings import Settings, SettingsError

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "APPROVALS_CHANNEL": "C0123456789"}
UNIT_SECONDS = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}
UNIT_LETTER = {"day": "d", "hour": "h", "minute": "m", "second": "s"}


def reader(field: FieldInfo) -> str:
    """Which of bot/core/setting_values.py's readers a field's value goes through ("" when none of these)."""
    for meta in field.metadata:
        name = getattr(getattr(meta, "func", None), "__qualname__", "")
        if name.startswith(("whole.", "duration.", "redis_timeout")):
            return name.split(".")[0]
    return ""


def refusal(variable: str, value: str) -> str:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**BASE, variable: value})
    return str(refused.value)


def accepted(variable: str, value: str) -> bool:
    try:
        Settings.from_env({**BASE, variable: value})
    except SettingsError:
        return False
    return True


def just_over(seconds: int) -> str:
    """A duration one unit past `seconds`, in the finest unit that writes it in seven digits at most."""
    for letter, size in (("s", 1), ("m", 60), ("h", 3600), ("d", 86400)):
        count = seconds // size + 1
        if len(str(count)) <= 7:
            return f"{count}{letter}"
    raise AssertionError(seconds)


RANGED = [(Settings.variables()[name], reader(field)) for name, field in Settings.model_fields.items() if reader(field)]


def test_the_ranged_settings_are_found() -> None:
    found = dict(RANGED)
    assert found["AUDIT_RETENTION"] == "duration" and found["CODE_TIMEOUT"] == "whole"
    assert found["REDIS_TIMEOUT"] == "redis_timeout" and len(found) >= 20, found


@pytest.mark.parametrize(("variable", "kind"), RANGED, ids=[v for v, _ in RANGED])
def test_each_range_said_is_the_range_accepted(variable: str, kind: str) -> None:
    """The range a refusal says is accepted at both its ends and refused just past each; a description that
    states a range states the same one."""
    said = refusal(variable, "99999999" if kind != "duration" else "9999999d")
    assert said.startswith(variable), said
    description = Settings.model_fields[next(n for n, v in Settings.variables().items() if v == variable)].description
    if kind == "duration":
        match = re.search(r"\((0 \(off\) or )?from 1 second to (\d+) (day|hour|minute|second)s?\)", said)
        assert match, said
        top = int(match[2]) * UNIT_SECONDS[match[3]]
        assert accepted(variable, f"{match[2]}{UNIT_LETTER[match[3]]}") and accepted(variable, "1s"), said
        assert not accepted(variable, just_over(top)), said
        assert accepted(variable, "0") == bool(match[1]), said
        assert refusal(variable, just_over(top)).endswith(said.split("; use ")[1]), said
        return
    match = re.search(r"from ([0-9.]+) to ([0-9.]+)", said)
    assert match, said
    low, high = match[1], match[2]
    assert accepted(variable, low) and accepted(variable, high), said
    step = "0.01" if kind == "redis_timeout" else "1"
    below, above = (f"{float(low) - float(step):g}", f"{float(high) + float(step):g}") if step != "1" else (
        str(int(low) - 1), str(int(high) + 1))
    assert not accepted(variable, below) and not accepted(variable, above), said
    stated = re.search(r"\(([0-9.]+) to ([0-9.]+)\)", description or "")
    if stated:
        assert (stated[1], stated[2]) == (low, high), (variable, description)


def test_the_retentions_say_3650_days_and_the_receipt_ttl_one_day() -> None:
    assert "(from 1 second to 3650 days)" in refusal("AUDIT_RETENTION", "3651d")
    assert accepted("AUDIT_RETENTION", "3650d") and accepted("RUN_RETENTION", "3650d")
    assert "(from 1 second to 1 day)" in refusal("RECEIPT_TTL", "2d")
    assert "(0 (off) or from 1 second to 30 days)" in refusal("STEP_UP_NEW_PASSKEY_COOLOFF", "31d")
    assert "(from 1 second to 7 days)" in refusal("APPROVAL_TIMEOUT", "8d")


@pytest.mark.parametrize(("longest", "said"), [(86400, "1 day"), (30 * 86400, "30 days"), (3600, "1 hour"),
                                                (90, "90 seconds"), (7 * 86400, "7 days")])
def test_a_duration_error_says_its_callers_range(longest: int, said: str) -> None:
    for text in (f"{longest + 1}s", "soon"):
        with pytest.raises(DurationError) as refused:
            parse_duration(text, max_seconds=longest)
        assert f"from 1 second to {said})" in str(refused.value)


@pytest.mark.parametrize(("variable", "value"), [("LOG_FORMAT", "xml"), ("LOG_FORMAT", "jsonl"),
                                                 ("LOG_LEVEL", "verbose")])
def test_an_unknown_log_format_or_level_is_refused_naming_it(variable: str, value: str) -> None:
    said = refusal(variable, value)
    assert said.startswith(f"{variable} must be one of: "), said
    assert ("text, json" if variable == "LOG_FORMAT" else "DEBUG, INFO, WARNING, ERROR, CRITICAL") in said


def test_known_log_formats_and_levels_are_read() -> None:
    settings = Settings.from_env({**BASE, "LOG_FORMAT": " JSON ", "LOG_LEVEL": "warning"})
    assert (settings.log_format, settings.log_level) == ("json", "WARNING")
    assert Settings.from_env(BASE).log_format == "text"


def test_a_channel_that_is_not_an_id_is_refused_naming_it() -> None:
    assert refusal("APPROVALS_CHANNEL", "#approvals") == (
        "APPROVALS_CHANNEL must be a channel id such as C0123456789 (not a #name)")


def test_misspelt_variables_are_found_by_name_only() -> None:
    environ = {"APROVALS_CHANNEL": "C1", "SLACK_BOT_TOKN": "xoxb-secret", "log_format": "json", "REDIS_URI": "r",
               "AUDIT_RETENTON": "9d", "HOME": "/root", "PATH": "/bin", "LANG": "C", "SLACK_CLIENT_ID": "1",
               "AGENT_APPROVALS_URL": "http://x", "REDIS_URL": "redis://", "PORT": "3000"}
    assert misspelt(environ) == [("APROVALS_CHANNEL", "APPROVALS_CHANNEL"), ("AUDIT_RETENTON", "AUDIT_RETENTION"),
                                 ("REDIS_URI", "REDIS_URL"), ("SLACK_BOT_TOKN", "SLACK_BOT_TOKEN"),
                                 ("log_format", "LOG_FORMAT")]
    assert misspelt({variable: "x" for variable in Settings.variables().values()}) == []


def test_a_misspelt_variable_is_warned_about_without_its_value(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    warn_misspelt({"SLACK_BOT_TOKN": "xoxb-never-shown", "HOME": "/root"})
    assert [r.getMessage() for r in caplog.records] == [
        "SLACK_BOT_TOKN is set but is no setting of the bot (not read): did you mean SLACK_BOT_TOKEN?"]
    assert "never-shown" not in caplog.text


SLACKBOT = {"key": "slackbot", "upstreams": [{"name": "mailbox", "command": ["mailbox"]}]}


def test_slackbot_mcp_names_a_key_per_workspace_and_refuses_a_bad_map() -> None:
    """SLACKBOT_MCP's "workspaces": each other workspace's (T…) or organisation's (E…) key; the home one's is `key`;
    a workspace named nowhere has none (its calls are refused)."""
    given = {**SLACKBOT, "workspaces": {"T0OTHER": "slackbot-other", "E0GRID": " slackbot-grid "}}
    config = Settings.from_env({**BASE, "SLACKBOT_MCP": json.dumps(given)}).slackbot_mcp
    assert config is not None
    assert config.key_for("T0DEV", None, home=True) == "slackbot"
    assert config.key_for("T0OTHER", None, home=False) == "slackbot-other"
    assert config.key_for("T0GRIDB", "E0GRID", home=False) == "slackbot-grid"
    assert config.key_for("T0ELSE", None, home=False) is None
    for bad in ({"t0other": "k"}, {"T0OTHER": ""}, ["T0OTHER"], {"T0OTHER": 3}):
        said = refusal("SLACKBOT_MCP", json.dumps({**SLACKBOT, "workspaces": bad}))
        assert '"workspaces" must map workspace ids' in said, said
