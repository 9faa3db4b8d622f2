"""The examples run as their README says: each `examples/<framework>_email.py` as its own process, offline with
its scripted model, asking a real worker through the Approvals API with a key (no Slack token, no Redis in its
environment). A person approves the card: exactly the approved email is in the outbox, once. Each example prints
"waiting for approval in Slack: <the card's link>" as soon as each card is posted (read before anyone decides), each
decision as it happened (who: "@bob" once the API sends `decided_by_name`, else the user id; why), and a rejected
call never reads as sent. An unreachable bot is one line on standard error and exit status 1, after a few tries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import pytest
from agent_approvals.wire import FIRST_TRIES

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker, block_texts, free_port
from tests.support.api import Client
from tests.support.examples import KEEP, HangingUp, told_where_it_waits
from tests.support.hitl import click, nth_card, reject
from tests.support.openai_compatible import DUMMY_KEY, OpenAICompatibleServer, text, tool_call

pytestmark = pytest.mark.slow  # each example as a process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TASK = "Tell carol@example.com that our Q2 prices change on May 1"
FRAMEWORKS = {
    "openai_agents_email.py": "OpenAI Agents SDK",
    "pydantic_ai_email.py": "Pydantic AI",
    "langgraph_email.py": "LangGraph",
    "agent_framework_email.py": "Microsoft Agent Framework",
}
AUTOGEN = "autogen_email.py"  # its card shows the drafter; then the human's turn is a card of its own
REASON = "not before the board meets"
DECISION = re.compile(r"^Slack: (?P<what>.+?) (?P<said>(approved|rejected) by .+) \[(?P<id>[^\]]+)\]$", re.MULTILINE)
def example_env(worker: Worker, key: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    return {**env, "AGENT_APPROVALS_URL": worker.url, "AGENT_APPROVALS_KEY": key,
            "OUTBOX_DIR": str(tmp_path / "outbox"), "STATE_DIR": str(tmp_path / "states"), **extra}


async def approved_run(example: str, env: dict[str, str], tmp_path: Path, slack: SlackStandIn, *shown: str,
                       reason: str | None = None) -> str:
    """The example as its own process: its card shows each of `shown`, it says where the card waits (its link)
    before anyone decides, nothing is sent before a person approves it (or, given a `reason`, rejects it), then it
    ends well, with nothing on its standard error (no warning noise); its standard output."""
    program = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / example), TASK, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        card = await nth_card(slack, 1, within=90)
        assert all(part in block_texts(card) for part in shown), (shown, block_texts(card))
        said = await told_where_it_waits(program, slack, card)
        assert not DECISION.search("\n".join(said))  # said while nobody had decided
        assert not (tmp_path / "outbox").exists()  # nothing sent before the click
        if reason is None:
            await click(slack, card, "approval_approve", user=BOB)
        else:
            await reject(slack, card, user=BOB, reason=reason)
        if example == AUTOGEN and reason is None:  # the human's turn, after the drafter's words, is a card
            # (after a rejection it is not: the tool's rejection answers it, REJECT, and ends the run)
            human = await nth_card(slack, 2, within=90)
            said += await told_where_it_waits(program, slack, human)
            await click(slack, human, "approval_approve", user=BOB)
        out, err = await asyncio.wait_for(program.communicate(), 90)
    finally:
        if program.returncode is None:
            program.kill()
            await program.wait()
    assert program.returncode == 0, err.decode()[-3000:]
    assert not err.decode().strip(), err.decode()[-3000:]
    return "\n".join([*said, out.decode()])


async def decisions(worker: Worker, key: str, out: str) -> list[tuple[str, str, str]]:
    """The decision lines `out` printed, each with who decided as the API says: "@" and `decided_by_name` when
    the API sends it, else `decided_by` (a user id)."""
    found = []
    for line in DECISION.finditer(out):
        approval = await Client(worker, key).wait(line["id"], wait=0)
        who = f"@{approval['decided_by_name']}" if approval.get("decided_by_name") else approval["decided_by"]
        found.append((line["what"], line["said"], who))
    return found


@pytest.mark.parametrize("example", [*sorted(FRAMEWORKS), AUTOGEN])
async def test_each_example_sends_exactly_what_was_approved(
    example: str, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    env = example_env(worker, key, tmp_path)
    assert not {"SLACK_BOT_TOKEN", "REDIS_URL"} & set(env)
    shown = (f"({FRAMEWORKS[example]})",) if example in FRAMEWORKS else ()
    out = await approved_run(example, env, tmp_path, slack, *shown, "carol@example.com", f"examples/{example}")
    if example == AUTOGEN:
        emails = [p.read_text() for p in (tmp_path / "outbox").glob("*.eml")]
        assert len(emails) == 1 and "To: carol@example.com" in emails[0] and TASK in emails[0]
    else:
        emails = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
        assert [e["to"] for e in emails] == ["carol@example.com"] and TASK in emails[0]["body"]
    told = await decisions(worker, key, out)
    assert told[0] == ("send_email", f"approved by {told[0][2]}", told[0][2]) and told[0][2] in (BOB, "@bob"), out
    if example == AUTOGEN:
        assert told[1:] == [("the human's turn", f"approved by {told[1][2]}", told[1][2])], out
    last = out.strip().splitlines()[-1]  # the run's result: the agent's last words, after the decisions
    assert "Sent the email" in last and "carol@example.com" in last and last != "APPROVE", out


@pytest.mark.parametrize("example", [*sorted(FRAMEWORKS), AUTOGEN])
async def test_each_example_says_a_rejected_call_was_not_sent(
    example: str, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """Rejected with a reason: nothing sent; the example prints who rejected it and why, and its agent's last
    words say it was not sent (never "Sent the email"). (The bot's URL as given here ends in /api/v1/, as the
    API's paths do: the same bot.)"""
    worker, key = emailer
    env = example_env(worker, key, tmp_path, AGENT_APPROVALS_URL=worker.url + "/api/v1/")
    out = await approved_run(example, env, tmp_path, slack, "carol@example.com", reason=REASON)
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").iterdir())
    told = await decisions(worker, key, out)
    who = told[0][2]
    assert who in (BOB, "@bob"), out  # "@bob" once the API sends decided_by_name
    assert told[0] == ("send_email", f"rejected by {who}: {REASON}", who), out
    assert f"rejected by {who}: {REASON}" in out
    last = out.strip().splitlines()[-1]
    assert "Sent the email" not in out and "Did not send" in last, out
    if example != AUTOGEN:  # (AutoGen's tool answers from its Decision: the user id, not the name)
        assert f"rejected by {who}: {REASON}" in last, out


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


async def failed_run(example: str, env: dict[str, str], tmp_path: Path, *args: str) -> str:
    """The example as its own process, expected to stop at once: status 1, nothing on its standard output, one line
    on its standard error (no traceback); that line."""
    program = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / example), *(args or (TASK,)), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(program.communicate(), 90)
    finally:
        if program.returncode is None:
            program.kill()
            await program.wait()
    lines = err.decode().strip().splitlines()
    assert program.returncode == 1 and not out.strip() and len(lines) == 1, (program.returncode, out, err)
    return lines[0]


