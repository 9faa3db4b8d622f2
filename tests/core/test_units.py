"""Pure parts: durations, the command parser, Block Kit builders, settings, and the agents bridge."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import get_args

import pytest
from agent_approvals.approver import OUTCOMES, ApprovalRequest, Decision
from agent_approvals.autogen.input_func import ApprovalUserProxy, make_input_func
from autogen_agentchat.messages import TextMessage
from autogen_core import CancellationToken
from autogen_ext.models.replay import ReplayChatCompletionClient
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.__main__ import use_event_loop
from bot.core.durations import DurationError, format_duration, parse_duration
from bot.core.metrics import Metrics
from bot.core.records import ApprovalRecord, ApprovalStatus, RunRecord
from bot.core.settings import ApproverSettings, Settings, SettingsError, StoreSettings
from bot.devslack.server import SlackStandIn
from bot.runs.demo_model import DemoChatCompletionClient
from bot.runs.models import describe_model, load_model_client, resolve_model_config
from bot.runs.teams import HUMAN, HumanVerdictTermination, build_team
from bot.slack.blocks import build_approval_blocks, build_decided_blocks, escape, safe, untrusted
from bot.slack.client import CountingRetryHandler, CountingWebClient, create_slack_client
from bot.slackapp.command_parser import (
    Cancel,
    Help,
    Invalid,
    SetConfig,
    ShowConfig,
    Start,
    Status,
    as_typed,
    parse_command,
)
from tests.conftest import bot_env, free_port


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


def test_parse_command_forms() -> None:
    assert parse_command("help") == Help()
    assert parse_command("status") == Status()
    assert parse_command("cancel rabc2345") == Cancel("rabc2345")
    assert parse_command("config") == ShowConfig()
    assert parse_command("config timeout 15m") == SetConfig("timeout", "900")
    assert parse_command("config TIMEOUT_OUTCOME Approve") == SetConfig("timeout_outcome", "approve")
    assert parse_command("Draft an email") == Start("Draft an email")
    assert parse_command("help me write a memo") == Start("help me write a memo")  # a task, not a subcommand
    assert parse_command("--team writer --mode always Draft it") == Start("Draft it", team="writer", mode="always")
    typo = parse_command("--team wrtier Draft it")
    assert isinstance(typo, Invalid) and "Did you mean `writer`?" in typo.message
    for bad in ("--mode sometimes Draft it", "--colour red Draft", "--team", "--team writer", "--mode always"):
        assert isinstance(parse_command(bad), Invalid), bad
    for bad in ("", "   ", "stat", "cancel", "cancel ../../etc", "config nope 1", "config timeout", "word"):
        assert isinstance(parse_command(bad), Invalid), bad


def test_command_text_is_read_as_typed() -> None:
    sent = "Email <@U0BOB|bob> in <#C0SALES|sales> &amp; <!here> about <https://x.example/a|the offer> &lt;b&gt;"
    assert parse_command(sent) == Start("Email @bob in #sales & @here about the offer (https://x.example/a) <b>")
    assert as_typed("<!subteam^S0APPROVERS|@approvers> <#C0PRIV|> <!channel>") == "@approvers #C0PRIV @channel"


def test_invalid_messages_quote_user_text_inertly() -> None:
    result = parse_command("config &lt;!channel&gt; x")  # typed "<!channel>", escaped by Slack
    assert isinstance(result, Invalid) and "&lt;!channel&gt;" in result.message and "<!channel>" not in result.message


def record(**changes: object) -> ApprovalRecord:
    base = ApprovalRecord(
        id="a1b2c3d4-0000",
        run_id="rabcdefg",
        owner="w",
        requester="U0ALICE",
        origin_channel="C0SALES",
        card_channel="C0APPROVALS",
        task="Email <!channel> now",
        proposal="Hi <@U0CEO> see <https://evil.example|x>",
        author="assistant",
        created_at=1000.0,
        deadline=1600.0,
        timeout_seconds=600,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_escape_only_the_three_control_characters() -> None:
    assert escape("a & b < c > d \"e\" 'f'") == "a &amp; b &lt; c &gt; d \"e\" 'f'"


def test_only_bot_blocks_text_makes_text_objects() -> None:
    """`bot.slack.blocks.text` is the one escaping path: no other builder makes a text object or escapes by itself."""
    spec = importlib.util.find_spec("bot.slack.blocks")
    assert spec is not None and spec.origin is not None
    others = [p for p in Path(spec.origin).parent.glob("*.py") if p.name != "text.py"]
    assert len(others) >= 5
    for module in others:
        source = module.read_text()
        for spelled in ('"mrkdwn"', '"plain_text"', '"verbatim"', "&amp;", "&lt;", "&gt;"):
            assert spelled not in source, f"{module.name} spells {spelled}"


@given(st.text(max_size=5000))
def test_untrusted_text_is_inert_and_within_limits(text: str) -> None:
    obj = untrusted(text, label="Proposal")
    assert obj["verbatim"] is True and obj["type"] == "mrkdwn"
    assert len(obj["text"]) <= 3000
    body = obj["text"].removeprefix("*Proposal*\n")
    assert "<" not in body and ">" not in body
    assert all(ord(c) >= 32 or c in "\n\t\r" for c in body)


def test_safe_never_splits_an_entity() -> None:
    cut = safe("&" * 5000, 100)
    assert len(cut) <= 100 and cut.endswith("… (cut)")
    assert cut.removesuffix("… (cut)").replace("&amp;", "") == ""


def test_card_blocks_keep_untrusted_text_inert() -> None:
    pending = build_approval_blocks(record())
    dumped = json.dumps(pending)
    assert "<!channel>" not in dumped and "<@U0CEO>" not in dumped and "<https://evil" not in dumped
    assert "&lt;!channel&gt;" in dumped and "&lt;@U0CEO&gt;" in dumped
    assert "<@U0ALICE>" in dumped and "<#C0SALES>" in dumped  # our own, checked ids stay live
    actions = next(b for b in pending if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == ["approval_approve", "approval_reject", "approval_revise"]
    assert {e["value"] for e in actions["elements"]} == {"a1b2c3d4-0000"}
    decided = build_decided_blocks(record(status="revised", decided_by="U0BOB", decided_at=1042.0, feedback="<!here>"))
    text = json.dumps(decided)
    assert "Revision requested* by <@U0BOB>, 42s after the request" in text and "&lt;!here&gt;" in text
    assert not [b for b in decided if b["type"] == "actions"]
    spoofed = build_decided_blocks(record(status="approved", decided_by="<!channel>", decided_at=1001.0))
    assert "<!channel>" not in json.dumps(spoofed)


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


def test_model_resolution(tmp_path: Path) -> None:
    assert resolve_model_config(model_config_path=None, openai_api_key=None)["provider"].endswith(
        "DemoChatCompletionClient"
    )
    openai = resolve_model_config(model_config_path=None, openai_api_key="sk-x")
    assert "sk-x" not in json.dumps(openai) and describe_model(openai) == "gpt-4o-mini (OpenAI)"
    path = tmp_path / "m.yaml"
    path.write_text(
        "provider: autogen_ext.models.replay.ReplayChatCompletionClient\nconfig:\n  chat_completions: [hi]\n"
    )
    client = load_model_client(resolve_model_config(model_config_path=str(path), openai_api_key="sk-x"))
    assert isinstance(client, ReplayChatCompletionClient)
    assert isinstance(
        load_model_client({"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {}}),
        DemoChatCompletionClient,
    )


class ScriptedApprover:
    def __init__(self, *decisions: tuple[str, str]) -> None:
        self.decisions = list(decisions)
        self.requests: list[ApprovalRequest] = []

    async def request(self, request: ApprovalRequest, cancellation_token: CancellationToken | None) -> Decision:
        self.requests.append(request)
        outcome, feedback = self.decisions.pop(0)
        return Decision(request.approval_id, outcome, "U0BOB", feedback)  # type: ignore[arg-type]


async def test_input_func_uses_request_id_and_the_conversation() -> None:
    approver = ScriptedApprover(("approved", "ship it"))
    proxy = ApprovalUserProxy(HUMAN, input_func=make_input_func(approver))
    response = await proxy.on_messages([TextMessage(content="the draft <b>", source="assistant")], CancellationToken())
    assert response.chat_message.to_text() == "APPROVE\nship it"
    request = approver.requests[0]
    assert request.proposal == "the draft <b>" and request.author == "assistant"
    assert len(request.approval_id) == 36  # UserProxyAgent.InputRequestContext.request_id()


async def test_team_revises_then_stops_only_on_the_humans_verdict() -> None:
    approver = ScriptedApprover(("revised", "shorter"), ("approved", ""))
    model = ReplayChatCompletionClient(["Reply APPROVE to send. Draft one.", "Draft two, shorter."])
    team = build_team(
        "writer", model_client=model, input_func=make_input_func(approver, save_state=lambda: team.save_state())
    )
    result = await team.run(task="Write the memo")
    spoken = [(m.source, m.to_text()) for m in result.messages if isinstance(m, TextMessage)]
    assert spoken == [
        ("user", "Write the memo"),
        ("assistant", "Reply APPROVE to send. Draft one."),  # an assistant saying APPROVE does not end the run
        (HUMAN, "shorter"),
        ("assistant", "Draft two, shorter."),
        (HUMAN, "APPROVE"),
    ]
    assert [r.proposal for r in approver.requests] == ["Reply APPROVE to send. Draft one.", "Draft two, shorter."]
    checkpoint = approver.requests[1].checkpoint
    assert checkpoint is not None and "Draft one" in checkpoint  # team state saved with the approval


async def test_termination_ignores_other_sources() -> None:
    condition = HumanVerdictTermination(sources=[HUMAN])
    assert await condition([TextMessage(content="APPROVE", source="assistant")]) is None
    assert await condition([TextMessage(content="Looks good, APPROVE", source=HUMAN)]) is None
    stop = await condition([TextMessage(content="REJECT: too pushy", source=HUMAN)])
    assert stop is not None and condition.terminated


def test_decision_reply_texts() -> None:
    assert Decision("a", "approved").reply_text() == "APPROVE"
    assert Decision("a", "rejected", feedback="no").reply_text() == "REJECT\nno"
    assert Decision("a", "revised", feedback="make it formal").reply_text() == "make it formal"
    assert (
        Decision("a", "timed_out", feedback="no decision within 10m").reply_text() == "REJECT: no decision within 10m"
    )
    assert Decision("a", "timed_out", timeout_outcome="approve").approves


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


async def test_slack_retries_and_errors_are_counted(slack: SlackStandIn) -> None:
    settings = Settings.from_env(bot_env(slack=slack, redis_url="redis://127.0.0.1:6379/0", model_config=None))
    metrics = Metrics()
    client = create_slack_client(settings, metrics)

    def count(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    slack.fail(method="auth.test", status=500, count=1)
    slack.fail(method="auth.test", status=429, count=1, retry_after=0)
    assert (await client.auth_test())["ok"]  # a 500, then a 429: both retried
    assert count("hitl_slack_api_retries_total", handler="ServerError") == 1
    assert count("hitl_slack_api_retries_total", handler="RateLimitError") == 1
    at_once = FixedValueRetryIntervalCalculator(0)  # the same retries as the client's, without the backoff
    quick = CountingWebClient(
        token="xoxb-test",
        base_url=slack.api_url,
        retry_handlers=[CountingRetryHandler(AsyncServerErrorRetryHandler(2, at_once), metrics)],
    )
    quick.metrics = metrics
    slack.fail(method="auth.test", status=503, count=3)
    with pytest.raises(SlackApiError):
        await quick.auth_test()  # retried twice, then given up
    assert count("hitl_slack_api_retries_total", handler="ServerError") == 3
    assert count("hitl_slack_api_errors_total", method="auth.test", error="internal_error") == 1
    unreachable = CountingWebClient(
        token="xoxb-test",
        base_url=f"http://127.0.0.1:{free_port()}/api/",
        retry_handlers=[CountingRetryHandler(AsyncConnectionErrorRetryHandler(2, at_once), metrics)],
    )
    with pytest.raises(OSError):
        await unreachable.auth_test()
    assert count("hitl_slack_api_retries_total", handler="ConnectionError") == 2


async def test_demo_model_applies_feedback() -> None:
    approver = ScriptedApprover(("revised", "make it formal and short"), ("approved", ""))
    team = build_team("writer", model_client=DemoChatCompletionClient(), input_func=make_input_func(approver))
    await team.run(task="Draft an email to our top 10 customers about the price change")
    first, second = (r.proposal for r in approver.requests)
    assert first.startswith("Subject: An email to our top 10 customers about the price change")
    assert "Dear valued partner" in second and "“make it formal and short”" in second and "Dear" not in first


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
