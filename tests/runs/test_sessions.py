"""`/agent` runs as Slack agent sessions, in the local Slack with a real worker: the plan streamed, the session
suspended and the stream ended while people decide, a new stream after the decision, Slack's Stop, a task sent in
the Messages tab, and a workspace without sessions."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.messages.chunk import Chunk

from bot.approvals.service import NAME_WITHIN
from bot.core.records import RunRecord
from bot.devslack.model import DevUser
from bot.devslack.server import SlackStandIn
from bot.sessions.chunks import CHUNK_TEXT
from bot.store import Store
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    DRAFTS,
    SALES,
    Worker,
    block_texts,
    find_header,
    texts,
    thread_of,
)
from tests.support.cluster import DEMO, Cluster, worker_id
from tests.support.cluster import run_status as cluster_status
from tests.support.flow import pending_card, run_status, start_run
from tests.support.hitl import bot, call, decided, nth_card, replay, start, until
from tests.support.homes import approval_id_of
from tests.support.sessions import STREAM_METHODS, chunk_text, stream_calls


def session_of(slack: SlackStandIn, channel: str, header_ts: str) -> dict[str, Any]:
    return slack.sessions.snapshot(channel, header_ts)


def tasks_of(session: dict[str, Any]) -> list[dict[str, Any]]:
    return [task for stream in session["streams"] for task in stream["tasks"]]


def last_tasks(session: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each task of the session as it was last streamed, by id."""
    return {t["id"]: t for t in tasks_of(session)}


async def header_of(slack: SlackStandIn, run_id: str, channel: str = SALES) -> dict[str, Any]:
    return await slack.wait_for(lambda: find_header(slack, channel, run_id))


