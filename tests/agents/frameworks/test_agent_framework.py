"""The Microsoft Agent Framework integration (`agent_approvals.integrations.agent_framework`) against a real worker: an
`Agent` whose `send_email` tool has `approval_mode="always_require"`, driven by a scripted chat client (no
network); people decide on the bot's cards (approve, reject, timeout and rule: tests/agents/frameworks/test_contract.py;
a rejection's reason reaches the model, where the framework itself says only "rejected by user"). The card offers
no edit of the arguments and a revision's feedback reaches the model; a run whose process is killed -9 while a
person decides is finished by `resume` in another process."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.client import idempotency_key

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import FIXED_ARGUMENTS
from tests.conftest import APPROVALS, BOB, Worker, block_texts
from tests.support.frameworks import EMAIL
from tests.support.frameworks import af_send as send
from tests.support.frameworks import agent_framework_mailer as mailer
from tests.support.hitl import (
    click,
    killed_then_resumed,
    killed_while_the_call_runs,
    line_written,
    nth_card,
    open_modal,
    reject,
    until,
)
from tests.support.lazy import lazy

with_af = lazy("agent_approvals.integrations.agent_framework")  # imported by the tests that use it
af = lazy("agent_framework")

KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


async def test_the_card_offers_no_edit_and_a_revision_reaches_the_model(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    """The framework runs only the call the model made: the card says so, Revise has no arguments to edit, and
    the reviewer's feedback reaches the model, whose next call is asked about again."""
    bot, key = emailer
    sent: list[dict[str, str]] = []
    revised = {**EMAIL, "to": "carol@example.com"}
    agent, chat = mailer(sent, send(EMAIL), send(revised, "call-2"), [af.Content.from_text("Sent.")])
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        running = asyncio.create_task(with_af.run_with_approvals(agent, "Tell Bob", client=client))
        first = await nth_card(slack, 1)
        assert FIXED_ARGUMENTS in block_texts(first)
        view = await open_modal(slack, first, user=BOB)
        assert [b.get("block_id") for b in view["view"]["blocks"] if b["type"] == "input"] == ["feedback"]
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "Send it to Carol instead"}}
        )
        second = await nth_card(slack, 2)  # the model called again, as the feedback asked: asked again
        assert "carol@example.com" in block_texts(second) and FIXED_ARGUMENTS in block_texts(second)
        assert "Not run: @bob asked for a revision. Send it to Carol instead" in chat.shown()
        assert sent == []
        await click(slack, second, "approval_approve", user=BOB)
        response = await asyncio.wait_for(running, 20)
    assert sent == [revised] and response.text == "Sent." and "sent to carol@example.com" in chat.shown()


def test_idempotency_keys_are_valid_and_distinct() -> None:
    assert idempotency_key("af", "nightly-42", "af-call-1") == "af-nightly-42-af-call-1"  # safe: as it is
    unsafe = idempotency_key("af", "nightly/42 ünïcode-" + "x" * 200, "af-call-1")
    assert KEY.fullmatch(unsafe) and unsafe.startswith("af-nightly-42-")
    assert unsafe == idempotency_key("af", "nightly/42 ünïcode-" + "x" * 200, "af-call-1")  # another process
    assert unsafe != idempotency_key("af", "nightly/42 ünïcode-" + "x" * 200, "af-call-2")
    assert idempotency_key("af", "a/b", "c") != idempotency_key("af", "a b", "c")