def nowhere_env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    return {**env, "AGENT_APPROVALS_URL": url, "AGENT_APPROVALS_KEY": "aak_nothing", "OUTBOX_DIR": str(tmp_path)}


@pytest.mark.parametrize(("example", "args"), [
    ("pydantic_ai_email.py", ()), (AUTOGEN, ()), ("receipt_executor.py", ("ask", TASK)),
])
async def test_an_example_whose_bot_is_not_there_says_so_in_one_line(
    example: str, args: tuple[str, ...], tmp_path: Path
) -> None:
    """Nothing listens at AGENT_APPROVALS_URL: one line naming it, before the agent runs."""
    url = f"http://127.0.0.1:{free_port()}"
    line = await failed_run(example, nowhere_env(url + "/api/v1/", tmp_path), tmp_path, *args)
    assert line == (f"{example}: the approvals bot at {url} is unreachable (ConnectError: Connection refused): is it"
                    " running, and is this its URL?")


async def test_an_example_tries_a_bot_that_hangs_up_a_few_times(tmp_path: Path) -> None:
    async with HangingUp() as listener:
        line = await failed_run("langgraph_email.py", nowhere_env(listener.url, tmp_path), tmp_path)
    assert line.startswith(f"langgraph_email.py: the approvals bot at {listener.url} is unreachable (")
    assert listener.connections == FIRST_TRIES


async def test_an_example_with_a_wrong_key_or_no_settings_says_so(emailer: tuple[Worker, str], tmp_path: Path) -> None:
    worker, _ = emailer
    line = await failed_run("openai_agents_email.py", nowhere_env(worker.url, tmp_path), tmp_path)
    assert line.startswith("openai_agents_email.py: 401 ") and "key" in line
    bare = {name: os.environ[name] for name in KEEP if name in os.environ}
    line = await failed_run("openai_agents_email.py", bare, tmp_path)
    assert line == ("openai_agents_email.py: set AGENT_APPROVALS_URL and AGENT_APPROVALS_KEY (python -m bot dev"
                    " prints both)")
