"""The main job end to end: `/agent` in a channel, a card in #approvals, a click, the agent resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    DRAFTS,
    SALES,
    Worker,
    block_texts,
    bot_env,
    card_of,
    find_header,
    has_buttons,
    name_admins,
    reply_text,
    start_worker,
    texts,
    thread_of,
)
from tests.support.flow import pending_card, run_status, start_run
from tests.support.hitl import decided, reject


def button(card: dict[str, Any], action_id: str) -> dict[str, Any]:
    for block in card["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return dict(element)
    raise AssertionError(f"no {action_id} button")


@pytest.mark.usefixtures("no_sessions")
async def test_slash_command_acks_at_once_and_posts_header_and_card(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
    assert "Draft an email to our vendor" in block_texts(header)
    assert f"<@{ALICE}>" in block_texts(header)

    card = await pending_card(slack)
    shown = block_texts(card)
    assert f"<@{ALICE}>" in shown and f"<#{SALES}>" in shown  # who asked, from where
    assert "10% discount on the Q2 order" in shown  # the task
    assert DRAFTS[0] in shown  # the agent's proposal, from the conversation
    assert "Times out" in shown and "then rejected" in shown and "after 10m" in shown
    approve, reject, revise = (button(card, a) for a in ("approval_approve", "approval_reject", "approval_revise"))
    assert approve["style"] == "primary" and reject["style"] == "danger" and "style" not in revise
    assert "confirm" not in reject  # it opens a modal that asks for an optional reason
    assert approve["value"] == reject["value"] == revise["value"]  # the approval id only
    # the run's progress goes in its thread
    await slack.wait_for(lambda: "Waiting for approval" in texts(thread_of(slack, SALES, header["ts"])))


async def test_approve_updates_card_resumes_agent_and_completes_run(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    card = await pending_card(slack)
    result = await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert result.status == 200

    await run_status(worker, run_id, wanted="completed")
    updated = await decided(slack, card)
    assert f"*Approved* by <@{BOB}>" in block_texts(updated) and "after the request" in block_texts(updated)
    header = find_header(slack, SALES, run_id)
    assert header is not None
    await slack.wait_for(lambda: "completed" in block_texts(find_header(slack, SALES, run_id) or {}))
    await slack.wait_for(lambda: DRAFTS[0] in texts(thread_of(slack, SALES, header["ts"])))  # the result
    entries = await worker.services.store.audit.entries()
    decisions = [e for e in entries if e["event"] == "decision"]
    assert [(d["outcome"], d["by"]) for d in decisions] == [("approved", BOB)]
    assert int(decisions[0]["latency_ms"]) >= 0


async def test_revise_sends_feedback_to_agent_and_posts_new_card(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    demo = tmp_path / "demo.yaml"
    demo.write_text("provider: bot.runs.demo_model.DemoChatCompletionClient\nconfig: {}\n")
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=demo))
    slack.events_url = worker.url + "/slack/events"
    try:
        run_id = await start_run(slack)
        header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
        assert "demo model" in block_texts(header)
        card = await pending_card(slack)
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
        view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
        assert view["view"]["callback_id"] == "approval_revise_modal"
        feedback = "Make it more formal & mention <!here> our 5-year partnership"
        answer = await slack.submit_view(
            user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": feedback}}
        )
        assert answer.status == 200 and not answer.body.strip()

        second = await pending_card(slack, count=2)
        old = await decided(slack, card)  # redrawn once the run took its next step: its new card
        assert f"*Sent back for revision* by <@{BOB}>" in block_texts(old)
        assert "Make it more formal &amp; mention &lt;!here&gt;" in block_texts(old)  # shown, inert
        revised = block_texts(second)
        assert "Dear valued partner" in revised  # the agent applied the feedback...
        assert "Make it more formal &amp; mention &lt;!here&gt; our 5-year partnership" in revised  # ...verbatim
        assert not slack.open_views(BOB)

        await slack.click(user=CAROL, channel=APPROVALS, ts=second["ts"], action_id="approval_approve")
        await run_status(worker, run_id, wanted="completed")
    finally:
        await worker.stop()


async def test_reject_ends_run_as_rejected(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    card = await pending_card(slack)
    await reject(slack, card, user=BOB)
    await run_status(worker, run_id, wanted="rejected")
    updated = await decided(slack, card)
    assert f"*Rejected* by <@{BOB}>" in block_texts(updated)
    await slack.wait_for(lambda: "rejected" in block_texts(find_header(slack, SALES, run_id) or {}))


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_timeout_rejects_by_default_and_says_so(slack: SlackStandIn, worker: Worker) -> None:
    reply = await slack.send_command(user=ALICE, channel=SALES, text="config timeout 1s")
    assert "now 1s" in reply_text(reply)
    run_id = await start_run(slack)
    card = await pending_card(slack)
    await run_status(worker, run_id, wanted="timed_out")
    updated = await decided(slack, card)
    assert "*Timed out*: no decision within 1s, so rejected" in block_texts(updated)
    run = await worker.services.store.runs.get(run_id)
    assert run is not None and "no decision within 1s" in run.reason
    late = await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve", as_seen=card)
    assert late.status == 200
    await slack.wait_for(lambda: any("timed out" in e["text"] for e in slack.ephemerals(BOB)))


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_timeout_outcome_approve_completes_run(slack: SlackStandIn, worker: Worker) -> None:
    await slack.send_command(user=ALICE, channel=SALES, text="config timeout 1s")
    await name_admins(worker, ALICE)  # approve on timeout: admins only
    reply = await slack.send_command(user=ALICE, channel=SALES, text="config timeout_outcome approve")
    assert "now approve" in reply_text(reply)
    run_id = await start_run(slack)
    card = await pending_card(slack)
    assert "then approved" in block_texts(card)
    await run_status(worker, run_id, wanted="completed")


async def test_config_timeout_applies_to_runs_started_in_that_channel(slack: SlackStandIn, worker: Worker) -> None:
    reply = await slack.send_command(user=ALICE, channel=SALES, text="config timeout 15m")
    assert "`timeout` of this channel is now 15m (was" not in reply_text(reply)
    assert "now 15m" in reply_text(reply)
    shown = await slack.send_command(user=ALICE, channel=SALES, text="config")
    assert "`timeout`: 15m" in reply_text(shown) and "`timeout_outcome`: reject" in reply_text(shown)
    other = await slack.send_command(user=ALICE, channel="C0GENERAL", text="config")
    assert "`timeout`: 10m" in reply_text(other)  # another channel keeps the default
    await start_run(slack)
    card = await pending_card(slack)
    assert "after 15m" in block_texts(card)
    entries = await worker.services.store.audit.entries()
    change = next(e for e in entries if e["event"] == "settings_changed")
    assert (change["setting"], change["before"], change["after"], change["by"]) == ("timeout", "", "900", ALICE)


async def test_help_status_and_cancel(slack: SlackStandIn, worker: Worker) -> None:
    help_reply = await slack.send_command(user=ALICE, channel=SALES, text="help")
    assert "/agent cancel <run id>" in reply_text(help_reply)
    empty = await slack.send_command(user=ALICE, channel=SALES, text="status")
    assert "No runs" in reply_text(empty)

    run_id = await start_run(slack)
    card = await pending_card(slack)
    status = await slack.send_command(user=ALICE, channel=SALES, text="status")
    assert run_id in reply_text(status) and "Pending approvals" in reply_text(status)

    await name_admins(worker, ALICE, CAROL)  # carol may cancel too
    cancelled = await slack.send_command(user=CAROL, channel=SALES, text=f"cancel {run_id}")
    assert f"Cancelled run `{run_id}` and 1 pending approval" in reply_text(cancelled)
    await run_status(worker, run_id, wanted="cancelled")
    updated = await slack.wait_for(
        lambda: (m := next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])) and not has_buttons(m) and m
    )
    assert f"*Cancelled* by <@{CAROL}>" in block_texts(updated) and "the run was cancelled" in block_texts(updated)
    await slack.wait_for(lambda: f"cancelled by <@{CAROL}>" in block_texts(find_header(slack, SALES, run_id) or {}))
    again = await slack.send_command(user=CAROL, channel=SALES, text=f"cancel {run_id}")
    assert "already ended: cancelled" in reply_text(again)
    unknown = await slack.send_command(user=CAROL, channel=SALES, text="cancel rzzzzzzz")
    assert "There is no run" in reply_text(unknown)


@pytest.mark.usefixtures("no_sessions")
async def test_model_failure_fails_run_and_bot_keeps_serving(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {"provider": "autogen_ext.models.replay.ReplayChatCompletionClient", "config": {"chat_completions": []}}
        )
    )
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=broken))
    slack.events_url = worker.url + "/slack/events"
    try:
        run_id = await start_run(slack)
        await run_status(worker, run_id, wanted="failed")
        header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
        await slack.wait_for(lambda: "failed" in texts(thread_of(slack, SALES, header["ts"])))
        assert "No more mock responses" in texts(thread_of(slack, SALES, header["ts"]))
        assert not card_of(slack)
        reply = await slack.send_command(user=ALICE, channel=SALES, text="help")
        assert reply.status == 200 and "Start a run" in reply_text(reply)
    finally:
        await worker.stop()