async def test_a_paused_run_is_kept_before_asking_and_deleted_when_it_ends(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """A run id the API would refuse in an Idempotency-Key (a slash, a space, too long) still asks: the key is
    `af-{run id}-{call id}` made safe, and the session kept holds the request the card shows."""
    bot, key = emailer
    sent: list[dict[str, str]] = []
    store, run_id = with_af.FileStateStore(tmp_path / "states"), "nightly/42 " + "x" * 200
    agent, chat = mailer(sent)
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        running = asyncio.create_task(with_af.run_with_approvals(agent, "Tell Bob", client=client, store=store,
                                                         run_id=run_id))
        card = await nth_card(slack, 1)
        kept = json.loads(store.load(run_id) or "{}")
        [request] = kept["requests"]
        assert request["function_call"]["arguments"] == EMAIL and request["id"].startswith("af-call-")
        assert "function_approval_request" in json.dumps(kept["session"])  # the history, with the pause
        emailer = await bot.services.store.api_keys.get("emailer")
        assert emailer is not None
        owned = f":apiidem:{emailer.id}:"  # (an ask's idempotency belongs to its key's id, not its name)
        redis_keys = [k.decode() if isinstance(k, bytes) else str(k)
                      for k in await bot.services.store.redis.keys(f"*{owned}*")]
        expected = idempotency_key("af", run_id, request["id"])
        assert [k.rsplit(owned, 1)[1] for k in redis_keys] == [expected]
        assert KEY.fullmatch(expected) and expected != f"af-{run_id}-{request['id']}"
        await click(slack, card, "approval_approve", user=BOB)
        response = await asyncio.wait_for(running, 20)
    assert sent == [EMAIL] and response.text == "Done." and "sent to bob@example.com" in chat.shown()
    assert store.load(run_id) is None and list((tmp_path / "states").glob("*.json")) == []


async def test_a_rejection_decided_while_nobody_waits_reaches_the_model_after_resume(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    sent: list[dict[str, str]] = []
    store = with_af.FileStateStore(tmp_path / "states")
    agent, _ = mailer(sent)
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        running = asyncio.create_task(with_af.run_with_approvals(agent, "Tell Bob", client=client, store=store,
                                                         run_id="nightly-42"))
        card = await nth_card(slack, 1)
        await until(lambda: store.load("nightly-42"), what="the paused run kept")
        running.cancel()  # the asking program is gone
        with pytest.raises(asyncio.CancelledError):
            await running
        await reject(slack, card, user=BOB, reason="not before the board meets")
        agent, chat = mailer(sent, [af.Content.from_text("Understood, not sent.")])  # another program's agent
        response = await asyncio.wait_for(with_af.resume(agent, "nightly-42", client=client, store=store), 20)
        with pytest.raises(LookupError):
            await with_af.resume(agent, "nightly-42", client=client, store=store)  # it ended: nothing kept
    assert sent == [] and response.text == "Understood, not sent."
    assert "rejected by @bob: not before the board meets" in chat.shown()
    assert len(slack.messages(APPROVALS)) == 1  # asked again by the same key: no second card


PROGRAM = """
import asyncio, json, sys, threading
from agent_framework import Agent, BaseChatClient, ChatResponse, Content, FunctionInvocationLayer, Message, tool
from agent_approvals import ApprovalsClient
from agent_approvals.integrations.agent_framework import FileStateStore, resume, run_with_approvals

url, key, states, outbox, mode = sys.argv[1:6]
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}

@tool(approval_mode="always_require")
def send_email(to: str, body: str) -> str:
    \"\"\"Send an email to one recipient.\"\"\"
    with open(outbox, "a") as out:
        out.write(json.dumps({"to": to, "body": body}) + "\\n")
    if mode == "hang":  # the process dies while the approved call runs
        threading.Event().wait()
    return f"sent to {to}"

class Scripted(FunctionInvocationLayer, BaseChatClient):
    def __init__(self, script):
        super().__init__()
        self.script = script

    async def _answer(self):
        return ChatResponse(messages=[Message(role="assistant", contents=self.script.pop(0))])

    def _inner_get_response(self, *, messages, stream, options, **kwargs):
        return self._answer()

async def main() -> None:
    script = [[Content.from_text("Done.")]]
    if mode in ("start", "hang"):
        script.insert(0, [Content.from_function_call("call-1", "send_email", arguments=dict(EMAIL))])
    agent = Agent(client=Scripted(script), name="mailer", tools=[send_email])
    async with ApprovalsClient(url, key, title="price update") as client:
        store = FileStateStore(states)
        if mode in ("start", "hang"):
            response = await run_with_approvals(agent, "Tell Bob", client=client, store=store, run_id="nightly-42")
        else:
            response = await resume(agent, "nightly-42", client=client, store=store)
    print(json.dumps({"final": response.text}))

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_run_killed_9_while_a_person_decides_is_resumed_in_another_process(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    states, outbox = tmp_path / "states", tmp_path / "outbox.jsonl"
    printed = await killed_then_resumed(
        slack, program, [bot.url, key, str(states), str(outbox)], paused=lambda: list(states.glob("*.json")),
    )
    assert printed == [{"final": "Done."}]
    assert [json.loads(line) for line in outbox.read_text().splitlines()] == [EMAIL]  # once
    assert list(states.glob("*.json")) == []  # the ended run is no longer kept
    assert len(slack.messages(APPROVALS)) == 1  # the resumed process asked for the same approval: no second card


@pytest.mark.slow
async def test_a_call_running_when_its_process_died_is_asked_again_as_one_that_may_have_run(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    from bot.api.service import MAY_HAVE_RUN

    bot, key = emailer
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    states, outbox = tmp_path / "states", tmp_path / "outbox.jsonl"
    again, printed = await killed_while_the_call_runs(
        slack, program, [bot.url, key, str(states), str(outbox)], running=line_written(outbox)
    )
    assert MAY_HAVE_RUN.split(":")[0] in block_texts(again)
    assert printed == [{"final": "Done."}]
    assert [json.loads(line) for line in outbox.read_text().splitlines()] == [EMAIL]  # started once, never again
    assert list(states.glob("*.json")) == []
