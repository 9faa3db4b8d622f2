"""The freeze (issue 68, item 6): `/agent freeze <scope> [reason]` by an admin refuses every new ask in scope at once
(the decision chain's first link: the Approvals API answers the refusal's words and who), pending approvals in scope
cannot be approved (Reject still works), and `/agent unfreeze` needs a second admin (four eyes). Through the local
Slack's signed requests to the real Bolt app, the real API and a real Redis."""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.__main__ import main
from bot.devslack.server import SlackStandIn
from bot.slackapp.command_parser import Freeze, Invalid, Unfreeze, parse_command
from tests.conftest import ALICE, BOB, CAROL, SALES, Worker, bot_env, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import (
    audit_events,
    bot,
    cards,
    click,
    command,
    current,
    finished,
    nth_card,
    reject,
    replay,
    start,
    text_of,
    until,
)
from tests.support.homes import home_text, open_homes
from tests.support.signing import signing_worker, spend

ADMINS = f"{ALICE},{BOB}"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def admins_worker(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    """A worker (no model) whose ADMIN_USERS are Alice and Bob."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, ADMIN_USERS=ADMINS))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


def test_freeze_commands_parse_their_scope_and_reason() -> None:
    assert parse_command("freeze all agent loops on refunds") == Freeze("all", "agent loops on refunds")
    assert parse_command("freeze <#C0SALES|sales>") == Freeze(f"channel:{SALES}")
    assert parse_command("freeze key nightly leaked") == Freeze("key:nightly", "leaked")
    assert parse_command("freeze agent writer") == Freeze("agent:writer")
    assert parse_command("unfreeze all") == Unfreeze("all")
    for bad in ("freeze", "freeze everything", "freeze key", "freeze key Bad!", "unfreeze all now", "freeze #nowhere"):
        said = parse_command(bad)
        assert isinstance(said, Invalid) and "Nothing changed." in said.message, bad


async def test_a_freeze_refuses_asks_at_once_holds_approvals_and_unfreezing_needs_two_admins(
    slack: SlackStandIn, admins_worker: Worker
) -> None:
    worker = admins_worker
    client = Client(worker, (await new_key(worker, "nightly")).key)
    status, pending = await client.ask(tool_ask())  # asked before the freeze: pending, its card posted
    assert status in (200, 201, 202), pending
    card = await nth_card(slack, 1)

    said = await command(slack, "freeze all refunds agent loops", user=CAROL)  # not an admin: refused, audited
    assert "may freeze" in said and "Nothing changed." in said, said
    assert [e for e in await audit_events(worker, "refused") if e.get("action") == "freeze" and e["by"] == CAROL]
    assert not await worker.services.store.freezes.all()

    said = await command(slack, "freeze all refunds agent loops", user=ALICE)
    assert said.startswith("Frozen: everything"), said
    [entry] = await audit_events(worker, "frozen")
    assert entry["by"] == ALICE and entry["scope"] == "all" and entry["reason"] == "refunds agent loops"

    status, answer = await client.ask(tool_ask(title="another"))  # refused at once, with the words and who
    assert status == 200 and answer["status"] == "rejected" and answer["code"] == "frozen", answer
    assert answer["decided_by"] == "freeze" and answer["who"] == "the freeze", answer
    assert answer["refusal"] == f"Not run: frozen: refunds agent loops (scope all, by {ALICE})", answer

    await until(lambda: "Approve is refused until it is unfrozen" in text_of(current(slack, card)),
                what="the pending card saying it is frozen")
    await click(slack, card, "approval_approve", user=BOB)  # pending in scope: not approved while frozen
    [told] = await slack.wait_for(lambda: [e for e in slack.ephemerals(BOB) if e["text"].startswith("Frozen:")])
    assert f"(frozen: refunds agent loops (scope all, by {ALICE}))" in told["text"], told  # the reason, quoted
    held = await worker.services.store.approvals.get(pending["id"])
    assert held is not None and held.status == "pending"
    assert [e for e in await audit_events(worker, "refused") if e.get("reason") == "frozen"]

    assert "Frozen* everything (all): refunds agent loops" in await command(slack, "status", user=CAROL)
    await open_homes(slack, BOB)  # an admin's Home says it
    await until(lambda: "Frozen* everything (all)" in home_text(slack, BOB), what="the freeze on the admin's Home")
    assert 'hitl_frozen{scope="all"} 1.0' in await _metrics(worker)

    said = await command(slack, "unfreeze all", user=ALICE)  # four eyes: asked, still frozen
    assert "another admin must confirm" in said, said
    said = await command(slack, "unfreeze all", user=ALICE)  # the same admin again: refused
    assert "a second admin must confirm" in said, said
    assert "all" in await worker.services.store.freezes.all()
    said = await command(slack, "unfreeze all", user=BOB)
    assert said.startswith("Unfrozen: everything"), said
    assert not await worker.services.store.freezes.all()
    assert "hitl_frozen{" not in await _metrics(worker)
    [unfrozen] = await audit_events(worker, "unfrozen")
    assert unfrozen["by"] == BOB and unfrozen["asked_by"] == ALICE

    await until(lambda: "Approve is refused" not in text_of(current(slack, card)), what="the card unfrozen")
    await reject(slack, card, user=BOB, reason="not now")  # and asks are decided by people again
    await until(lambda: _status(worker, pending["id"]), what="the approval rejected")
    status, answer = await client.ask(tool_ask(title="after"))
    assert answer["status"] == "pending", answer


async def test_reject_still_works_while_frozen_and_a_channel_admin_freezes_only_their_channel(
    slack: SlackStandIn, admins_worker: Worker
) -> None:
    worker = admins_worker
    await worker.services.store.settings.set(SALES, "admins", CAROL, by="operator")
    client = Client(worker, (await new_key(worker, "nightly")).key)
    _, pending = await client.ask(tool_ask())
    card = await nth_card(slack, 1)
    said = await command(slack, "freeze all", user=CAROL)  # a channel's admin: not everything
    assert "may freeze everything" in said, said
    said = await command(slack, "freeze #sales a bad deploy", user=CAROL)
    assert said.startswith(f"Frozen: <#{SALES}>"), said
    await reject(slack, card, user=BOB, reason="frozen anyway")
    assert await until(lambda: _status(worker, pending["id"], "rejected"), what="rejected while frozen")


async def _metrics(worker: Worker) -> str:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        return await response.text()


async def _status(worker: Worker, approval_id: str, wanted: str = "rejected") -> bool:
    approval = await worker.services.store.approvals.get(approval_id)
    return approval is not None and approval.status == wanted


@pytest.mark.slow
async def test_the_cli_freezes_when_slack_is_down_audited_with_who_ran_it(
    slack: SlackStandIn, admins_worker: Worker, redis_url: str
) -> None:
    """`python -m bot freeze` as an operator runs it (a process of its own, only REDIS_URL): asks refused at once on
    the worker; `unfreeze` needs no second admin; both audited naming who ran it (`--as`, else user@host)."""
    worker = admins_worker
    client = Client(worker, (await new_key(worker, "nightly")).key)
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'agents'}"}

    async def run(*argv: str) -> str:
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *argv, env=env, cwd=ROOT,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        return out.decode()

    await client.ask(tool_ask(title="before"))
    card = await nth_card(slack, 1)
    assert "frozen: key:nightly" in await run("freeze", "key", "nightly", "--reason", "Slack is down", "--as", "oncall")
    await until(lambda: "Approve is refused until it is unfrozen" in text_of(current(slack, card)),
                what="the card redrawn frozen by a worker's outbox")
    _, answer = await client.ask(tool_ask())
    assert answer["code"] == "frozen", answer
    me = f"cli:{getpass.getuser()}@{socket.gethostname()}"  # who ran it; `--as oncall` is only a claim (#76)
    assert answer["refusal"] == f"Not run: frozen: Slack is down (scope key:nightly, by {me})", answer
    assert "unfrozen: key:nightly" in await run("unfreeze", "key", "nightly")
    [frozen] = await audit_events(worker, "frozen")
    [unfrozen] = await audit_events(worker, "unfrozen")
    assert frozen["by"] == me and frozen["claimed"] == "oncall" and frozen["via"] == "cli"
    assert frozen["reason"] == "Slack is down"
    assert unfrozen["by"] == me and "claimed" not in unfrozen
    _, answer = await client.ask(tool_ask(title="after"))
    assert answer["status"] == "pending", answer


def test_the_cli_refuses_a_bad_scope_before_reaching_redis(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:9/0"}  # nothing listens there: refused before anything is reached
    for argv in (["freeze", "everything"], ["unfreeze", "key", "Bad!"], ["freeze", "all", "now"]):
        assert main(argv, environ=env) == 2, argv
        assert "the scope is one of" in capsys.readouterr().err


async def test_calls_approved_before_a_freeze_are_not_used_nor_their_receipts_spent(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    """An approval given before the freeze: its program's use and an executor's receipt are refused (423 `frozen`,
    audited) while its scope is frozen, and work once it is unfrozen."""
    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json", ADMIN_USERS=ADMINS)
    try:
        client = Client(worker, (await new_key(worker, "nightly")).key)
        answers = []
        for n in (1, 2):
            _, asked = await client.ask(tool_ask(title=f"call {n}"))
            await click(slack, await nth_card(slack, n), "approval_approve", user=BOB)
            answers.append(await client.wait(asked["id"]))
        assert all(a["status"] == "approved" and a["receipt"] for a in answers), answers
        said = await command(slack, "freeze key nightly leaked key", user=ALICE)
        assert said.startswith("Frozen: API key `nightly`"), said

        path = f"/api/v1/approvals/{answers[0]['id']}/use"
        status, answer, _ = await client.call("POST", path, body={"token": "process-one"})
        assert status == 423 and answer["error"]["code"] == "frozen", answer
        assert answer["error"]["message"].startswith("frozen: "), answer
        status, answer = await spend(worker, answers[1]["id"], answers[1]["receipt"], "executor-one")
        assert status == 423 and answer["error"]["code"] == "frozen", answer
        assert [e for e in await audit_events(worker, "refused") if e.get("action") == "use"]
        assert [e for e in await audit_events(worker, "receipt_refused") if e.get("reason") == "frozen"]

        await command(slack, "unfreeze key nightly", user=ALICE)
        await command(slack, "unfreeze key nightly", user=BOB)
        status, answer, _ = await client.call("POST", path, body={"token": "process-one"})
        assert status == 200 and answer["used"] is True, answer
        status, answer = await spend(worker, answers[1]["id"], answers[1]["receipt"], "executor-one")
        assert status == 200, answer
    finally:
        await worker.stop()


async def test_the_claude_code_hook_says_frozen_and_runs_nothing(slack: SlackStandIn, admins_worker: Worker) -> None:
    """The bot's HTTP hook for Claude Code, its key's scope frozen: `deny` with the freeze's words, nothing used."""
    worker = admins_worker
    client = Client(worker, (await new_key(worker, "nightly")).key)
    await command(slack, "freeze key nightly runaway session", user=ALICE)
    read = {"session_id": "s-1", "cwd": "/home/me/shop-api", "hook_event_name": "PreToolUse", "tool_name": "Read",
            "tool_input": {"file_path": "/home/me/shop-api/README.md"}, "tool_use_id": "toolu_1"}
    status, body, _ = await client.call("POST", "/api/v1/hooks/claude-code?wait=5", body=read)
    out = body["hookSpecificOutput"]
    assert status == 200 and out["permissionDecision"] == "deny", body
    assert f"frozen: runaway session (scope key:nightly, by {ALICE})" in out["permissionDecisionReason"], out
    [entry] = await audit_events(worker, "auto_rejected")
    approval = await worker.services.store.approvals.get(entry["approval"])
    assert approval is not None and approval.decided_by == "freeze" and not approval.used_at


async def test_asks_are_refused_across_two_workers_from_the_next_ask(
    slack: SlackStandIn, admins_worker: Worker, redis_url: str
) -> None:
    """Frozen through one worker's Slack command, the other worker's API refuses the next ask at once (the frozen
    scopes are read from Redis at each ask: nothing to propagate), and an Approve on its card is refused there."""
    other = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, ADMIN_USERS=ADMINS))
    try:
        client = Client(other, (await new_key(other, "nightly")).key)
        _, pending = await client.ask(tool_ask())
        card = await nth_card(slack, 1)
        said = await command(slack, "freeze #sales incident 42", user=BOB)  # to the first worker (events_url)
        assert said.startswith(f"Frozen: <#{SALES}>"), said
        _, answer = await client.ask(tool_ask(title="next"))  # to the other worker: the very next ask is refused
        assert answer["code"] == "frozen", answer
        slack.events_url = other.url + "/slack/events"  # the click lands on the other worker
        await click(slack, card, "approval_approve", user=CAROL)  # (Alice asked: she may not decide it)
        await slack.wait_for(lambda: [e for e in slack.ephemerals(CAROL) if e["text"].startswith("Frozen:")])
        held = await other.services.store.approvals.get(pending["id"])
        assert held is not None and held.status == "pending"
    finally:
        await other.stop()


