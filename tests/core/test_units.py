"""Pure parts of bot/core: durations, settings from one mapping, records decoded by their type hints, JSON log lines."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from typing import get_args

import pytest
from agent_approvals.approver import OUTCOMES
from hypothesis import given
from hypothesis import strategies as st

from bot.__main__ import use_event_loop
from bot.core.durations import DurationError, format_duration, parse_duration
from bot.core.records import ApprovalRecord, ApprovalStatus, RunRecord
from bot.core.settings import ApproverSettings, Settings, SettingsError, StoreSettings
from tests.support.approver import record


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("7d", 604800), ("1s", 1), (" 15M ", 900)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "8d", "604801", "15 minutes", "-5m", "1.5h", "m", "15mm"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError, match="90, 90s, 15m, 2h or 1d"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=7 * 86400))
def test_format_then_parse_first_unit(seconds: int) -> None:
    shown = format_duration(seconds)
    assert shown and all(part[-1] in "dhms" for part in shown.split())


def test_settings_from_mapping_hide_secrets() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-secret",
        "SLACK_SIGNING_SECRET": "sig-secret",
        "APPROVALS_CHANNEL": "C0APPROVALS",
        "REDIS_URL": "redis://:hunter2@localhost:6379/0",
        "OPENAI_API_KEY": "sk-secret",
        "APPROVAL_TIMEOUT": "15m",
    }
    settings = Settings.from_env(env)
    assert settings.approval_timeout == 900 and settings.slack_api_url == "https://slack.com/api/"
    shown = repr(settings)
    assert not any(secret in shown for secret in ("xoxb-secret", "sig-secret", "hunter2", "sk-secret"))
    with pytest.raises(SettingsError, match="APPROVALS_CHANNEL must be a channel id"):
        Settings.from_env({**env, "APPROVALS_CHANNEL": "#approvals"})
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is not set"):
        Settings.from_env({k: v for k, v in env.items() if k != "SLACK_SIGNING_SECRET"})
    with pytest.raises(SettingsError, match="APPROVAL_TIMEOUT"):
        Settings.from_env({**env, "APPROVAL_TIMEOUT": "forever"})


def test_settings_layers_read_one_mapping_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-secret",
        "APPROVALS_CHANNEL": "C0APPROVALS",
        "REDIS_URL": "redis+cluster://:hunter2@localhost:7000",
        "REDIS_KEY_PREFIX": "team",
        "SLACK_API_URL": "http://127.0.0.1:9/api",
        "HEARTBEAT_SECONDS": "3",
    }
    store = StoreSettings.from_env(env)  # the audit export's: Redis only
    assert store.store_prefix == "{team}" and store.redis_url.get_secret_value() == env["REDIS_URL"]
    assert StoreSettings.from_env({"REDIS_KEY_PREFIX": "team"}).store_prefix == "team"  # not a cluster
    approver = ApproverSettings.from_env(env)  # posting cards: no signing secret needed
    assert approver.store_prefix == "{team}" and approver.slack_api_url == "http://127.0.0.1:9/api/"
    assert approver.heartbeat_seconds == 3.0 and approver.approval_timeout == 600
    assert approver.slack_bot_token.get_secret_value() == "xoxb-secret"
    assert "hunter2" not in repr(approver) and "xoxb-secret" not in repr(approver)
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN is not set"):
        ApproverSettings.from_env({"APPROVALS_CHANNEL": "C0APPROVALS"})
    worker = {**env, "SLACK_SIGNING_SECRET": "signing-secret"}
    with pytest.raises(SettingsError) as bad:  # a bad value is named, never shown (it may be a secret)
        Settings.from_env({**worker, "PORT": "hunter2", "REDIS_TIMEOUT": "xoxb-secret"})
    assert "PORT must be a whole number from 1 to 65535" in str(bad.value)
    assert "REDIS_TIMEOUT must be a number of seconds from 0.1 to 60" in str(bad.value)
    assert "hunter2" not in str(bad.value) and "xoxb-secret" not in str(bad.value)
    blanks = {"PORT": " ", "AUDIT_RETENTION": "", "MODEL_CACHE": "on", "ADMIN_USERS": "U1, U2"}
    blank = Settings.from_env({**worker, **blanks})
    assert blank.port == 3000 and blank.audit_retention == 90 * 86400 and blank.model_cache  # blank: the default
    assert blank.admin_users == ("U1", "U2") and blank.slack_app_token is None
    with pytest.raises(SettingsError, match="MODEL_CACHE must be true or false"):
        Settings.from_env({**worker, "MODEL_CACHE": "maybe"})
    monkeypatch.setenv("PORT", "4242")  # the mapping given is all that is read
    assert Settings.from_env(worker).port == 3000


def test_event_loop_setting() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "APPROVALS_CHANNEL": "C0APPROVALS"}
    assert Settings.from_env(env).event_loop == "auto"
    assert Settings.from_env({**env, "EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
    with pytest.raises(SettingsError, match="EVENT_LOOP must be one of: auto, uvloop, asyncio"):
        Settings.from_env({**env, "EVENT_LOOP": "trio"})
    before = asyncio.get_event_loop_policy()
    try:
        assert use_event_loop("asyncio") == "asyncio"
        assert asyncio.get_event_loop_policy() is before
        installed = importlib.util.find_spec("uvloop") is not None  # a dependency on Linux and macOS
        assert use_event_loop("auto") == ("uvloop" if installed else "asyncio")
        assert type(asyncio.get_event_loop_policy()).__module__.startswith("uvloop") == installed
    finally:
        asyncio.set_event_loop_policy(before)


def test_records_decode_by_their_type_hints() -> None:
    run = RunRecord(
        id="rabcdefg", requester="U0ALICE", channel="C0SALES", task="t", status="waiting", created_at=12.5, epoch=3
    )
    assert RunRecord.from_redis(run.to_redis()) == run
    approval = record(status="timed_out", votes="U0BOB", consumed=1, decided_at=1500.25)
    assert ApprovalRecord.from_redis({**approval.to_redis(), "_text": "x"}) == approval  # other fields: ignored
    assert RunRecord.from_redis({**run.to_redis(), "epoch": "", "finished_at": ""}).epoch == 0  # empty number: 0
    for name, value in (("status", "paused"), ("status", ""), ("epoch", "three"), ("created_at", "soon")):
        with pytest.raises(ValueError):  # the store skips such a record as malformed
            RunRecord.from_redis({**run.to_redis(), name: value})
    with pytest.raises(ValueError, match="status 'starting'"):  # a run's status is not an approval's
        ApprovalRecord.from_redis({**approval.to_redis(), "status": "starting"})
    with pytest.raises(TypeError):
        RunRecord.from_redis({"id": "rabcdefg"})  # a field without a default is missing
    assert set(get_args(ApprovalStatus)) == {"pending", *OUTCOMES}
    assert record(status="pending").decision().outcome == "cancelled"
    assert record(status="revised", feedback="shorter").decision().outcome == "revised"


def test_json_log_lines_carry_ids_and_no_secrets() -> None:
    import logging

    from bot.core.logs import JsonFormatter
    from bot.core.security import RedactingFilter

    record = logging.LogRecord(
        "bot.runs.manager", logging.ERROR, __file__, 1, "run %s failed with %s", ("rabc", "xoxb-t0k3n"), None
    )
    record.run_id = "rabc"
    record.approval_id = "a1b2c3d4-0000"
    assert RedactingFilter(["xoxb-t0k3n"]).filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["run_id"] == "rabc" and line["approval_id"] == "a1b2c3d4-0000" and line["level"] == "ERROR"
    assert line["message"] == "run rabc failed with [redacted]"


def test_log_lines_show_no_card_number_or_key_the_detectors_find_at_any_level() -> None:
    import logging

    from bot.core.detectors import DETECTORS
    from bot.core.security import RedactingFilter

    stripe, card = "sk_live_" + "51Hx" * 6, "4111 1111 1111 1111"
    record = logging.LogRecord("bot.api", logging.DEBUG, __file__, 1, "args %s", ({"card": card, "k": stripe},), None)
    assert RedactingFilter([], detectors=DETECTORS).filter(record)
    shown = record.getMessage()
    assert card not in shown and stripe not in shown and "card ending 1111" in shown
