"""The examples run as their README says: each `examples/<framework>_email.py` as its own process, offline with
its scripted model, asking a real worker through the Approvals API with a key (no Slack token, no Redis in its
environment). A person approves the card: exactly the approved email is in the outbox, once."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker, block_texts
from tests.support.hitl import click, nth_card
from tests.support.openai_compatible import DUMMY_KEY, OpenAICompatibleServer, text, tool_call

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TASK = "Tell carol@example.com that our Q2 prices change on May 1"
FRAMEWORKS = {
    "openai_agents_email.py": "OpenAI Agents SDK",
    "pydantic_ai_email.py": "Pydantic AI",
    "langgraph_email.py": "LangGraph",
    "agent_framework_email.py": "Microsoft Agent Framework",
}


def example_env(worker: Worker, key: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "VIRTUAL_ENV")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    return {**env, "AGENT_APPROVALS_URL": worker.url, "AGENT_APPROVALS_KEY": key,
            "OUTBOX_DIR": str(tmp_path / "outbox"), "STATE_DIR": str(tmp_path / "states"), **extra}


async def approved_run(example: str, env: dict[str, str], tmp_path: Path, slack: SlackStandIn, *shown: str) -> str:
    """The example as its own process: its card shows each of `shown`, nothing is sent before a person
    approves it, then it ends well; its standard output."""
    program = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / example), TASK, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        card = await nth_card(slack, 1, within=90)
        assert all(part in block_texts(card) for part in shown), (shown, block_texts(card))
        assert not (tmp_path / "outbox").exists()  # nothing sent before the click
        await click(slack, card, "approval_approve", user=BOB)
        out, err = await asyncio.wait_for(program.communicate(), 90)
    finally:
        if program.returncode is None:
            program.kill()
            await program.wait()
    assert program.returncode == 0, err.decode()[-3000:]
    return out.decode()


@pytest.mark.parametrize("example", sorted(FRAMEWORKS))
async def test_each_example_sends_exactly_what_was_approved(
    example: str, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    env = example_env(worker, key, tmp_path)
    assert not {"SLACK_BOT_TOKEN", "REDIS_URL"} & set(env)
    out = await approved_run(example, env, tmp_path, slack, f"({FRAMEWORKS[example]})", "carol@example.com",
                             f"examples/{example}")
    emails = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    assert [e["to"] for e in emails] == ["carol@example.com"] and TASK in emails[0]["body"]
    assert out.strip()  # the agent's last words


REAL_MODEL = {"openai_agents_email.py": "OpenAI Agents SDK", "pydantic_ai_email.py": "Pydantic AI"}  # (their clients
# are installed here; the LangGraph and Agent Framework examples need langchain-openai / agent-framework-openai)


@pytest.mark.parametrize("example", sorted(REAL_MODEL))
async def test_an_example_with_a_model_at_openai_base_url(
    example: str, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL point the example at an OpenAI-compatible server (here a
    local one speaking `chat/completions`, as Ollama, vLLM or LiteLLM do): the model's call is the card's."""
    worker, key = emailer
    email = {"to": "carol@example.com", "body": "Hello Carol,\n\nOur Q2 prices change on May 1.\n\nBest regards"}
    async with OpenAICompatibleServer(tool_call("send_email", email), text("I emailed Carol about May 1.")) as server:
        env = example_env(worker, key, tmp_path, OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY=DUMMY_KEY,
                          OPENAI_MODEL="qwen2.5:7b")
        out = await approved_run(example, env, tmp_path, slack, f"({REAL_MODEL[example]})", "Hello Carol,")
    assert out.strip().endswith("I emailed Carol about May 1.")
    emails = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    assert emails == [email]
    first, second = server.completions
    assert first["model"] == "qwen2.5:7b" and [t["function"]["name"] for t in first["tools"]] == ["send_email"]
    assert server.requests[0].headers["Authorization"] == f"Bearer {DUMMY_KEY}"
    told = [m for m in second["messages"] if m.get("role") == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in told] == [("call_1", "sent to carol@example.com")]
