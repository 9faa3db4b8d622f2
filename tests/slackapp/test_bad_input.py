"""Bad input on the main path: unsigned or stale requests, clicks that cannot count, bad commands."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import urllib.parse
from typing import Any

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    SIGNING_SECRET,
    Worker,
    block_texts,
    card_of,
    has_buttons,
    reply_text,
)
from tests.support.flow import pending_card, run_status, start_run


def sign(body: str, *, timestamp: int, secret: str = SIGNING_SECRET) -> dict[str, str]:
    base = f"v0:{timestamp}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


COMMAND = urllib.parse.urlencode(
    {
        "command": "/agent",
        "text": "Draft a note to the team",
        "user_id": ALICE,
        "channel_id": SALES,
        "team_id": "T0DEV",
        "trigger_id": "1.2.x",
        "response_url": "http://127.0.0.1:9/none",
    }
)


async def test_unsigned_forged_and_stale_requests_get_401_and_do_nothing(worker: Worker, slack: SlackStandIn) -> None:
    now = int(time.time())
    cases = {
        "unsigned": {"Content-Type": "application/x-www-form-urlencoded"},
        "forged": sign(COMMAND, timestamp=now, secret="not-the-secret"),
        "stale": sign(COMMAND, timestamp=now - 6 * 60),
        "future": sign(COMMAND, timestamp=now + 6 * 60),
    }
    async with aiohttp.ClientSession() as http:
        for name, headers in cases.items():
            async with http.post(worker.url + "/slack/events", data=COMMAND, headers=headers) as response:
                assert response.status == 401, name
        async with http.post(worker.url + "/slack/events", data=COMMAND, headers=sign(COMMAND, timestamp=now)) as ok:
            assert ok.status == 200  # the same body, correctly signed, is accepted: the 401s were the signature
    runs = await worker.services.store.runs.recent(SALES)
    assert len(runs) == 1  # only the signed one started a run


async def test_click_on_decided_approval_says_who_decided(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    late = await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_reject", as_seen=card)
    assert late.status == 200
    note = await slack.wait_for(lambda: slack.ephemerals(CAROL) and slack.ephemerals(CAROL)[-1])
    assert note["text"] == f"This approval was already approved by <@{BOB}>. Nothing changed."
    decisions = [e for e in await worker.services.store.audit.entries() if e["event"] == "decision"]
    assert [d["outcome"] for d in decisions] == ["approved"]


async def test_click_with_unknown_or_foreign_approval_id_is_refused(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    unknown = await slack.click(
        user=BOB,
        channel=APPROVALS,
        ts=card["ts"],
        action_id="approval_approve",
        value="00000000-0000-4000-8000-000000000000",
    )
    assert unknown.status == 200
    await slack.wait_for(lambda: any("no longer known" in e["text"] for e in slack.ephemerals(BOB)))
    garbage = await slack.click(
        user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve", value="hitl:*:{evil}"
    )
    assert garbage.status == 200
    store = worker.services.store
    approval_id = card["blocks"][-1]["elements"][0]["value"]
    approval = await store.approvals.get(approval_id)
    assert approval is not None and approval.pending  # nothing changed
    refused = [e for e in await store.audit.entries() if e["event"] == "refused"]
    assert refused and refused[-1]["reason"] == "malformed click"
    assert has_buttons(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"]))


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_many_concurrent_clicks_make_exactly_one_decision(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    card = await pending_card(slack)
    users = [ALICE, BOB, CAROL] * 10
    actions = ["approval_approve", "approval_reject"] * 15
    results = await asyncio.gather(
        *(
            slack.click(user=u, channel=APPROVALS, ts=card["ts"], action_id=a, as_seen=card)
            for u, a in zip(users, actions, strict=True)
        )
    )
    assert all(r.status == 200 for r in results)
    decisions = [e for e in await worker.services.store.audit.entries() if e["event"] == "decision"]
    assert len(decisions) == 1
    winner = decisions[0]
    expected = "completed" if winner["outcome"] == "approved" else "rejected"
    await run_status(worker, run_id, wanted=expected)

    # everyone else is told why nothing happened: who decided, or that the requester may not decide
    def refusals() -> list[dict[str, Any]]:
        return [e for e in slack.ephemerals() if "Nothing changed" in e["text"]]

    await slack.wait_for(lambda: {e["user"] for e in refusals()} == {ALICE, BOB, CAROL})
    # "already decided" is said once per person and card in 10 s (a replayed click floods nothing)
    assert len([e for e in refusals() if "already" in e["text"]]) <= 3
    assert all("already" in e["text"] for e in refusals() if e["user"] != ALICE)
    assert all("already" in e["text"] or "You started this run" in e["text"] for e in refusals())
    assert winner["by"] in (BOB, CAROL)
    updated = next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])
    assert f"<@{winner['by']}>" in block_texts(updated)


async def test_bad_commands_change_nothing(slack: SlackStandIn, worker: Worker) -> None:
    cases = {
        "": "Valid forms",
        "stauts": "Did you mean `/agent status`",
        "config colour blue": "Unknown setting `colour`",
        "config timeout soon": "Bad timeout",
        "config timeout 0s": "out of range",
        "config timeout 8d": "out of range",
        "config timeout_outcome maybe": "use reject or approve",
        "cancel": "Usage: `/agent cancel <run id>`",
        "x" * 3001 + " y": "the limit is 3000",
    }
    for text, expected in cases.items():
        result = await slack.send_command(user=ALICE, channel=SALES, text=text)
        assert result.status == 200
        assert expected in reply_text(result), (text[:20], reply_text(result))
    assert await worker.services.store.runs.recent(SALES) == []
    shown = await slack.send_command(user=ALICE, channel=SALES, text="config")
    assert "`timeout`: 10m" in reply_text(shown) and "`timeout_outcome`: reject" in reply_text(shown)
    assert not card_of(slack)
    assert not [e for e in await worker.services.store.audit.entries() if e["event"] == "settings_changed"]


async def test_revise_with_empty_feedback_keeps_modal_open(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    answer = await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "   "}})
    assert answer.status == 200 and answer.json is not None
    assert answer.json["response_action"] == "errors" and "feedback" in answer.json["errors"]
    assert slack.open_views(BOB)  # still open, nothing lost
    approval_id = card["blocks"][-1]["elements"][0]["value"]
    assert view["view"]["private_metadata"].startswith(f"{approval_id}|{BOB}|{APPROVALS}|{card['ts']}|")
    approval = await worker.services.store.approvals.get(approval_id)
    assert approval is not None and approval.pending


async def test_revise_after_someone_else_decided_keeps_the_text(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    answer = await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "shorter"}})
    assert answer.json is not None and answer.json["response_action"] == "errors"
    assert f"already approved by <@{CAROL}>" in answer.json["errors"]["feedback"]
    assert slack.open_views(BOB)


async def test_a_burst_on_a_fresh_worker_makes_one_auth_test(slack: SlackStandIn, worker: Worker) -> None:
    replies = await asyncio.gather(*(slack.send_command(user=BOB, channel=SALES, text="help") for _ in range(20)))
    assert all(r.status == 200 and "Start a run" in reply_text(r) for r in replies)
    assert len(slack.calls("auth.test")) == 1  # made once at start-up, not once per concurrent first request


async def test_a_task_that_mentions_a_payload_starts_a_run(worker: Worker, slack: SlackStandIn) -> None:
    # Bolt's own body parser reads any form body containing "payload" as an interaction and drops the
    # command's fields; our gate parses the body once, by its fields
    run_id = await start_run(slack, task="Write the payload=json schema for our webhook")
    card = await pending_card(slack)
    assert run_id in block_texts(card) and "Write the payload=json schema for our webhook" in block_texts(card)
