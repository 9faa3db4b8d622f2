"""The TypeScript examples (examples/typescript/) run as their comments say, as the Python ones do
(tests/agents/test_examples.py): each compiled by its own strict tsconfig.json against the local package
(`agent-approvals`, file:../../agents/typescript) and run as its own process, offline with its framework's own mock
model, asking a real worker through the Approvals API with a key. It prints "waiting for approval in Slack: <the
card's link>" before anyone decides; bob approves (or rejects) the card; exactly the approved email is in the
outbox, once (nothing after a rejection); it prints the decision and its agent's last words. A bot that is not there,
or a wrong key, is one line on standard error and exit status 1. The AI SDK and Mastra examples run on Node 22."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker, block_texts, card_of, free_port
from tests.support.examples import KEEP, told_where_it_waits
from tests.support.hitl import click, nth_card, reject
from tests.support.source import ROOT
from tests.support.typescript import EXAMPLES, EXAMPLES22, PROJECT, build_examples, node, node22

pytestmark = pytest.mark.slow  # tsc and node

TASK = "Tell bob@example.com that our Q2 prices change on May 1"
REASON = "not before the board meets"
FRAMEWORKS = {"ai-sdk": "AI SDK", "openai-agents": "OpenAI Agents SDK", "langgraph": "LangGraph", "mastra": "Mastra"}
DECISION = re.compile(r"^Slack: (?P<what>.+?) (?P<said>(approved|rejected) by .+) \[(?P<id>[^\]]+)\]$", re.MULTILINE)


MARK = re.compile(r"<!-- snippet: (ts-[a-z0-9-]+) -->\n```ts\n(.*?)\n```", re.S)
PAGES = {example: ROOT / "docs" / "agents" / f"typescript-{example}.md" for example in FRAMEWORKS}


def page_program(example: str) -> str:
    """The one complete program of the framework's page (its marked `ts` block)."""
    found = MARK.findall(PAGES[example].read_text())
    assert [name for name, _ in found] == [f"ts-{example}"], found
    return str(found[0][1])


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The examples and the pages' programs (page-<framework>.js), compiled once per test session: with xdist, the
    first test process to need them compiles them in the session's shared folder while the others wait on its lock
    (each `tsc` of the frameworks' types costs the whole machine tens of seconds of CPU)."""
    pages = {f"page-{example}.ts": page_program(example) for example in FRAMEWORKS}
    if worker_id == "master":  # no xdist: this process's own folder
        return build_examples(tmp_path_factory.mktemp("ts-examples"), pages)
    shared = tmp_path_factory.getbasetemp().parent / "ts-examples"  # the session's, shared by its test processes
    with (shared.parent / "ts-examples.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "built").exists():
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir()
            build_examples(shared, pages)
            (shared / "built").touch()
    return shared / "dist"


def command(programs: Path, example: str, program: str = "") -> list[str]:
    return [node22() if example in EXAMPLES22 else node(), str(programs / f"{program or example}.js"), TASK]


def example_env(url: str, key: str, tmp_path: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in KEEP if name in os.environ}
    return {**env, "AGENT_APPROVALS_URL": url, "AGENT_APPROVALS_KEY": key, "OUTBOX_DIR": str(tmp_path / "outbox"),
            "STATE_DIR": str(tmp_path / "states")}


async def decided_run(programs: Path, example: str, env: dict[str, str], tmp_path: Path, slack: SlackStandIn,
                      reason: str | None = None) -> str:
    """The example as its own process: it says where its card waits (the link) before anyone decides, nothing is
    sent before bob approves it (or, given a `reason`, rejects it), then it ends well, its standard error empty;
    all it printed."""
    program = await asyncio.create_subprocess_exec(*command(programs, example), env=env, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        card = await nth_card(slack, 1, within=90)
        text = block_texts(card)
        assert f"({FRAMEWORKS[example]})" in text and "bob@example.com" in text, text
        assert f"examples/typescript/{example}.ts" in text, text
        said = await told_where_it_waits(program, slack, card)
        assert not DECISION.search("\n".join(said))  # said while nobody had decided
        assert not (tmp_path / "outbox").exists()  # nothing sent before the click
        if reason is None:
            await click(slack, card, "approval_approve", user=BOB)
        else:
            await reject(slack, card, user=BOB, reason=reason)
        out, err = await asyncio.wait_for(program.communicate(), 90)
    finally:
        if program.returncode is None:
            program.kill()
            await program.wait()
    assert program.returncode == 0, err.decode()[-3000:]
    assert not err.decode().strip(), err.decode()[-3000:]
    return "\n".join([*said, out.decode()])


@pytest.mark.parametrize("example", sorted(FRAMEWORKS))
async def test_each_typescript_example_sends_exactly_what_was_approved(
    example: str, programs: Path, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    out = await decided_run(programs, example, example_env(worker.url, key, tmp_path), tmp_path, slack)
    emails = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    assert [e["to"] for e in emails] == ["bob@example.com"] and TASK in emails[0]["body"], emails
    decisions = DECISION.findall(out)
    assert len(decisions) == 1 and decisions[0][0] == "send_email", out
    assert decisions[0][1] in ("approved by @bob", f"approved by {BOB}"), out
    assert out.strip().splitlines()[-1] == "Sent the email (sent to bob@example.com).", out


@pytest.mark.parametrize("example", sorted(FRAMEWORKS))
async def test_each_typescript_example_says_a_rejected_call_was_not_sent(
    example: str, programs: Path, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    out = await decided_run(programs, example, example_env(worker.url, key, tmp_path), tmp_path, slack, REASON)
    assert not (tmp_path / "outbox").exists()
    decisions = DECISION.findall(out)
    assert len(decisions) == 1 and decisions[0][1] in (f"rejected by @bob: {REASON}", f"rejected by {BOB}: {REASON}")
    last = out.strip().splitlines()[-1]
    assert "Sent the email" not in out and last.startswith("Did not send the email.") and REASON in last, out


async def failed_run(programs: Path, example: str, env: dict[str, str], tmp_path: Path) -> str:
    """The example, expected to stop at once: status 1, nothing on its standard output, one line on its standard
    error (no stack trace); that line."""
    program = await asyncio.create_subprocess_exec(*command(programs, example), env=env, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(program.communicate(), 120)
    lines = err.decode().strip().splitlines()
    assert program.returncode == 1 and not out.strip() and len(lines) == 1, (program.returncode, out, err)
    assert not (tmp_path / "outbox").exists()
    return lines[0]


@pytest.mark.parametrize("example", sorted(FRAMEWORKS))
async def test_a_typescript_example_whose_bot_is_not_there_says_so_in_one_line(
    example: str, programs: Path, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = await failed_run(programs, example, example_env(url + "/api/v1/", "aak_nothing", tmp_path), tmp_path)
    assert re.fullmatch(rf"{example}\.js: the approvals bot at {re.escape(url)} is unreachable \(.+\): is it running,"
                        r" and is this its URL\?", line), line


async def test_a_typescript_example_with_a_wrong_key_or_no_settings_says_so(
    programs: Path, emailer: tuple[Worker, str], tmp_path: Path
) -> None:
    worker, _ = emailer
    line = await failed_run(programs, "langgraph", example_env(worker.url, "aak_nothing", tmp_path), tmp_path)
    assert line.startswith("langgraph.js: 401 ") and "key" in line, line
    bare = {name: os.environ[name] for name in KEEP if name in os.environ}
    line = await failed_run(programs, "langgraph", bare, tmp_path)
    assert line == "langgraph.js: set AGENT_APPROVALS_URL and AGENT_APPROVALS_KEY (python -m bot dev prints both)"


def test_the_examples_package_json_asks_for_the_local_package_and_the_frameworks_it_is_tested_with() -> None:
    examples = json.loads((EXAMPLES / "package.json").read_text())
    suite = json.loads((PROJECT / "package.json").read_text())  # the frameworks the adapters are tested with
    assert examples["dependencies"].pop("agent-approvals") == "file:../../agents/typescript"
    for name, version in {**examples["dependencies"], **examples["devDependencies"]}.items():
        assert suite["devDependencies"][name] == version, name
    # the package is a link: built through it, so that its adapters find the frameworks installed here
    assert examples["scripts"]["build"].startswith("node --preserve-symlinks --preserve-symlinks-main ")


@pytest.mark.parametrize("example", sorted(FRAMEWORKS))
async def test_each_typescript_page_program_runs_an_approved_call_once(
    example: str, programs: Path, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """docs/agents/typescript-<framework>.md's program, as a reader runs it (compiled strict): it says where its
    card waits, bob approves, the call runs once, then the agent's answer."""
    worker, key = emailer
    program = await asyncio.create_subprocess_exec(
        *command(programs, example, f"page-{example}"), env=example_env(worker.url, key, tmp_path), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        card = await nth_card(slack, 1, within=90)
        assert "send_email" in block_texts(card) and "bob@example.com" in block_texts(card)
        await told_where_it_waits(program, slack, card)
        await click(slack, card, "approval_approve", user=BOB)
        out, err = await asyncio.wait_for(program.communicate(), 90)
    finally:
        if program.returncode is None:
            program.kill()
            await program.wait()
    assert program.returncode == 0, err.decode()[-3000:]
    said = out.decode().strip().splitlines()
    assert said[0] == "send_email(to='bob@example.com')" and said.count(said[0]) == 1, said
    assert said[-1] in ("Told Bob.", "sent to bob@example.com"), said


async def test_the_langgraph_page_program_killed_while_its_card_waits_finishes_with_thread(
    programs: Path, emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """docs/agents/typescript-langgraph.md's program (its checkpointer a SQLite file) killed with SIGKILL while its
    card waits; run again with THREAD= the thread it printed, it waits on the same card (no second one), and once
    bob approves, the call runs once."""
    worker, key = emailer
    env = example_env(worker.url, key, tmp_path)
    first = await asyncio.create_subprocess_exec(
        *command(programs, "langgraph", "page-langgraph"), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        card = await nth_card(slack, 1, within=90)
        thread = (await told_where_it_waits(first, slack, card))[0].removeprefix("thread ")
    finally:
        first.kill()
        await first.wait()
    second = await asyncio.create_subprocess_exec(
        *command(programs, "langgraph", "page-langgraph"), env={**env, "THREAD": thread}, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await told_where_it_waits(second, slack, card)  # the same card's link
        await click(slack, card, "approval_approve", user=BOB)
        out, err = await asyncio.wait_for(second.communicate(), 90)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    assert second.returncode == 0, err.decode()[-3000:]
    assert out.decode().strip().splitlines() == ["send_email(to='bob@example.com')", "sent to bob@example.com"]
    assert len(card_of(slack)) == 1