@pytest.mark.slow
async def test_a_run_of_a_frozen_agent_runs_nothing(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    """`/agent freeze agent writer`: the bot's own run of that team is refused at its next step (no card, the
    freeze's words in its thread's decision), and ends."""
    async with bot(slack, redis_url, tmp_path, replay("Memo v1 TERMINATE"), ADMIN_USERS=ADMINS) as worker:
        assert (await command(slack, "freeze agent writer bad prompts", user=BOB)).startswith("Frozen: agent")
        run_id = await start(slack, "Draft a memo to the team about the new office hours")
        run = await finished(worker, run_id)
        [entry] = await audit_events(worker, "auto_rejected")
        assert entry["by"] == "freeze" and entry["scope"] == "agent:writer" and entry["run"] == run_id
        assert not cards(slack) and run.status != "completed", run


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_timeout_does_not_approve_while_frozen(slack: SlackStandIn, admins_worker: Worker) -> None:
    """A channel whose timeouts approve: an approval in a frozen scope times out rejected (the sweep's decide step
    reads the frozen scopes too), saying why."""
    worker = admins_worker
    for key, value in (("timeout_outcome", "approve"), ("timeout_approves_tools", "true"), ("timeout", "5")):
        assert await worker.services.store.settings.set(SALES, key, value, by=ALICE) is None
    client = Client(worker, (await new_key(worker, "nightly")).key)
    _, asked = await client.ask(tool_ask())
    await nth_card(slack, 1)
    assert (await command(slack, "freeze key nightly", user=ALICE)).startswith("Frozen:")
    answer = await client.wait(asked["id"], wait=15)
    assert answer["status"] == "timed_out" and answer["timeout_outcome"] == "reject", answer
    assert "frozen" in answer["reason"] and answer["refusal"], answer
