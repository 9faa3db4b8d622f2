"""The Claude Agent SDK and Google ADK examples as their docstrings say (#37.4): each as its own process, offline
(a scripted CLI stand-in, a scripted model), asking a real worker through the Approvals API with a key. Approve:
exactly the approved email, once; reject: nothing sent, and the last words say why. The Claude example with a
1 s limit (deny-then-grant) still sends once; the ADK example killed -9 while a person decides is finished by
`--resume` with the same card. Each says where its card waits, with its link, before anyone decides (the resumed
one too: the same card)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker, block_texts
from tests.support.examples import KEEP, told_where_it_waits
from tests.support.hitl import cards, click, nth_card, reject

pytestmark = pytest.mark.slow  # each example as a process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TASK = "Tell carol@example.com that our Q2 prices change on May 1"
HARNESSES = {"claude_agent_sdk_email.py": "Claude Agent SDK", "google_adk_email.py": "Google ADK"}
REASON = "not before the board meets"


def example_env(worker: Worker, key: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    return {**env, "AGENT_APPROVALS_URL": worker.url, "AGENT_APPROVALS_KEY": key,
            "OUTBOX_DIR": str(tmp_path / "outbox"), "STATE_DIR": str(tmp_path / "states"), **extra}


async def spawn(example: str, env: dict[str, str], tmp_path: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, str(EXAMPLES / example), *(args or (TASK,)),
                                                env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


async def finished(program: asyncio.subprocess.Process) -> str:
    out, err = await asyncio.wait_for(program.communicate(), 90)
    assert program.returncode == 0, err.decode()[-3000:]
    assert not err.decode().strip(), err.decode()[-3000:]
    return out.decode()


def emails(tmp_path: Path) -> list[dict[str, str]]:
    outbox = tmp_path / "outbox"
    return [json.loads(p.read_text()) for p in outbox.glob("*.json")] if outbox.exists() else []


@pytest.mark.parametrize("example", sorted(HARNESSES))
async def test_each_example_sends_exactly_what_was_approved(
    example: str, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    program = await spawn(example, example_env(worker, key, tmp_path, APPROVAL_LIMIT="1"), tmp_path)
    try:
        card = await nth_card(slack, 1, within=90)
        assert "carol@example.com" in block_texts(card) and f"examples/{example}" in block_texts(card)
        said = await told_where_it_waits(program, slack, card)
        assert emails(tmp_path) == [] and "approved by" not in "\n".join(said)
        await click(slack, card, "approval_approve", user=BOB)
        out = await finished(program)
    finally:
        if program.returncode is None:
            program.kill()
            await program.wait()
    assert [e["to"] for e in emails(tmp_path)] == ["carol@example.com"] and len(cards(slack)) == 1
    assert "send_email approved by " in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("Sent the email") and "carol@example.com" in last, out


@pytest.mark.parametrize("example", sorted(HARNESSES))
async def test_each_example_says_a_rejected_call_was_not_sent(
    example: str, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    program = await spawn(example, example_env(worker, key, tmp_path), tmp_path)
    try:
        await reject(slack, await nth_card(slack, 1, within=90), user=BOB, reason=REASON)
        out = await finished(program)
    finally:
        if program.returncode is None:
            program.kill()
            await program.wait()
    assert emails(tmp_path) == []
    last = out.strip().splitlines()[-1]
    assert last.startswith("Did not send the email. Not run: rejected by ") and last.endswith(REASON), out


async def test_the_adk_example_killed_while_a_person_decides_is_resumed(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    env = example_env(worker, key, tmp_path, RUN_ID="mailer-killed")
    program = await spawn("google_adk_email.py", env, tmp_path)
    try:
        card = await nth_card(slack, 1, within=90)
        await told_where_it_waits(program, slack, card)
    finally:
        program.kill()
        await program.wait()
    resumed = await spawn("google_adk_email.py", env, tmp_path, "--resume", "mailer-killed")
    try:
        await told_where_it_waits(resumed, slack, card)  # the same card, before anyone decides
        await click(slack, card, "approval_approve", user=BOB)
        out = await finished(resumed)
    finally:
        if resumed.returncode is None:
            resumed.kill()
            await resumed.wait()
    assert [e["to"] for e in emails(tmp_path)] == ["carol@example.com"] and len(cards(slack)) == 1
    assert out.strip().splitlines()[-1].startswith("Sent the email"), out
