"""The AG-UI integration (`agent_approvals.integrations.agui`) against a real worker that signs receipts: a scripted
AG-UI 1.0 agent served over HTTP (SSE, `tests.support.agui_agent`: `ag-ui-protocol`'s own types and encoder) proposes
`send_email` and ends its run with a tool-call interrupt; `run_with_approvals` asks for it in the local Slack and
resumes the run. Approved on the card: the resume says `approved: true` with a receipt bound to the call's
fingerprint that joserfc-backed `verify` accepts, and the agent (the executor) sends the email once. Rejected: it
says `approved: false` with who refused and why, and nothing is sent. Revised with edited arguments: the edited call
is asked about again, and the resume carries `editedArgs` and a receipt bound to them; the edited email is sent. A
card nobody decides in time resumes it refused; a tool call the run did not carry readably is refused with no card; an
interrupt that is not a tool call's is left to the caller."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_approvals import ApprovalsClient, ReceiptChecker
from agent_approvals.receipts import args_sha256, verify

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, Worker, block_texts
from tests.support.frameworks import EMAIL
from tests.support.hitl import click, nth_card, open_modal, reject
from tests.support.lazy import lazy
from tests.support.signing_worker import signing_bot

pytestmark = pytest.mark.slow  # its first tests over 0.4 s of CPU: the AG-UI server's import (slow.py)

with_agui = lazy("agent_approvals.integrations.agui")  # imported by the tests that use it
agent = lazy("tests.support.agui_agent")
core = lazy("ag_ui.core")


@pytest.fixture
async def signer(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, str]]:
    async with signing_bot(slack, redis_url, tmp_path / "signing-keys.json") as made:
        yield made


def first_input(thread: str) -> Any:
    return core.RunAgentInput(thread_id=thread, run_id=f"{thread}-1", protocol_version="1.0",
                              messages=[core.UserMessage(id="u-1", content="Tell Bob about the prices")])


async def started(bot: Worker, key: str, mailer: Any, url: str, thread: str) -> tuple[ApprovalsClient, Any]:
    client = ApprovalsClient(bot.url, key, title="price update")
    run = with_agui.run_with_approvals(with_agui.http_agent(url), first_input(thread), client=client, agent="mailer")
    return client, asyncio.create_task(run)


async def verified(bot: Worker, entry: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """The resume entry's receipt, checked offline with the bot's published keys for `send_email(arguments)`."""
    said = entry.metadata[with_agui.KEY]
    async with ReceiptChecker(bot.url) as checker:
        jwks = await checker.keys()
    claims = verify(said["receipt"], jwks, tool="send_email", arguments=arguments)
    assert claims["sub"] == said["approvalId"] and said["argsSha256"] == args_sha256(arguments)
    return claims


async def test_approved_in_slack_resumes_with_a_receipt_that_verifies(
    signer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = signer
    mailer = agent.Mailer(bot.url)
    async with agent.served(mailer) as url:
        client, running = await started(bot, key, mailer, url, "approve")
        async with client:
            card = await nth_card(slack, 1)
            shown = block_texts(card)
            assert "send_email" in shown and "bob@example.com" in shown and "mailer (AG-UI)" in shown, shown
            assert mailer.sent == []  # nothing runs before a person decides
            await click(slack, card, "approval_approve", user=BOB)
            events = await asyncio.wait_for(running, 20)
    assert mailer.sent == [EMAIL] and mailer.told == ["sent to bob@example.com"]
    [entry] = mailer.resumes
    assert (entry.interrupt_id, entry.status, entry.payload) == ("int-1", "resolved", {"approved": True})
    assert (await verified(bot, entry, EMAIL))["tool"] == "send_email"
    assert events[-1].outcome.type == "success" and len([e for e in events if e.type == "RUN_STARTED"]) == 2


async def test_rejected_in_slack_resumes_refused_and_nothing_runs(
    signer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = signer
    mailer = agent.Mailer(bot.url)
    async with agent.served(mailer) as url:
        client, running = await started(bot, key, mailer, url, "reject")
        async with client:
            await reject(slack, await nth_card(slack, 1), user=BOB, reason="not before the board meets")
            await asyncio.wait_for(running, 20)
    [entry] = mailer.resumes
    said = entry.metadata[with_agui.KEY]
    assert entry.payload == {"approved": False} and "receipt" not in said and said["status"] == "rejected"
    assert "not before the board meets" in said["refusal"] and mailer.told == [said["refusal"]]
    assert mailer.sent == []


async def test_revised_with_edited_arguments_resumes_with_them_and_their_receipt(
    signer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = signer
    mailer = agent.Mailer(bot.url)
    edited = {**EMAIL, "to": "carol@example.com"}
    async with agent.served(mailer) as url:
        client, running = await started(bot, key, mailer, url, "revise")
        async with client:
            view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
            await slack.submit_view(user=BOB, view_id=view["id"],
                                    values={"arguments": {"arguments_input": json.dumps(edited)}})
            again = await nth_card(slack, 2)  # the edited call, asked about again
            assert "carol@example.com" in block_texts(again) and mailer.sent == []
            await click(slack, again, "approval_approve", user=BOB)
            await asyncio.wait_for(running, 20)
    [entry] = mailer.resumes
    assert entry.payload == {"approved": True, "editedArgs": edited}
    assert (await verified(bot, entry, edited))["args_sha256"] == args_sha256(edited) != args_sha256(EMAIL)
    assert mailer.sent == [edited] and mailer.told == ["sent to carol@example.com"]


async def test_an_unreadable_call_is_refused_and_another_interrupt_is_left_to_the_caller(
    signer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    bot, key = signer
    unreadable = agent.Mailer(bot.url, arguments='{"to": "bob@example.com", "body": ')
    other = agent.Mailer(bot.url, reason="input_required")
    async with agent.served(unreadable) as first, agent.served(other) as second:
        async with ApprovalsClient(bot.url, key, title="price update") as client:
            await asyncio.wait_for(with_agui.run_with_approvals(with_agui.http_agent(first), first_input("bad"),
                                                                client=client), 20)
            events = await asyncio.wait_for(with_agui.run_with_approvals(
                with_agui.http_agent(second), first_input("other"), client=client), 20)
    [entry] = unreadable.resumes
    assert entry.payload == {"approved": False} and unreadable.told == [with_agui.UNREADABLE]
    assert [i.reason for i in with_agui.interrupts_of(events)] == ["input_required"] and other.resumes == []
    assert unreadable.sent == other.sent == [] and slack.messages(APPROVALS) == []  # no card for either



async def test_nobody_deciding_in_time_resumes_refused(signer: tuple[Worker, str], slack: SlackStandIn) -> None:
    bot, key = signer
    mailer = agent.Mailer(bot.url)
    async with agent.served(mailer) as url, ApprovalsClient(bot.url, key, title="price update", within=1) as client:
        await asyncio.wait_for(with_agui.run_with_approvals(with_agui.http_agent(url), first_input("late"),
                                                            client=client), 20)
    [entry] = mailer.resumes
    said = entry.metadata[with_agui.KEY]
    assert entry.payload == {"approved": False} and said["status"] == "timed_out" and "receipt" not in said
    assert re.search(r"nobody decided in time|no decision within", said["refusal"], re.I), said
    assert mailer.sent == [] and len(slack.messages(APPROVALS)) == 1  # its card, left to time out
