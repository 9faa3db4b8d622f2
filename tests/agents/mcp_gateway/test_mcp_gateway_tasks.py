"""The MCP gateway serves the tasks extension (#37.3), against a real worker, the gateway over stdio and the test
upstream (which records each call it receives): a 2026-07-28 client that declares `io.modelcontextprotocol/tasks`
(tests/support/mcp_tasks.py, on the `mcp` client's own extension hooks) gets a task at once; `tasks/get` says
it waits for approval in Slack with the card's link; after the click the task completes with the result, run
once; a rejection completes it with the reason and nothing run; `tasks/cancel` withdraws the card. A gateway
killed -9 between the task and the click: a new one (the same sealing key) answers for the old task id and runs
the call once; yet another finds it used and runs nothing. Forged, altered, other clients' and other calls'
task ids are refused, and nothing runs."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.approver import digest_of
from agent_approvals.client import ApprovalsClient
from agent_approvals.mcp_gateway.forwarding import DENIAL_META
from mcp import types
from mcp.server.request_state import AESGCMRequestStateCodec
from mcp.shared.exceptions import MCPError

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.hitl import cards, click, current, nth_card, reject, until
from tests.support.mcp_gateway import EMAIL, alive, text
from tests.support.mcp_tasks import (
    TasksExtension,
    create,
    finished,
    forwarded,
    task_cancel,
    task_get,
    task_update,
    tasks_client,
)

pytestmark = pytest.mark.slow  # the gateway's upstream as a process

CAROL = {**EMAIL, "to": "carol@example.com"}


def this_program() -> str:
    """Who a gateway this process started over stdio binds its tasks to (`deciding.bound_to`): this process."""
    started = Path("/proc/self/stat").read_text().rpartition(")")[2].split()[19]
    return f"stdio {os.getpid()} {started}"


def approval_of(card: dict[str, Any]) -> str:
    """The approval id a card's buttons carry."""
    return str(next(e["value"] for b in card["blocks"] if b.get("type") == "actions" for e in b["elements"]))


