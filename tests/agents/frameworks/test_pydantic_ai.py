"""The Pydantic AI integration (`agent_approvals.integrations.pydantic_ai`) against a real worker: an `Agent` whose
`send_email` tool has `requires_approval`, driven by a scripted `FunctionModel` (no network); people decide
on the bot's cards (approve, reject, timeout and rule: tests/agents/frameworks/test_contract.py). An edit is asked about
again and runs with the edited arguments.
A run whose process is killed -9 while a person decides (on the call, or on its edit) is finished by `resume`
in another process, from the history kept in a `FileStateStore`: the tool runs once, no second card."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from agent_approvals import ApprovalsClient

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, Worker, block_texts
from tests.support.frameworks import EMAIL
from tests.support.frameworks import pydantic_mailer as mailer
from tests.support.hitl import (
    click,
    killed_then_resumed,
    killed_while_the_call_runs,
    line_written,
    nth_card,
    open_modal,
    until,
)

pytestmark = pytest.mark.slow  # its first test pays Pydantic AI's import: 0.8 s of CPU (tests/support/slow.py)


async def test_an_edit_is_asked_about_again_and_runs_with_the_edited_arguments(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    from agent_approvals.integrations.pydantic_ai import run_with_approvals  # lazily: tests/support/frameworks.py

    bot, key = emailer
    sent: list[dict[str, str]] = []
    async with ApprovalsClient(bot.url, key, title="price update") as client:
        agent, told = mailer(sent)
        running = asyncio.create_task(run_with_approvals(agent, "Tell Bob", client=client))
        view = await open_modal(slack, await nth_card(slack, 1), user=BOB)
        edited = {**EMAIL, "to": "carol@example.com"}
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited)}}
        )
        again = await nth_card(slack, 2)  # the edited call, asked about again
        assert "carol@example.com" in block_texts(again) and sent == []
        await click(slack, again, "approval_approve", user=BOB)
        await asyncio.wait_for(running, 20)
    assert sent == [edited] and told == ["sent to carol@example.com"]


PROGRAM = """
import asyncio, json, sys, threading
from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel
from agent_approvals import ApprovalsClient
from agent_approvals.integrations.pydantic_ai import FileStateStore, resume, run_with_approvals

url, key, states, outbox, mode = sys.argv[1:6]
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}

def model(messages, info):
    for part in messages[-1].parts:
        if part.part_kind in ("tool-return", "retry-prompt"):
            return ModelResponse(parts=[TextPart(f"Done: {part.content}")])
    if mode not in ("start", "hang"):
        raise AssertionError("the resumed run asked the model for a new call")
    return ModelResponse(parts=[ToolCallPart("send_email", dict(EMAIL), tool_call_id="call-1")])

agent = Agent(FunctionModel(model), name="mailer", output_type=[str, DeferredToolRequests])

@agent.tool_plain(requires_approval=True)
def send_email(to: str, body: str) -> str:
    \"\"\"Send an email to one recipient.\"\"\"
    with open(outbox, "a") as out:
        out.write(json.dumps({"to": to, "body": body}) + "\\n")
    if mode == "hang":  # the process dies while the approved call runs
        threading.Event().wait()
    return f"sent to {to}"

async def main() -> None:
    async with ApprovalsClient(url, key, title="price update") as client:
        store = FileStateStore(states)
        if mode in ("start", "hang"):
            result = await run_with_approvals(agent, "Tell Bob", client=client, store=store, run_id="nightly/42")
        else:
            result = await resume(agent, "nightly/42", client=client, store=store)
    print(json.dumps({"final": result.output}))

asyncio.run(main())
"""


def program(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The agent program (`start` runs it, `resume` finishes it), its states directory and its outbox."""
    path = tmp_path / "program.py"
    path.write_text(PROGRAM)
    return path, tmp_path / "states", tmp_path / "outbox.jsonl"


def outbox_lines(outbox: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in outbox.read_text().splitlines()] if outbox.exists() else []


