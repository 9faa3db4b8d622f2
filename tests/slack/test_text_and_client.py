"""Untrusted text inert and within limits in Block Kit (bot/slack/blocks/text.py), a card's blocks, and the Web API
client's retries and errors counted (bot/slack/client.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.devslack.server import SlackStandIn
from bot.slack.blocks import build_approval_blocks, build_decided_blocks, clean, escape, safe, untrusted, user_ref
from bot.slack.blocks.approval_card import build_outcome_blocks
from bot.slack.blocks.nudges import escalated_line, escalation_text, reminder_text
from bot.slack.client import CountingRetryHandler, CountingWebClient, create_slack_client
from bot.slack.refusals import refusal_text
from bot.store import DecideResult
from tests.conftest import bot_env, free_port
from tests.support.approver import record


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
    assert "Sent back for revision* by <@U0BOB>, 42s after the request" in text and "&lt;!here&gt;" in text
    assert not [b for b in decided if b["type"] == "actions"]
    spoofed = build_decided_blocks(record(status="approved", decided_by="<!channel>", decided_at=1001.0))
    assert "<!channel>" not in json.dumps(spoofed)


TEAMS_ONLY = "teams:6f1c0d2e-8a4b-4c3d-9e5f-0123456789ab"


@given(st.text(max_size=300))
def test_a_teams_only_persons_name_is_inert(name: str) -> None:
    """A Teams-only person is shown by their name (untrusted) and "(Teams)": never live markup, not even bold."""
    shown = user_ref(TEAMS_ONLY, {TEAMS_ONLY: name})
    body = shown.removesuffix(" (Teams)")
    assert not set(body) & set("<>*_~`\n") and len(body) <= 80
    assert body == shown == TEAMS_ONLY if not " ".join(clean(name).split()) else body != TEAMS_ONLY


def test_every_slack_line_names_a_teams_only_decider_by_name() -> None:
    names = {TEAMS_ONLY: "Dana <!channel> *x*"}
    shown = "Dana &lt;!channel&gt; \u2217x\u2217 (Teams)"
    decided = record(status="rejected", decided_by=TEAMS_ONLY, decided_at=1042.0, approvers=("U0BOB", TEAMS_ONLY))
    assert f"*Rejected* by {shown}, 42s after" in json.dumps(build_decided_blocks(decided, names=names),
                                                             ensure_ascii=False)
    assert f"*Rejected* by {shown}" in build_outcome_blocks(decided, names=names)[0]
    assert f"already rejected by {shown}." in refusal_text(DecideResult("already", decided), names=names)
    voted = record(required_approvals=2, votes=TEAMS_ONLY, approvers=("U0BOB", TEAMS_ONLY))
    pending = json.dumps(build_approval_blocks(voted, names=names), ensure_ascii=False)
    assert f"*1 of 2 approvals*: {shown}" in pending and f"<@U0BOB> or {shown}" in pending
    escalated = record(escalated_at=1060.0, escalate_after=60, escalate_to=(TEAMS_ONLY,))
    assert f"Escalated to {shown} after 1m" in escalated_line(escalated, names)
    said = escalation_text(escalated, mentions=("U0BOB", TEAMS_ONLY), delegated={}, names=names)
    assert f"*Escalated* to {shown} after 1m" in said and "Still asked: <@U0BOB>." in said
    said = reminder_text(voted, number=1, mentions=("U0BOB", TEAMS_ONLY), delegated={}, now=1060.0, names=names)
    assert f"<@U0BOB> or {shown} may decide" in said
    assert TEAMS_ONLY in json.dumps(build_decided_blocks(decided))  # no name known: the id, inert


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
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


def test_the_run_threads_waiting_line_says_where_the_card_is() -> None:
    """Slack's words for a run waiting on its approval (they left the core's `Opened`, issue 88), unchanged: the
    channel and a link to the card, the DM copies, the timeout; a card in a DM is named by its copies only."""
    from bot.slack.blocks.runs import waiting_line

    url = "https://acme.slack.com/archives/C0APPROVALS/p1"
    assert waiting_line(("C0APPROVALS", "1.0"), ("U0BOB",), timeout=3600, card_url=url) == (
        f"Waiting for approval on <{url}|its card> in <#C0APPROVALS> and direct messages to <@U0BOB>"
        " (times out after 1h)")
    assert waiting_line(("D0BOB", "1.0"), ("U0BOB",), timeout=0) == (
        "Waiting for approval in direct messages to <@U0BOB> (never times out)")