async def test_a_task_waits_in_slack_then_completes_with_the_result_run_once(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """The task at once (nothing run); tasks/get while pending names the card; after the click the result, run
    once, the same when fetched again; then `Client.call_tool` drives a second task by itself."""
    bot, key = emailer
    async with tasks_client(bot, key, tmp_path) as client:
        created = await create(client, EMAIL)  # at once: before anyone decides, nothing run
        assert created.status == "working" and created.ttl_ms
        assert created.poll_interval_ms == 100
        card = await nth_card(slack, 1)
        waits = {"reason": "insufficient_authorization", "remediation": "available",  # SEP-2643 (#91.3)
                 "authorizationContextId": approval_of(card), "remediationHints": [{"type": "task"}]}
        assert (created.meta or {})[DENIAL_META] == waits
        for _ in range(3):  # polled before anyone decides: waiting, nothing run
            waiting = await task_get(client.session, created.task_id)
            assert waiting.status == "working" and forwarded(tmp_path) == []
            assert waiting.status_message is not None
            assert waiting.status_message.startswith("waiting for approval in Slack: http"), waiting.status_message
            assert (waiting.meta or {})[DENIAL_META] == waits
        await task_update(client.session, created.task_id)  # acknowledged: nothing is asked of the client
        await click(slack, card, "approval_approve", user=BOB)
        done = await finished(client.session, created.task_id)
        assert done.status == "completed" and text(done.call_result) == "sent to bob@example.com"
        assert not done.call_result.is_error
        again = await task_get(client.session, created.task_id)
        assert again.result == done.result and len(forwarded(tmp_path)) == 1
        sending = asyncio.create_task(client.call_tool("send_email", dict(CAROL)))
        await click(slack, await nth_card(slack, 2), "approval_approve", user=BOB)
        result = await asyncio.wait_for(sending, 30)
    assert not result.is_error and text(result) == "sent to carol@example.com"
    assert [c["arguments"]["to"] for c in forwarded(tmp_path)] == ["bob@example.com", "carol@example.com"]


async def test_a_rejected_task_completes_with_the_reason_and_nothing_runs(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    async with tasks_client(bot, key, tmp_path) as client:
        created = await create(client, EMAIL)
        await reject(slack, await nth_card(slack, 1), user=BOB, reason="not before the board meets")
        done = await finished(client.session, created.task_id)
        assert done.status == "completed" and done.call_result.is_error
        assert text(done.call_result) == "Not run: rejected by @bob: not before the board meets"
        assert (done.call_result.meta or {})[DENIAL_META]["remediation"] == "unavailable"  # SEP-2643 (#91.3)
    assert forwarded(tmp_path) == []


async def test_cancelling_a_task_withdraws_its_card_and_nothing_runs(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """tasks/cancel: the approval is withdrawn (the API says cancelled, the card says so, no buttons), the task is
    cancelled; an approve click that comes later runs nothing."""
    bot, key = emailer
    async with tasks_client(bot, key, tmp_path) as client:
        created = await create(client, EMAIL)
        card = await nth_card(slack, 1)
        await task_cancel(client.session, created.task_id)
        cancelled = await task_get(client.session, created.task_id)
        assert cancelled.status == "cancelled" and cancelled.result is None
        async with ApprovalsClient(bot.url, key) as api:
            assert (await api.get(approval_of(card))).status == "cancelled"
        await until(lambda: not any(b.get("type") == "actions" for b in current(slack, card)["blocks"]),
                    what="the card without buttons")
        assert (await task_get(client.session, created.task_id)).status == "cancelled"
    assert forwarded(tmp_path) == []


async def test_a_gateway_killed_between_the_task_and_the_click_is_honoured_once_by_the_next(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """The task is made; the gateway is killed -9; the click; a new gateway (the same key) answers tasks/get for
    the old id and runs the call once; a third one finds the approval used: it says so and runs nothing."""
    bot, key = emailer
    env = {"AGENT_APPROVALS_MCP_STATE_KEY": secrets.token_hex(32)}
    async with tasks_client(bot, key, tmp_path, env=env) as client:
        created = await create(client, EMAIL)
        card = await nth_card(slack, 1)
        os.kill(int((tmp_path / "gateway.pid").read_text()), signal.SIGKILL)
        await until(lambda: not alive(int((tmp_path / "gateway.pid").read_text())), what="the gateway killed")
    await click(slack, card, "approval_approve", user=BOB)
    assert forwarded(tmp_path) == []  # nobody ran it: the gateway that waited for it is gone
    async with tasks_client(bot, key, tmp_path, env=env) as client:
        done = await finished(client.session, created.task_id)
        assert done.status == "completed" and text(done.call_result) == "sent to bob@example.com"
        assert (await task_get(client.session, created.task_id)).result == done.result
    assert len(forwarded(tmp_path)) == 1
    async with tasks_client(bot, key, tmp_path, env=env) as client:
        replay = await finished(client.session, created.task_id)
        assert replay.status == "completed" and replay.call_result.is_error
        assert text(replay.call_result).startswith("Not run: approval "), text(replay.call_result)  # the bot's words
        assert "was used already" in text(replay.call_result) and "its result is not kept" in text(replay.call_result)
    assert len(forwarded(tmp_path)) == 1 and len(cards(slack)) == 1


async def test_forged_altered_and_foreign_task_ids_are_refused_and_run_nothing(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """Not found (-32602) for an id this gateway did not seal, an altered one, and a real one from another client
    (its clientInfo); an id sealed with the key for this approval but another call's digest completes refused
    after the click, and nothing runs."""
    bot, key = emailer
    secret = secrets.token_hex(32)
    env = {"AGENT_APPROVALS_MCP_STATE_KEY": secret}
    async with tasks_client(bot, key, tmp_path, env=env) as client:
        created = await create(client, EMAIL)
        card = await nth_card(slack, 1)
        tid = created.task_id
        altered = tid[:-6] + ("AAAAAA" if tid[-6:] != "AAAAAA" else "BBBBBB")
        for forged in ("786512e2-9e0d-44bd-8f29-789f320fe840", altered, tid[:20] + tid[21:]):
            for method in (task_get, task_cancel):
                with pytest.raises(MCPError, match="Task not found") as refused:
                    await method(client.session, forged)
                assert refused.value.code == types.INVALID_PARAMS
        held = {"kind": "mcp-task", "approval": approval_of(card), "tool": "send_email", "digest": digest_of(CAROL),
                "client": f"{this_program()} | mcp/1", "created": time.time(), "expires": time.time() + 600,
                "nonce": "n" * 32}
        other_call = AESGCMRequestStateCodec([secret]).seal(json.dumps(held).encode())
        assert (await task_get(client.session, other_call)).status == "working"
    async with tasks_client(bot, key, tmp_path, env=env, name="other") as other:
        for method in (task_get, task_cancel):
            with pytest.raises(MCPError, match="Task not found"):
                await method(other.session, created.task_id)
    async with tasks_client(bot, key, tmp_path, env=env) as client:
        await click(slack, card, "approval_approve", user=BOB)
        wrong = await finished(client.session, other_call)
        assert wrong.call_result.is_error and "is not for this call of send_email" in text(wrong.call_result)
        assert forwarded(tmp_path) == []
        real = await finished(client.session, created.task_id)  # its approval was not spent by the other id
        assert text(real.call_result) == "sent to bob@example.com"
    assert [c["arguments"] for c in forwarded(tmp_path)] == [EMAIL]


async def test_a_long_wait_is_polled_through_and_ends_in_exactly_one_run(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """A person's 20 minutes are 600 polls at the gateway's suggested 2 s: here `Client.call_tool` itself polls
    every 0.05 s and the click comes after 60 polls; one card, one run, the result to the caller."""
    bot, key = emailer
    extension = TasksExtension(every=0.05)
    async with tasks_client(bot, key, tmp_path, extension=extension) as client:
        sending = asyncio.create_task(client.call_tool("send_email", dict(EMAIL)))
        card = await nth_card(slack, 1)
        await until(lambda: extension.polls >= 60, within=30, what="60 polls")
        assert forwarded(tmp_path) == [] and not sending.done()
        await click(slack, card, "approval_approve", user=BOB)
        result = await asyncio.wait_for(sending, 30)
    assert not result.is_error and text(result) == "sent to bob@example.com"
    assert len(extension.created) == 1 and len(cards(slack)) == 1 and len(forwarded(tmp_path)) == 1


async def test_a_task_nobody_decides_within_its_ttl_withdraws_its_card(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """`--task-ttl 2` (for 24 h): the task completes refused, its card withdrawn (no buttons left to click);
    the id, past its ttl, is told as expired by a gateway that did not keep the answer."""
    bot, key = emailer
    env = {"AGENT_APPROVALS_MCP_STATE_KEY": secrets.token_hex(32)}
    async with tasks_client(bot, key, tmp_path, "--task-ttl", "2", env=env) as client:
        created = await create(client, EMAIL)
        card = await nth_card(slack, 1)
        done = await finished(client.session, created.task_id, within=20)
        assert done.status == "completed" and done.call_result.is_error
        said = text(done.call_result)
        assert said.startswith("Not run: nobody decided within the task's 2 s; the card was withdrawn"), said
        async with ApprovalsClient(bot.url, key) as api:
            assert (await api.get(approval_of(card))).status == "cancelled"
        await until(lambda: not any(b.get("type") == "actions" for b in current(slack, card)["blocks"]),
                    what="the card without buttons")  # nobody can approve it any more
        assert (await task_get(client.session, created.task_id)).result == done.result
    async with tasks_client(bot, key, tmp_path, "--task-ttl", "2", env=env) as client:
        with pytest.raises(MCPError, match="Task has expired"):
            await task_get(client.session, created.task_id)
    assert forwarded(tmp_path) == []