@pytest.mark.slow
async def test_a_run_killed_9_while_a_person_decides_is_resumed_in_another_process(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    path, states, outbox = program(tmp_path)
    printed = await killed_then_resumed(
        slack, path, [bot.url, key, str(states), str(outbox)], paused=lambda: list(states.glob("*.json"))
    )
    assert printed == [{"final": "Done: sent to bob@example.com"}]
    assert outbox_lines(outbox) == [EMAIL]  # once, with the approved arguments
    assert list(states.glob("*.json")) == []  # the ended run is no longer kept
    assert len(slack.messages(APPROVALS)) == 1  # the resumed process asked for the same approval: no second card


@pytest.mark.slow
async def test_a_run_killed_9_while_a_person_decides_on_an_edit_runs_the_edited_call(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """The first card is edited and the first process asks about the edited call; it is killed -9 before that
    is decided. The resumed process finds both asks by their keys (the edit's too): it runs the edited call."""
    bot, key = emailer
    path, states, outbox = program(tmp_path)
    environ = {k: v for k, v in os.environ.items() if k not in ("SLACK_BOT_TOKEN", "REDIS_URL")}

    async def spawn(mode: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, str(path), bot.url, key, str(states), str(outbox), mode, env=environ,
            cwd=str(tmp_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )

    first = await spawn("start")
    try:
        card = await nth_card(slack, 1, within=30)
        await until(lambda: list(states.glob("*.json")), what="the paused run kept")
        edited = {**EMAIL, "to": "carol@example.com"}
        view = await open_modal(slack, card, user=BOB)
        await slack.submit_view(
            user=BOB, view_id=view["id"], values={"arguments": {"arguments_input": json.dumps(edited)}}
        )
        again = await nth_card(slack, 2)  # the first process asked about the edited call
        assert "carol@example.com" in block_texts(again)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it died already: the error above says why
            first.send_signal(signal.SIGKILL)
        await first.wait()
    await click(slack, again, "approval_approve", user=BOB)  # decided while nobody waits for it
    second = await spawn("resume")
    out, _ = await asyncio.wait_for(second.communicate(), 60)
    assert second.returncode == 0, out.decode()[-2000:]
    printed = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert printed == [{"final": "Done: sent to carol@example.com"}]
    assert outbox_lines(outbox) == [edited]  # once, with the edited arguments: the original never ran
    assert list(states.glob("*.json")) == []
    assert len(slack.messages(APPROVALS)) == 2  # the call's card and the edit's: the resumed process made none


def test_idempotency_keys_are_deterministic_valid_and_distinct_per_edit() -> None:
    from agent_approvals.integrations.pydantic_ai import _idempotency_key

    pattern = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
    edited = {"to": "carol@example.com"}
    assert _idempotency_key("pa-nightly-42-1-call-1", 0, EMAIL) == "pa-nightly-42-1-call-1"
    first_edit = _idempotency_key("pa-nightly-42-1-call-1", 1, edited)
    assert first_edit.startswith("pa-nightly-42-1-call-1-e1-") and pattern.match(first_edit)
    assert first_edit == _idempotency_key("pa-nightly-42-1-call-1", 1, dict(edited))  # another process: the same
    assert _idempotency_key("pa-nightly-42-1-call-1", 2, edited) != first_edit  # edited back and forth: asked anew
    assert _idempotency_key("pa-nightly-42-1-call-1", 1, EMAIL) != first_edit
    unsafe = _idempotency_key("pa-nightly/42 ünïcode-" + "x" * 200 + "-call-1", 0, EMAIL)
    assert pattern.match(unsafe) and len(unsafe) == 128
    assert unsafe != _idempotency_key("pa-nightly/42 ünïcode-" + "x" * 200 + "-call-2", 0, EMAIL)
    assert _idempotency_key("pa-a/b-1-c", 0, EMAIL) != _idempotency_key("pa-a b-1-c", 0, EMAIL)


@pytest.mark.slow
async def test_a_call_running_when_its_process_died_is_asked_again_as_one_that_may_have_run(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    from bot.api.service import MAY_HAVE_RUN

    bot, key = emailer
    path, states, outbox = program(tmp_path)
    again, printed = await killed_while_the_call_runs(
        slack, path, [bot.url, key, str(states), str(outbox)], running=line_written(outbox)
    )
    assert MAY_HAVE_RUN.split(":")[0] in block_texts(again)
    assert printed == [{"final": "Done: Not run: rejected by @bob: it went out already"}]
    assert outbox_lines(outbox) == [EMAIL]  # started once, never again
    assert list(states.glob("*.json")) == []
