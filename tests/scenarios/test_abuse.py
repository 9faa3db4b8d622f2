"""Bad input and abuse: untrusted text, Slack's limits, limits on use, tampering, secrets."""

from __future__ import annotations

import json
import logging
import random
import string
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.durations import DurationError, parse_duration
from bot.core.records import ApprovalRecord, RunRecord
from bot.core.security import RedactingFilter, secrets_of, sign_metadata, verify_metadata
from bot.core.settings import Settings
from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from bot.slack.blocks import (
    build_approval_blocks,
    build_decided_blocks,
    build_result_blocks,
    build_revise_modal,
    build_run_header_blocks,
    help_text,
    status_text,
    untrusted_parts,
)
from bot.slackapp.command_parser import Invalid, parse_command
from bot.slackapp.gate import parse
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    SALES,
    Worker,
    block_texts,
    bot_env,
    card_of,
    replay_config,
    reply_text,
    start_worker,
)
from tests.support.flow import pending_card, run_status, start_run

LIVE_MARKUP = ("<!", "<@", "<#", "<http", "<mailto")
anything = st.text(alphabet=st.characters(codec="utf-8"), max_size=6000)


def all_texts(node: Any) -> list[tuple[str, str]]:
    """(type, text) of every text object in a payload."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            found.append((node["type"], node["text"]))
        for value in node.values():
            found += all_texts(value)
    elif isinstance(node, list):
        for item in node:
            found += all_texts(item)
    return found


def untrusted_record(text: str) -> ApprovalRecord:
    return ApprovalRecord(
        id="a1b2c3d4-0000",
        run_id="rabcdefg",
        owner="w",
        requester="U0ALICE",
        origin_channel="C0SALES",
        card_channel="C0APPROVALS",
        task=text,
        proposal=text * 3,
        author=text[:50] or "assistant",
        created_at=1000.0,
        deadline=1600.0,
        timeout_seconds=600,
        status="revised",
        decided_by="U0BOB",
        decided_at=1010.0,
        feedback=text,
    )


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
@settings(max_examples=150, deadline=None)
@given(anything)
def test_every_builder_gives_a_valid_inert_payload_for_any_text(text: str) -> None:
    record = untrusted_record(text)
    run = RunRecord(id="rabcdefg", requester="U0ALICE", channel="C0SALES", task=text, status="failed", reason=text)
    payloads = {
        "card": build_approval_blocks(record),
        "decided": build_decided_blocks(record),
        "header": build_run_header_blocks(run),
        "result": build_result_blocks(run, text),
    }
    for name, blocks in payloads.items():
        assert validate_blocks(blocks) is None, (name, validate_blocks(blocks))
        assert len(blocks) <= 50 and sum(len(t) for _, t in all_texts(blocks)) < 11000, name
    modal = build_revise_modal(record, metadata="m")
    assert validate_blocks(modal["blocks"], max_blocks=100, surface="modal") is None
    for name, payload in {**payloads, "modal": modal}.items():
        for kind, shown in all_texts(payload):
            assert len(shown) <= 3000
            if kind == "mrkdwn":
                for marker in LIVE_MARKUP:  # our own mentions use checked ids only
                    if marker in shown:
                        assert all(
                            piece.startswith(("@U0ALICE>", "@U0BOB>", "#C0SALES>", "!date^"))
                            for piece in shown.split("<")[1:]
                        ), (name, shown[:200])


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
@settings(max_examples=100, deadline=None)
@given(anything)
def test_long_text_in_parts_loses_nothing(text: str) -> None:
    parts = untrusted_parts(text)
    assert all(len(p["text"]) <= 2900 and p["verbatim"] for p in parts)
    joined = "".join(p["text"] for p in parts)
    assert "<" not in joined and ">" not in joined
    unescaped = joined.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert len(unescaped) <= len(text)  # only control characters are dropped


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
@settings(max_examples=300, deadline=None)
@given(anything)
def test_command_parser_never_raises_and_refusals_are_inert(text: str) -> None:
    result = parse_command(text)
    if isinstance(result, Invalid):
        assert not any(marker in result.message for marker in LIVE_MARKUP)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
@given(st.text(max_size=30))
def test_duration_parser_accepts_or_explains(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        assert "90, 90s, 15m, 2h or 1d" in str(exc)
    else:
        assert 1 <= seconds <= 7 * 86400


def test_status_and_help_are_within_limits() -> None:
    runs = [
        RunRecord(id=f"rabcdef{i}", requester="U0ALICE", channel="C0SALES", task="<!channel>" * 500) for i in range(10)
    ]
    text = status_text("C0SALES", runs, [], now=0)
    assert len(text) < 3000 and "<!channel>" not in text
    assert len(help_text(presets=["writer"])) < 3000


async def test_long_hostile_proposal_is_cut_on_card_and_attached_whole(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    hostile = "<!channel> @here <https://evil.example|your invoice> & " + "x" * 50_000
    config = tmp_path / "model.json"
    config.write_text(json.dumps(replay_config(hostile)))
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=config))
    slack.events_url = worker.url + "/slack/events"
    try:
        await start_run(slack)
        card = await pending_card(slack)
        shown = block_texts(card)
        assert "&lt;!channel&gt; @here &lt;https://evil.example|your invoice&gt; &amp;" in shown
        assert "The proposal is 50,0" in shown and "attached in this card's thread" in shown
        assert all(b.get("text", {}).get("verbatim", True) for b in card["blocks"] if b["type"] == "section")
        files = await slack.wait_for(
            lambda: [f for m in slack.messages(APPROVALS) if m.get("thread_ts") == card["ts"] for f in m["files"]]
        )
        assert files[0]["content"] == hostile  # nothing lost
    finally:
        await worker.stop()


async def test_limits_on_active_runs(slack: SlackStandIn, redis_url: str, model_config: Path) -> None:
    env = bot_env(
        slack=slack, redis_url=redis_url, model_config=model_config, MAX_RUNS_PER_USER="1", MAX_RUNS_PER_CHANNEL="2"
    )
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    try:
        first = await start_run(slack, user=ALICE)
        refused = await slack.send_command(user=ALICE, channel=SALES, text="Draft another email please")
        assert "You already have 1 active runs" in reply_text(refused) and "Nothing started" in reply_text(refused)
        assert "`/agent status`" in reply_text(refused) and "`/agent cancel <run id>`" in reply_text(refused)
        await start_run(slack, user=BOB)
        full = await slack.send_command(user="U0CAROL", channel=SALES, text="Draft a third email")
        assert "This channel already has 2 active runs" in reply_text(full)
        assert len(await worker.services.store.runs.recent(SALES)) == 2
        await slack.send_command(user=ALICE, channel=SALES, text=f"cancel {first}")
        await run_status(worker, first, wanted="cancelled")
        await start_run(slack, user=ALICE)  # a slot is free again
    finally:
        await worker.stop()


def test_metadata_is_bound_to_card_and_user() -> None:
    metadata = sign_metadata("secret", approval_id="a1b2c3d4-0000", user="U0BOB", channel="C0APPROVALS", ts="1.2")
    assert verify_metadata("secret", metadata, user="U0BOB") == ("a1b2c3d4-0000", "C0APPROVALS", "1.2")
    assert verify_metadata("secret", metadata, user="U0CAROL") is None
    assert verify_metadata("other", metadata, user="U0BOB") is None
    assert verify_metadata("secret", metadata.replace("a1b2c3d4", "b1b2c3d4"), user="U0BOB") is None
    assert verify_metadata("secret", "a1b2c3d4-0000", user="U0BOB") is None


async def test_edited_private_metadata_is_refused_and_audited(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    approval_id = card["blocks"][-1]["elements"][0]["value"]
    payload = {
        "type": "view_submission",
        "user": {"id": BOB, "username": "bob", "name": "bob", "team_id": "T0DEV"},
        "team": {"id": "T0DEV", "domain": "dev"},
        "api_app_id": "A0DEV",
        "trigger_id": "1.2.3",
        "view": {
            "id": "V0FORGED",
            "type": "modal",
            "callback_id": "approval_revise_modal",
            "private_metadata": f"{approval_id}|{BOB}|{APPROVALS}|{card['ts']}|{'0' * 32}",
            "state": {"values": {"feedback": {"feedback_input": {"type": "plain_text_input", "value": "do x"}}}},
        },
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(worker.url + "/slack/events", data=body, headers=slack.sign(body)) as response:
            assert response.status == 200
            answer = await response.json()
    assert answer["response_action"] == "errors"
    approval = await worker.services.store.approvals.get(approval_id)
    assert approval is not None and approval.pending
    refused = [e for e in await worker.services.store.audit.entries() if e["event"] == "refused"]
    assert refused and "metadata" in refused[-1]["reason"]


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_bounded_fuzz_of_signed_payloads(slack: SlackStandIn, worker: Worker) -> None:
    """Signed garbage of every shape: never a 5xx, never a crash, nothing changed."""
    await start_run(slack)
    card = await pending_card(slack)
    approval_id = card["blocks"][-1]["elements"][0]["value"]
    rng = random.Random(20261121)

    def junk(depth: int = 0) -> Any:
        kind = rng.randrange(7 if depth < 3 else 4)
        if kind == 0:
            return "".join(rng.choice(string.printable + "<>&é漢🙂\u202e") for _ in range(rng.randrange(40)))
        if kind == 1:
            return rng.choice([None, True, 0, -1, 2**63, 1.5, approval_id, card["ts"], APPROVALS, "approval_approve"])
        if kind == 2:
            return rng.choice(["block_actions", "view_submission", "shortcut", "message_action", "block_suggestion"])
        if kind == 3:
            return ""
        if kind == 4:
            return [junk(depth + 1) for _ in range(rng.randrange(4))]
        keys = [
            "type",
            "user",
            "actions",
            "container",
            "view",
            "channel",
            "value",
            "action_id",
            "id",
            "state",
            "private_metadata",
            "callback_id",
            "trigger_id",
            "message",
            "team",
        ]
        return {rng.choice(keys): junk(depth + 1) for _ in range(rng.randrange(6))}

    statuses: list[int] = []
    server_errors: list[dict[str, str]] = []
    async with aiohttp.ClientSession() as http:
        for i in range(300):
            if i % 3 == 0:
                form = {
                    "command": rng.choice(["/agent", "/other", ""]),
                    "text": str(junk()),
                    "user_id": str(junk()),
                    "channel_id": str(junk()),
                }
            elif i % 3 == 1:
                form = {"payload": json.dumps(junk())}
            else:
                form = {
                    "payload": json.dumps(
                        {
                            "type": "block_actions",
                            "user": {"id": BOB},
                            "container": junk(),
                            "actions": [{"action_id": "approval_approve", "value": junk()}],
                            "trigger_id": "1",
                        }
                    )
                }
            body = urllib.parse.urlencode(form).encode()
            async with http.post(worker.url + "/slack/events", data=body, headers=slack.sign(body)) as response:
                statuses.append(response.status)
                if response.status >= 500:
                    server_errors.append(form)
    assert len(statuses) == 300 and server_errors == []
    approval = await worker.services.store.approvals.get(approval_id)
    assert approval is not None and approval.pending
    assert len(await worker.services.store.runs.recent(SALES)) == 1
    health = await worker.services.redis.ping()
    assert health is True and len(card_of(slack, pending=True)) == 1


def test_secrets_are_redacted_from_logs(caplog: Any) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-very-secret",
        "SLACK_SIGNING_SECRET": "signing-very-secret",
        "APPROVALS_CHANNEL": "C0APPROVALS",
        "REDIS_URL": "redis://:hunter2pass@localhost:6379/0",
        "OPENAI_API_KEY": "sk-very-secret",
        "SLACK_APP_TOKEN": "xapp-very-secret",
    }
    redactor = RedactingFilter(secrets_of(Settings.from_env(env)))
    logger = logging.getLogger("test.redaction")
    caplog.handler.addFilter(redactor)
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("connecting with %s to %s", "xoxb-very-secret", env["REDIS_URL"])
            try:
                raise RuntimeError("bad key sk-very-secret / xapp-very-secret / signing-very-secret")
            except RuntimeError:
                logger.exception("failed")
    finally:
        caplog.handler.removeFilter(redactor)
    text = caplog.text
    assert "[redacted]" in text and "failed" in text
    for secret in ("xoxb-very-secret", "hunter2pass", "sk-very-secret", "xapp-very-secret", "signing-very-secret"):
        assert secret not in text


async def test_healthz_and_metrics_show_no_secrets(worker: Worker) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(worker.url + "/healthz") as response:
            assert response.status == 200
            health = await response.json()
        async with http.get(worker.url + "/metrics") as response:
            assert response.status == 200
            metrics = await response.text()
    raw = json.dumps(health) + metrics
    assert "hitl_pending_approvals" in metrics
    assert health["status"] == "ok" and health["redis"] == "ok"
    settings = worker.services.settings
    for secret in (settings.slack_bot_token, settings.slack_signing_secret, settings.redis_url):
        assert secret.get_secret_value() not in raw


@pytest.mark.usefixtures("no_sessions")  # the thread's ended line (a session's is its last task)
async def test_failure_reasons_shown_in_slack_never_carry_secrets(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "empty.json"
    config.write_text(json.dumps(replay_config()))  # fails at once: "No more mock responses available"
    secret = "mock responses"  # pretend the model's error message carried the API key
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=config, OPENAI_API_KEY=secret))
    slack.events_url = worker.url + "/slack/events"
    try:
        run_id = await start_run(slack)
        await run_status(worker, run_id, wanted="failed")
        run = await worker.services.store.runs.get(run_id)
        assert run is not None and "No more [redacted] available" in run.reason
        await slack.wait_for(lambda: any("[redacted]" in str(c.args) for c in slack.calls("chat.postMessage")))
        assert not any(secret in json.dumps(c.args) for c in slack.calls())
    finally:
        await worker.stop()


def test_the_gate_parses_a_body_once_as_bolt_would() -> None:
    assert parse("ssl_check=1&token=x") == {"ssl_check": "1", "token": "x"}
    assert parse("command=%2Fagent&text=write+a+payload%3Djson+schema") == {
        "command": "/agent",
        "text": "write a payload=json schema",
    }
    assert parse('{"type": "url_verification", "challenge": "c"}') == {"type": "url_verification", "challenge": "c"}
    click = {"type": "block_actions", "user": {"id": "U0BOB"}, "actions": [{"action_id": "approval_approve"}]}
    assert parse(urllib.parse.urlencode({"payload": json.dumps(click)})) == click
    assert parse("payload=%7Bnot+json") == "payload is not JSON"
    assert parse(urllib.parse.urlencode({"payload": '{"user": "U0BOB"}'})) == "user is not an object"
    assert parse("{not json") == "body is not JSON"
    assert parse("x=" + "a" * (512 * 1024)) == "body too large"