async def test_a_run_streams_its_plan_and_an_approval_suspends_the_session(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    card = await pending_card(slack)
    session = await slack.wait_for(
        lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "suspended" and s)
    assert session["history"][:2] == ["processing", "suspended"]
    [stream] = session["streams"]
    assert not stream["streaming"]  # stopped: a stream takes no buttons, and is never held open
    assert stream["plan"] == "Waiting for approval"  # the plan's title follows the run: suspended, it waits
    turn, waiting = stream["tasks"]
    assert turn["status"] == "complete" and turn["title"] == "assistant: turn 1"
    assert DRAFTS[0] in stream["text"]  # the agent's turn, streamed
    assert waiting["status"] == "pending" and waiting["title"].startswith("Waiting for approval: the message · 0 of 1")
    assert waiting["sources"][0]["url"].endswith(card["ts"].replace(".", ""))  # a link to its card
    # the plan's task is the thread's record: no waiting line beside it, one status change, one call to stop
    assert [m["ts"] for m in thread_of(slack, SALES, header["ts"])] == [stream["ts"]]
    assert "Waiting for approval" not in texts(thread_of(slack, SALES, header["ts"]))
    assert len(slack.calls("agents.sessions.setStatus")) == 1  # suspended by chat.stopStream itself
    # the card is posted as today, in #approvals, with its buttons
    assert card in slack.messages(APPROVALS) and "Approve" in str(card["blocks"])


async def test_approve_resumes_with_a_new_stream_and_the_task_completes(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    card = await pending_card(slack)
    await slack.wait_for(lambda: session_of(slack, SALES, header["ts"])["status"] == "suspended")
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await run_status(worker, run_id, wanted="completed")
    session = await slack.wait_for(lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s)
    history = session["history"]  # (`processing` again only if the run still worked after the batching window)
    assert history[:2] == ["processing", "suspended"] and history[-1] == "active"
    assert all(a != b for a, b in itertools.pairwise(history))  # set only when it changes
    first, second = session["streams"]
    assert not first["streaming"] and not second["streaming"]
    [done] = [t for t in second["tasks"] if t["id"] == first["tasks"][-1]["id"]]
    assert done["status"] == "complete" and done["title"] == "the message: approved by bob"  # a person, not U0BOB
    # the thread's record is the plan: who decided, and the run's end with its result, no separate messages
    assert [m["ts"] for m in thread_of(slack, SALES, header["ts"])] == [first["ts"], second["ts"]]
    end = second["tasks"][-1]
    assert end["title"] == "Run completed" and end["status"] == "complete"
    assert re.fullmatch(r"Worked for \d+s", second["plan"]), second["plan"]  # the outcome, as the run ended
    assert all(t["status"] in ("complete", "error") for t in last_tasks(session).values())
    assert DRAFTS[0] in second["text"] or DRAFTS[0] in first["text"]
    await decided(slack, card)


async def test_a_decision_before_the_stream_stopped_shows_after_its_pending_task(
    slack: SlackStandIn, worker: Worker
) -> None:
    """Approve clicked while the session's pending task is still being made (its card's link asked of Slack): the
    decision's task comes after it, in the next stream, never overwritten by it."""
    link = slack.hold("auth.test")
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    card = await pending_card(slack)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await run_status(worker, run_id, wanted="completed")
    link.release()
    session = await slack.wait_for(lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s)
    first, second = session["streams"]
    assert [t["status"] for t in first["tasks"]] == ["complete", "pending"]
    assert [t["status"] for t in second["tasks"]] == ["complete", "complete"]
    assert "approved" in second["tasks"][0]["title"]
    assert second["tasks"][1]["title"] == "Run completed"


async def test_stop_shows_only_while_processing(slack: SlackStandIn, worker: Worker) -> None:
    """As in Slack, Stop shows only while the session is `processing`: a suspended session has none (the run waiting
    for people is cancelled with `/agent cancel`)."""
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    await pending_card(slack)
    await slack.wait_for(lambda: session_of(slack, SALES, header["ts"])["status"] == "suspended")
    refused = await slack.sessions.stop(user=ALICE, channel=SALES, thread_ts=header["ts"])
    assert refused.status == 409 and "suspended" in refused.body
    assert not slack.calls("chat.postEphemeral")
    run = await worker.services.store.runs.get(run_id)
    assert run is not None and not run.final


async def test_stop_withdraws_the_card_and_cancels_the_run(slack: SlackStandIn, worker: Worker) -> None:
    link = slack.hold("auth.test")  # the pending task waits for its card's link: the session is still processing
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    card = await pending_card(slack)
    await link.arrived.wait()
    assert session_of(slack, SALES, header["ts"])["status"] == "processing"
    first = await slack.sessions.stop(user=ALICE, channel=SALES, thread_ts=header["ts"])
    link.release()
    again = await slack.sessions.redeliver_stop()  # Slack retries the same event
    assert first.status == again.status == 200
    await run_status(worker, run_id, wanted="cancelled")
    withdrawn = await decided(slack, card)
    assert "stopped with Slack's Stop button" in block_texts(withdrawn) and f"<@{ALICE}>" in block_texts(withdrawn)
    session = await slack.wait_for(lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s)
    last = session["streams"][-1]
    assert last["plan"] == "Stopped" and last["tasks"][-1]["title"] == "Stopped by alice"  # one short line, a person
    assert all(t["status"] in ("complete", "error") for t in last_tasks(session).values())  # nothing left spinning
    entries = await worker.services.store.audit.entries()
    assert len([e for e in entries if e["event"] == "run_cancelled" or e.get("status") == "cancelled"]) <= 1
    run = await worker.services.store.runs.get(run_id)
    assert run is not None and run.ended_by == ALICE


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_stop_finds_its_run_by_its_thread_however_many_runs_came_after(
    slack: SlackStandIn, worker: Worker
) -> None:
    """Slack's Stop names a thread: its run is found by the thread's index, not among the channel's latest runs."""
    link = slack.hold("auth.test")  # the session still processing: Stop shows
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    card = await pending_card(slack)
    await link.arrived.wait()
    store = worker.services.store
    for n in range(60):  # newer runs in the same channel (a program's, in no limit)
        later = RunRecord(id=f"rlater{n:02d}", requester=BOB, channel=SALES, task="later", created_at=time.time() + n)
        assert await store.runs.create(later, max_per_user=1000, max_per_channel=1000, active=False) == "ok"
    assert run_id not in [r.id for r in await store.runs.recent(SALES, limit=50)]
    assert (await slack.sessions.stop(user=ALICE, channel=SALES, thread_ts=header["ts"])).status == 200
    link.release()
    await run_status(worker, run_id, wanted="cancelled")
    assert "stopped with Slack's Stop button" in block_texts(await decided(slack, card))


async def test_stop_by_someone_else_is_refused_and_audited(slack: SlackStandIn, worker: Worker) -> None:
    link = slack.hold("auth.test")  # the session still processing: Stop shows
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    await pending_card(slack)
    await link.arrived.wait()
    await slack.sessions.stop(user=CAROL, channel=SALES, thread_ts=header["ts"])
    link.release()
    refusal = await slack.wait_for(lambda: [e for e in slack.ephemerals(CAROL) if "may stop it" in e["text"]])
    assert f"`{run_id}`" in refusal[0]["text"]
    entries = await worker.services.store.audit.entries()
    assert any(e["event"] == "refused" and e.get("by") == CAROL and e.get("run") == run_id for e in entries)
    run = await worker.services.store.runs.get(run_id)
    assert run is not None and not run.final


async def test_a_message_in_the_messages_tab_starts_a_session(slack: SlackStandIn, worker: Worker) -> None:
    result = await slack.sessions.message_bot(user=ALICE, text="Draft an email to our vendor about Q2")
    assert result.status == 200
    dm = slack.dm_channel(ALICE)
    header = await slack.wait_for(lambda: next((m for m in slack.messages(dm) if m.get("bot_id") and
                                                "Q2" in block_texts(m)), None))
    session = await slack.wait_for(lambda: (s := session_of(slack, dm, header["ts"]))["status"] == "suspended" and s)
    assert session["streams"][0]["tasks"][-1]["status"] == "pending"
    await pending_card(slack)


async def test_a_workspace_without_sessions_falls_back_to_the_header_and_thread(
    slack: SlackStandIn, worker: Worker, caplog: Any
) -> None:
    slack.sessions.refused = "not_allowed"
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    await pending_card(slack)
    await slack.wait_for(lambda: "Waiting for approval" in " ".join(m.get("text", "") + block_texts(m)
                                                                    for m in thread_of(slack, SALES, header["ts"])))
    assert slack.calls("chat.startStream") == []
    second = await start_run(slack, task="Another task")
    await header_of(slack, second)
    await slack.wait_for(lambda: len(card_of_pending(slack)) >= 2)
    assert len(slack.calls("agents.sessions.setStatus")) == 1  # asked once, then known: said once in the log
    said = [r for r in caplog.records if "no agent sessions" in r.getMessage()]
    assert len(said) == 1


def card_of_pending(slack: SlackStandIn) -> list[dict[str, Any]]:
    from tests.conftest import card_of

    return card_of(slack, pending=True)


async def test_every_streamed_payload_is_valid(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    await header_of(slack, run_id)
    await pending_card(slack)
    await slack.wait_for(lambda: slack.calls("chat.stopStream"))
    for method in STREAM_METHODS:
        for made in slack.calls(method):
            assert made.ok, (method, made.args)
            for chunk in made.args.get("chunks") or []:
                model = Chunk.parse(chunk)  # a kind slack_sdk knows, with only the fields it knows
                assert model is not None and set(chunk) <= set(model.attributes), chunk
                assert chunk_text(chunk) <= CHUNK_TEXT, chunk  # Slack's 256 for task_update and plan_update


@pytest.mark.slow
async def test_stop_on_two_workers_withdraws_and_cancels_once(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    """Slack's Stop delivered to both workers (real processes): the first claims it, the run is cancelled and its
    card withdrawn once, and the owner closes the session."""
    owner = await cluster.start()
    other = await cluster.start()
    link = slack.hold("auth.test")  # the session still processing while its pending task waits: Stop shows
    slack.events_url = owner.events
    run_id = await start_run(slack)
    card = await pending_card(slack)
    header = await header_of(slack, run_id)
    await link.arrived.wait()
    slack.events_url = other.events  # whichever receives it
    assert (await slack.sessions.stop(user=ALICE, channel=SALES, thread_ts=header["ts"])).status == 200
    slack.events_url = owner.events  # Slack's retry of the same event, to the other worker
    assert (await slack.sessions.redeliver_stop()).status == 200
    link.release()
    await cluster_status(store, run_id, "cancelled")
    withdrawn = await decided(slack, card, within=20)
    assert "stopped with Slack's Stop button" in block_texts(withdrawn) and f"<@{ALICE}>" in block_texts(withdrawn)
    await slack.wait_for(lambda: session_of(slack, SALES, header["ts"])["status"] == "active", timeout=20)
    entries = await store.audit.entries()
    assert [e["by"] for e in entries if e["event"] == "run_finished" and e.get("run") == run_id] == [ALICE]
    assert len([c for c in slack.calls("chat.update") if c.args.get("ts") == card["ts"]
                and "Stop button" in str(c.args.get("blocks"))]) == 1


@pytest.mark.slow
async def test_stop_of_a_run_whose_owner_is_dead_sets_its_session_status(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    """The owner (a real process) killed while its run's session is processing: the worker that claims the Stop
    cancels the run, moves the session out of `processing` itself (Slack does not, and the owner never will) and
    finishes its plan from what Redis knows (its withdrawn approval, who stopped it)."""
    owner = await cluster.start()
    other = await cluster.start()
    link = slack.hold("auth.test")  # the session still processing while its pending task waits: Stop shows
    slack.events_url = owner.events
    run_id = await start_run(slack)
    await pending_card(slack)
    header = await header_of(slack, run_id)
    await link.arrived.wait()
    dead = await worker_id(owner)
    owner.kill()
    link.release()

    async def gone() -> bool:
        return not (await store.workers.alive([dead]))[dead]

    await until(gone, within=20, what="the killed owner's heartbeat gone")
    assert session_of(slack, SALES, header["ts"])["status"] == "processing"
    slack.events_url = other.events
    assert (await slack.sessions.stop(user=ALICE, channel=SALES, thread_ts=header["ts"])).status == 200
    await cluster_status(store, run_id, "cancelled")
    session = await slack.wait_for(
        lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s, timeout=20)
    # its plan finished as far as Redis knows it: the withdrawn approval in error, who stopped it, the outcome
    last = session["streams"][-1]
    assert last["plan"] == "Stopped" and not last["streaming"]
    assert [(t["title"], t["status"]) for t in last["tasks"]] == [
        ("the message: withdrawn: stopped by alice", "error"), ("Stopped by alice", "error")]


async def test_a_tool_call_is_a_task_waiting_then_complete(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    """The email team's `send_email`: its call a task in progress, its approval a pending task naming the tool and the
    votes, and once approved and run, the call's task complete."""
    email = {"to": "bob@example.com", "subject": "Price change", "body": "Dear Bob,\nPrices change on May 1."}
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", email), "Sent it.")) as worker:
        run_id = await start(slack, "--team email Tell bob@example.com about the price change")
        header = await header_of(slack, run_id)
        card = await nth_card(slack, 1)
        session = await slack.wait_for(
            lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "suspended" and s)
        titles = [(t["title"], t["status"]) for t in tasks_of(session)]
        assert ("Calling send_email", "in_progress") in titles
        assert ("Waiting for approval: send_email · 0 of 1", "pending") in titles
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        last_word = await nth_card(slack, 2)  # the team's last message, for a person too
        await slack.click(user=BOB, channel=APPROVALS, ts=last_word["ts"], action_id="approval_approve")
        await run_status(worker, run_id, wanted="completed")
        session = await slack.wait_for(
            lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s)
        last = {t["id"]: t for t in tasks_of(session)}  # each task as it was last streamed
        assert last["call_1"]["status"] == "complete" and last["call_1"]["title"] == "send_email"
        assert any(t["title"] == "send_email: approved by bob" and t["status"] == "complete" for t in last.values())


async def test_a_guest_writing_in_the_messages_tab_starts_nothing(slack: SlackStandIn, worker: Worker) -> None:
    """Only our own people start runs: a guest's message to the bot is refused, audited, and starts no run."""
    slack.set_user(DevUser(id="U0GUS", name="gus", real_name="Gus Guest", guest=True))
    assert (await slack.sessions.message_bot(user="U0GUS", text="Email everyone our prices")).status == 200
    told = await slack.wait_for(lambda: [e["text"] for e in slack.ephemerals("U0GUS")])
    assert "Guest accounts" in told[0] and "Nothing was done" in told[0]
    entries = await worker.services.store.audit.entries()
    assert [(e["by"], e["reason"]) for e in entries if e["event"] == "refused"] == [("U0GUS", "outsider: guest")]
    assert await worker.services.store.runs.recent(slack.dm_channel("U0GUS")) == []


CARD = "4242 4242 4242 4242"
STRIPE_KEY = "sk_live_" + "51Hq8wErTyUiOpAsDfGhJkLzX"  # (split: no secret-looking literal in the source)


async def test_streamed_text_is_hidden_as_cards_are(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    """A scripted model whose tool call's arguments and turn text hold a card number and a Stripe key: no chunk of
    the session's streams carries either, nor any other Slack call (the last message's own card included); the
    detectors' words stand in for them."""
    email = {"to": "bob@example.com", "subject": "Card on file",
             "body": f"Your card {CARD} is set; our key is {STRIPE_KEY}."}
    said = f"Sent it: card {CARD}, key {STRIPE_KEY}."
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", email), said)) as worker:
        run_id = await start(slack, "--team email Tell bob@example.com his card is on file")
        header = await header_of(slack, run_id)
        card = await nth_card(slack, 1)
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        last_word = await nth_card(slack, 2)
        await slack.click(user=BOB, channel=APPROVALS, ts=last_word["ts"], action_id="approval_approve")
        await run_status(worker, run_id, wanted="completed")
        session = await slack.wait_for(
            lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s)
    streamed = str([c.args for c in stream_calls(slack)])
    assert "Stripe secret key (hidden)" in streamed and "card ending 4242" in streamed
    for secret in (CARD, CARD.replace(" ", ""), STRIPE_KEY):
        assert secret not in streamed
        assert secret not in str(session)
        # nor any other Slack call: the card of the team's last message (a `message` approval) shows it hidden too
        assert [c.method for c in slack.calls() if secret in str(c.args)] == []
    assert "card ending 4242" in str(last_word)


async def test_a_decider_is_named_as_a_person_their_name_made_inert(slack: SlackStandIn, worker: Worker) -> None:
    """A decided task names who decided by their name in the directory (a task's title is plain text: no mention,
    no raw id), a name with markup and a direction override made inert by the one path."""
    slack.set_user(DevUser(id=BOB, name="<!channel> Bob\u202e", real_name="Bob Example"))
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    card = await pending_card(slack)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await run_status(worker, run_id, wanted="completed")
    session = await slack.wait_for(lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s)
    # (by task id, as last streamed: the message stopped at the wait is brought to the run's end too)
    [decided_task] = [t for t in last_tasks(session).values() if "approved" in t["title"]]
    assert decided_task["title"] == "the message: approved by &lt;!channel&gt; Bob"
    assert BOB not in str(stream_calls(slack)) and "<!channel>" not in str(stream_calls(slack))


async def test_a_cancelled_run_leaves_no_task_pending(slack: SlackStandIn, worker: Worker) -> None:
    """`/agent cancel` while people decide: the waiting task marked error, in the last stream and in the message
    stopped at the wait (chat.update), the plan's title the outcome, who cancelled named as a person."""
    run_id = await start_run(slack)
    header = await header_of(slack, run_id)
    await pending_card(slack)
    await slack.wait_for(lambda: session_of(slack, SALES, header["ts"])["status"] == "suspended")
    assert (await slack.send_command(user=ALICE, channel=SALES, text=f"cancel {run_id}")).status == 200
    session = await slack.wait_for(  # (the earlier message is updated after the last stream stopped)
        lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s["streams"][0]["updated"]
        and s)
    first, last = session["streams"]
    waiting = first["tasks"][-1]
    assert waiting["status"] == "error" and first["updated"]  # the message stopped at the wait, brought to its end
    assert first["plan"] == last["plan"] == "Cancelled"
    assert last_tasks(session)[waiting["id"]]["status"] == "error"  # not left pending
    assert last["tasks"][-1]["title"].startswith("Run cancelled by alice")
    assert all(t["status"] in ("complete", "error") for t in tasks_of(session))  # in every message, not the last only


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_stop_while_the_model_thinks_before_the_first_stream_ends_the_session(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """#76.16: Stop while the run works, before anything was streamed (a model that takes its time and does not
    heed AutoGen's cancellation token, as the demo model's `delay`), ends the session as a Stop does at any moment:
    at once no longer `processing` (no Stop button) and the header no longer "running"; the plan "Stopped by alice"
    once the run unwinds. The Stop is one line of the log (#76.15)."""
    thinking = 6.0
    caplog.set_level(logging.INFO)
    async with bot(slack, redis_url, tmp_path, {**DEMO, "config": {"delay": thinking}}) as worker:
        run_id = await start(slack, "Draft an email")
        header = await header_of(slack, run_id)
        await slack.wait_for(lambda: session_of(slack, SALES, header["ts"])["status"] == "processing")
        assert not stream_calls(slack)  # nothing streamed yet
        began = time.monotonic()
        assert (await slack.sessions.stop(user=ALICE, channel=SALES, thread_ts=header["ts"])).status == 200
        await run_status(worker, run_id, wanted="cancelled")
        await slack.wait_for(lambda: session_of(slack, SALES, header["ts"])["status"] == "active",
                             timeout=thinking / 2, description="the stopped session no longer processing (no Stop)")
        now = await slack.wait_for(lambda: (h := find_header(slack, SALES, run_id)) and "running" not in
                                   block_texts(h).lower() and h, timeout=thinking / 2,
                                   description="the header no longer running")
        assert time.monotonic() - began < thinking  # said before the model answered
        assert "cancelled" in block_texts(now).lower(), block_texts(now)
        session = await slack.wait_for(lambda: (s := session_of(slack, SALES, header["ts"]))["streams"] and s,
                                       timeout=thinking * 3, description="the plan ended once the run unwound")
    last = session["streams"][-1]
    assert last["plan"] == "Stopped" and last["tasks"][-1]["title"] == "Stopped by alice", last
    assert session["status"] == "active"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("bot") and run_id in r.getMessage()]
    assert lines == [f"run {run_id}: Stop by {ALICE}: Cancelled run `{run_id}` and 0 pending approvals."], lines


async def test_a_failed_run_ends_its_plan_with_error(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    async with bot(slack, redis_url, tmp_path, replay()) as worker:  # a model with nothing to say: the run fails
        run_id = await start(slack, "Draft an email")
        header = await header_of(slack, run_id)
        await run_status(worker, run_id, wanted="failed")
        session = await slack.wait_for(
            lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s)
    last = session["streams"][-1]
    assert last["plan"] == "Error" and last["tasks"][-1]["status"] == "error"
    assert last["tasks"][-1]["title"].startswith("Run failed")


async def test_an_approval_withdrawn_while_the_run_goes_on_is_never_shown_done(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """`send_email`'s card cancelled without a decision (as Delivery cancels a card Slack would not take) while the
    run goes on: its task says it was withdrawn, and when the run completes it is an error, never complete."""
    email = {"to": "bob@example.com", "subject": "Price change", "body": "Prices change on May 1."}
    async with bot(slack, redis_url, tmp_path, replay(call("send_email", email), "Not sent.")) as worker:
        run_id = await start(slack, "--team email Tell bob@example.com about the price change")
        header = await header_of(slack, run_id)
        card = await nth_card(slack, 1)
        approval_id = approval_id_of(card)
        await slack.wait_for(lambda: session_of(slack, SALES, header["ts"])["status"] == "suspended")
        await worker.services.approvals.cancel(approval_id, by="system", reason="card not posted")
        last_word = await nth_card(slack, 2)
        await slack.click(user=BOB, channel=APPROVALS, ts=last_word["ts"], action_id="approval_approve")
        await run_status(worker, run_id, wanted="completed")
        session = await slack.wait_for(
            lambda: (s := session_of(slack, SALES, header["ts"]))["status"] == "active" and s)
    withdrawn = last_tasks(session)[approval_id]
    assert withdrawn["status"] == "error" and withdrawn["title"] == "send_email: withdrawn: card not posted"
    assert all(t["status"] != "complete" for t in tasks_of(session) if t["id"] == approval_id)


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_person_slack_will_not_name_is_shown_by_their_id_and_never_waited_for(
    slack: SlackStandIn, worker: Worker
) -> None:
    """A task names a person by their name when Slack gives it, else by their id: a failed users.info gives the id,
    and a slow one is not waited for beyond NAME_WITHIN (a run's end and its stream wait on the name)."""
    approvals = worker.services.approvals
    slack.set_user(DevUser(id="U0DAN", name="dan", real_name="Dan Example"))
    slack.set_user(DevUser(id="U0EVE", name="eve", real_name="Eve Example"))
    slack.fail(method="users.info", status=200, error="fatal_error")
    assert await approvals.name_of("U0DAN") == "U0DAN"
    assert [c.ok for c in slack.calls("users.info") if c.args.get("user") == "U0DAN"] == [False]  # (it was asked)
    held = slack.hold("users.info", when=lambda args: args.get("user") == "U0EVE")
    assert await asyncio.wait_for(approvals.name_of("U0EVE"), NAME_WITHIN + 5) == "U0EVE"
    assert held.arrived.is_set()
    held.release()
