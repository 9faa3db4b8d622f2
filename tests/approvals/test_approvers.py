"""Who may decide, and a record of every decision: approvers, quorum, self-approval, admins, audit."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.core.records import ApprovalRecord
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    Worker,
    block_texts,
    bot_env,
    card_of,
    has_buttons,
    name_admins,
    reply_text,
    start_worker,
)
from tests.support.cli import Ran, bot_command
from tests.support.flow import config, pending_card, run_status, start_run
from tests.support.hitl import decided, reject


def approval_id_of(card: dict[str, Any]) -> str:
    return str(next(b for b in card["blocks"] if b["type"] == "actions")["elements"][0]["value"])


def current(slack: SlackStandIn, card: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])


async def refusal_for(slack: SlackStandIn, user: str, needle: str) -> dict[str, Any]:
    return await slack.wait_for(lambda: next((e for e in slack.ephemerals(user) if needle in e["text"]), None))


async def audit(worker: Worker, event: str) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == event]


async def test_only_named_approvers_may_decide(slack: SlackStandIn, worker: Worker) -> None:
    answer = await config(slack, "approvers @bob")
    assert f"`approvers` of this channel is now <@{BOB}> (was" not in answer and f"now <@{BOB}>" in answer
    await start_run(slack)
    card = await pending_card(slack)
    assert f"Who may decide: <@{BOB}>" in block_texts(card)
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    note = await refusal_for(slack, CAROL, "may decide")
    assert note["text"] == f"Only <@{BOB}> may decide this approval. Nothing changed."
    assert current(slack, card)["blocks"] == card["blocks"]  # the card is unchanged
    refused = await audit(worker, "refused")
    assert [(r["by"], r["reason"]) for r in refused] == [(CAROL, "not_allowed")]
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    await slack.wait_for(lambda: len([e for e in slack.ephemerals(CAROL) if "may decide" in e["text"]]) == 2)
    assert not slack.open_views(CAROL)  # no modal for someone who may not decide
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await slack.wait_for(lambda: f"*Approved* by <@{BOB}>" in block_texts(current(slack, card)))


async def test_self_approval_is_refused_unless_allowed(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack, user=ALICE)
    card = await pending_card(slack)
    await slack.click(user=ALICE, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await refusal_for(slack, ALICE, "You started this run")
    assert has_buttons(current(slack, card))
    assert [(r["by"], r["reason"]) for r in await audit(worker, "refused")] == [(ALICE, "self")]

    await name_admins(worker, ALICE)  # widening who may decide: admins only
    assert "now true" in await config(slack, "allow_self_approval true")
    run_id = await start_run(slack, user=BOB)
    second = await pending_card(slack, count=2)
    await slack.click(user=BOB, channel=APPROVALS, ts=second["ts"], action_id="approval_approve")
    await run_status(worker, run_id, wanted="completed")


async def test_quorum_of_two_counts_each_person_once(slack: SlackStandIn, worker: Worker) -> None:
    assert "now 2" in await config(slack, "required_approvals 2")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    assert "*0 of 2 approvals*" in block_texts(card)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await slack.wait_for(lambda: f"*1 of 2 approvals*: <@{BOB}>" in block_texts(current(slack, card)))
    assert has_buttons(current(slack, card))  # buttons stay until the quorum is reached
    await refusal_for(slack, BOB, "Your approval is counted: 1 of 2")
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await refusal_for(slack, BOB, "already counts (1 of 2)")
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await run_status(worker, run_id, wanted="completed")
    await slack.wait_for(lambda: f"*Approved* by <@{BOB}> and <@{CAROL}>" in block_texts(current(slack, card)))
    votes = await audit(worker, "vote")
    assert [(v["by"], v["votes"]) for v in votes] == [(BOB, "1"), (CAROL, "2")]
    decisions = await audit(worker, "decision")
    assert [(d["outcome"], d["by"]) for d in decisions] == [("approved", CAROL)]


async def test_concurrent_votes_make_exactly_one_completion(slack: SlackStandIn, worker: Worker) -> None:
    await config(slack, "required_approvals 2")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    clicks = [BOB, CAROL] * 10
    results = await asyncio.gather(
        *(
            slack.click(user=u, channel=APPROVALS, ts=card["ts"], action_id="approval_approve", as_seen=card)
            for u in clicks
        )
    )
    assert all(r.status == 200 for r in results)
    await run_status(worker, run_id, wanted="completed")
    assert len(await audit(worker, "decision")) == 1
    assert sorted(v["by"] for v in await audit(worker, "vote")) == [BOB, CAROL]


async def test_a_veto_racing_the_final_approval_has_one_outcome(store: Store) -> None:
    for i in range(40):
        now = time.time()
        approval_id = f"veto-{i:04d}-x"
        await store.approvals.create(
            ApprovalRecord(
                id=approval_id,
                run_id="rabcdefg",
                owner="w1",
                requester="U0ALICE",
                origin_channel=SALES,
                card_channel=APPROVALS,
                task="t",
                proposal="p",
                author="assistant",
                created_at=now,
                deadline=now + 60,
                timeout_seconds=60,
                required_approvals=2,
            )
        )
        first = await store.approvals.decide(approval_id, outcome="approved", by="U0BOB", check_auth=True)
        assert first.status == "vote"
        final, veto = await asyncio.gather(
            store.approvals.decide(approval_id, outcome="approved", by="U0CAROL", check_auth=True),
            store.approvals.decide(approval_id, outcome="rejected", by="U0DAVE", check_auth=True),
        )
        assert sorted([final.status, veto.status]) == ["already", "ok"]
        record = await store.approvals.get(approval_id)
        assert record is not None and record.status in ("approved", "rejected")
        assert record.status == ("approved" if final.status == "ok" else "rejected")


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_timeout_applies_to_the_whole_quorum(slack: SlackStandIn, worker: Worker) -> None:
    await config(slack, "required_approvals 2")
    await config(slack, "timeout 1s")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await run_status(worker, run_id, wanted="timed_out")
    assert "*Timed out*" in block_texts(await decided(slack, card))


async def test_approvals_channel_setting(slack: SlackStandIn, worker: Worker) -> None:
    assert "now <#C0RANDOM>" in await config(slack, "approvals_channel #random")
    refused = await config(slack, "approvals_channel C0NOWHERE")
    assert "Cannot set `approvals_channel`" in refused and "channel_not_found" in refused
    await start_run(slack)
    card = await slack.wait_for(lambda: next((m for m in slack.messages("C0RANDOM") if has_buttons(m)), None))
    await slack.click(user=BOB, channel="C0RANDOM", ts=card["ts"], action_id="approval_approve")
    await slack.wait_for(lambda: not has_buttons(next(m for m in slack.messages("C0RANDOM") if m["ts"] == card["ts"])))
    assert not card_of(slack)


async def test_admins_guard_settings_and_changes_are_audited(
    slack: SlackStandIn, redis_url: str, model_config: Path
) -> None:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=model_config, ADMIN_USERS=CAROL))
    slack.events_url = worker.url + "/slack/events"
    try:
        claimed = await config(slack, "admins @bob", user=ALICE)  # nobody claims a channel's first admins
        assert claimed.startswith(f"Only <@{CAROL}> may name this channel's admins") and "ADMIN_USERS" in claimed
        assert f"now <@{BOB}>" in await config(slack, "admins @bob", user=CAROL)  # ADMIN_USERS name them
        denied = await config(slack, "timeout 5m", user=ALICE)
        assert denied.startswith("Only ") and f"<@{BOB}>" in denied and "Setting unchanged" in denied
        assert "now 5m" in await config(slack, "timeout 5m", user=BOB)
        assert "now 7m" in await config(slack, "timeout 7m", user=CAROL)  # ADMIN_USERS apply everywhere
        changes = await audit(worker, "settings_changed")
        assert [(c["setting"], c["before"], c["after"], c["by"]) for c in changes] == [
            ("admins", "", BOB, CAROL),
            ("timeout", "", "300", BOB),
            ("timeout", "300", "420", CAROL),
        ]
        assert [(r["by"], r["reason"]) for r in await audit(worker, "refused")] == [
            (ALICE, "names admins: not an admin"), (ALICE, "not an admin")]
        shown = reply_text(await slack.send_command(user=ALICE, channel=SALES, text="config"))
        assert "`timeout`: 7m" in shown and f"`admins`: <@{BOB}>" in shown
    finally:
        await worker.stop()


async def test_bad_approver_settings_are_refused(slack: SlackStandIn, worker: Worker) -> None:
    await slack.send_command(user=ALICE, channel=SALES, text="config")  # who Alice is is known: asked once an hour
    slack.fail(method="users.info", status=200, error="user_not_found")  # e.g. a user of another workspace
    unknown = await config(slack, "approvers @bob")
    assert "user_not_found" in unknown and "Setting unchanged" in unknown
    await config(slack, "approvers @bob @carol")
    too_many = await config(slack, "required_approvals 3")
    assert "only 2 approvers are named" in too_many
    assert "use a number from 1 to 10" in await config(slack, "required_approvals 0")
    assert "name people and user groups" in await config(slack, "approvers bob")
    shown = reply_text(await slack.send_command(user=ALICE, channel=SALES, text="config"))
    assert "`required_approvals`: 1" in shown and f"<@{BOB}> or <@{CAROL}>" in shown
    await name_admins(worker, ALICE)  # widening who may decide: admins only
    assert "now anyone" in await config(slack, "approvers anyone")


async def test_forged_click_with_another_cards_approval_is_refused(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack, user=ALICE)
    first = await pending_card(slack)
    await start_run(slack, user=BOB, channel="C0GENERAL")
    second = await pending_card(slack, count=2)
    await slack.click(
        user=CAROL, channel=APPROVALS, ts=first["ts"], action_id="approval_approve", value=approval_id_of(second)
    )
    await refusal_for(slack, CAROL, "does not belong to this card")
    refused = await audit(worker, "refused")
    assert refused[-1]["reason"] == "approval not on this card" and refused[-1]["by"] == CAROL
    for card in (first, second):
        approval = await worker.services.store.approvals.get(approval_id_of(card))
        assert approval is not None and approval.pending


async def test_audit_export_and_channel_audit(slack: SlackStandIn, worker: Worker, redis_url: str) -> None:
    await config(slack, "timeout 20m")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    await reject(slack, card, user=CAROL)
    await run_status(worker, run_id, wanted="rejected")
    await start_run(slack, channel="C0GENERAL")
    await pending_card(slack, count=2)

    shown = reply_text(await slack.send_command(user=BOB, channel=SALES, text="audit"))
    assert f"run `{run_id}` by <@{CAROL}> (outcome rejected)" in shown and "settings changed" in shown

    async def cli(*args: str) -> Ran:
        return await bot_command("audit", *args, environ={"REDIS_URL": redis_url})

    jsonl = await cli("--since", "1h", "--channel", SALES, "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    entries = [json.loads(line) for line in jsonl.stdout.splitlines()]
    events = [(e["event"], e.get("by"), e.get("outcome")) for e in entries]
    assert events == [
        ("settings_changed", ALICE, None),
        ("run_started", ALICE, None),
        ("requested", ALICE, None),
        ("decision", CAROL, "rejected"),
        ("run_finished", "", "rejected"),
    ]
    decision = entries[3]
    assert decision["approval"] == approval_id_of(card) and int(decision["latency_ms"]) >= 0
    assert decision["card_channel"] == APPROVALS and decision["origin_channel"] == SALES
    table = await cli("--since", "1h", "--channel", SALES, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [r["event"] for r in rows] == [e[0] for e in events] and rows[3]["by"] == CAROL
    everything = await cli("--since", "1h")
    assert len(everything.stdout.splitlines()) > len(entries)  # the other channel's run is there too
    bad = await cli("--since", "soon")
    assert bad.returncode == 2 and "--since" in bad.stderr


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_user_groups_as_approvers_follow_membership_after_the_cache_expires(
    slack: SlackStandIn, redis_url: str, model_config: Path
) -> None:
    env = bot_env(slack=slack, redis_url=redis_url, model_config=model_config, USERGROUP_CACHE_SECONDS="1")
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    try:
        slack.set_usergroup("S0APPROVERS", [BOB])
        assert "now <!subteam^S0APPROVERS>" in await config(slack, "approvers @approvers")
        assert "only 1 approvers are named" in await config(slack, "required_approvals 2")
        await start_run(slack)
        card = await pending_card(slack)
        await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        note = await refusal_for(slack, CAROL, "may decide")
        assert note["text"] == "Only <!subteam^S0APPROVERS> may decide this approval. Nothing changed."
        slack.set_usergroup("S0APPROVERS", [BOB, CAROL])  # carol joins; the bot sees it once its cache expires
        deadline = time.monotonic() + 10
        while has_buttons(current(slack, card)) and time.monotonic() < deadline:  # poll with a deadline
            await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve", as_seen=card)
            # the same refusal is answered once per 10 s (#33.12): wait for the decision, not for an answer
            with contextlib.suppress(TimeoutError):
                await slack.wait_for(lambda: not has_buttons(current(slack, card)), timeout=0.3)
        assert f"*Approved* by <@{CAROL}>" in block_texts(current(slack, card))
        refused = [r for r in await audit(worker, "refused") if r["by"] == CAROL]
        assert refused and all(r["reason"] == "not_allowed" for r in refused)
    finally:
        await worker.stop()
