"""The docs' commands and programs run as a reader would paste them, against a real `python -m bot dev`.

The runnable blocks are marked in the Markdown: a fenced block right after `<!-- snippet: NAME -->`. The README's
`quickstart` is three shell lines: start dev mode (here `python -m bot dev --port P` as a subprocess), paste the
`export` lines it printed (the block's own export line stands for them), run an example. Each framework page in
docs/agents/ has one complete Python program, saved and run with those exports. Each asks for one `send_email`,
and bob approves its card in the stand-in, as he would on the page: the call runs once, and the program ends well.
Everything runs offline (scripted models).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port
from tests.support.browser import be, chromium, go, screenshot, workspace_page
from tests.support.dev import APPROVALS, BOB, ROOT, Dev, block_text, dev_environment, has_button, start_dev, wait_until

MARK = re.compile(r"<!-- snippet: ([a-z0-9-]+) -->\n```([a-z]+)\n(.*?)\n```", re.S)
PAGES = sorted((ROOT / "docs" / "agents").glob("*.md"))
RUN_TIMEOUT = 120.0


def snippets(path: Path) -> dict[str, tuple[str, str]]:
    """The marked blocks of a Markdown file: name -> (language, code)."""
    return {name: (language, code) for name, language, code in MARK.findall(path.read_text(encoding="utf-8"))}


FRAMEWORKS = {name: code for page in PAGES for name, (language, code) in snippets(page).items() if language == "python"}


def exports_of(dev: Dev) -> list[str]:
    """The `export AGENT_APPROVALS_…=…` lines dev mode printed (the contract: one each for the URL and the key, and
    the key's webhook secret, for a relay)."""
    lines = [line for line in dev.stdout().splitlines() if line.startswith("export AGENT_APPROVALS_")]
    names = sorted(line.split("=", 1)[0].removeprefix("export ") for line in lines)
    assert names == ["AGENT_APPROVALS_KEY", "AGENT_APPROVALS_URL", "AGENT_APPROVALS_WEBHOOK_SECRET"], (
        "dev mode should print `export AGENT_APPROVALS_URL=…`, `export AGENT_APPROVALS_KEY=…` and"
        f" `export AGENT_APPROVALS_WEBHOOK_SECRET=…`: {dev.stdout()!r}"
    )
    return lines


def reader_environment(workdir: Path) -> dict[str, str]:
    """A reader's shell: no model keys (the programs run offline), no approvals settings of ours."""
    drop = ("AGENT_APPROVALS_URL", "AGENT_APPROVALS_KEY", "APPROVALS_CHANNEL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
            "MODEL_CONFIG", "REDIS_URL", "REDIS_KEY_PREFIX")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "OUTBOX_DIR": str(workdir / "outbox"), "STATE_DIR": str(workdir / "states"),
            "OPENAI_AGENTS_DISABLE_TRACING": "1"}


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    with tempfile.TemporaryDirectory(prefix="test-docs-dev-") as name:
        started = start_dev(free_port(), dev_environment(), Path(name))
        try:
            printed = lambda: "export AGENT_APPROVALS_KEY" in started.stdout()  # noqa: E731
            wait_until(printed, timeout=30, what="dev mode to print its export lines")
            yield started
        finally:
            started.stop()


def approve_as_bob(dev: Dev, program: subprocess.Popen[str], decided: set[str]) -> dict[str, Any]:
    """Wait for the program's card (a new one with buttons, naming bob@example.com), click Approve as bob."""

    def card() -> dict[str, Any] | None:
        if program.poll() is not None:
            out, err = program.communicate()
            raise AssertionError(f"the program ended before its card ({program.returncode}): {out}\n{err}")
        return next((m for m in dev.messages(APPROVALS) if m["ts"] not in decided and not m.get("thread_ts")
                     and has_button(m, "approval_approve") and "bob@example.com" in block_text(m)), None)

    shown = wait_until(card, timeout=RUN_TIMEOUT, what="the program's card in #approvals")
    decided.add(shown["ts"])
    dev.control("click", {"user": BOB, "channel": APPROVALS, "ts": shown["ts"], "action_id": "approval_approve"})
    return shown


def finish(program: subprocess.Popen[str]) -> str:
    try:
        out, err = program.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        program.kill()
        out, err = program.communicate()
        raise AssertionError(f"the program did not end after the approval: {out}\n{err}") from None
    assert program.returncode == 0, f"{out}\n{err[-3000:]}"
    return out


DECIDED: set[str] = set()  # cards clicked in this module's dev mode


@pytest.mark.slow
def test_the_readme_quickstart_connects_an_agent(dev: Dev, tmp_path: Path) -> None:
    language, code = snippets(ROOT / "README.md")["quickstart"]
    lines = [line for line in code.splitlines() if line.strip()]
    assert language == "bash" and len(lines) == 3, code
    start, paste, run = lines
    assert "python -m bot dev" in start  # the first command is dev mode itself (started above with --port)
    assert paste.startswith("export AGENT_APPROVALS_URL=") and "AGENT_APPROVALS_KEY=" in paste
    script = "\n".join(["set -e", *exports_of(dev), run])  # what dev printed, pasted in place of the sample line
    program = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=reader_environment(tmp_path), text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        card = approve_as_bob(dev, program, DECIDED)
        out = finish(program)
    finally:
        if program.poll() is None:
            program.kill()
            program.communicate()
    assert "(OpenAI Agents SDK)" in block_text(card) and "send_email" in block_text(card)
    emails = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    assert [e["to"] for e in emails] == ["bob@example.com"], out
    assert out.strip(), "the example prints what was decided and the agent's answer"


def test_every_framework_page_has_one_marked_program() -> None:
    pages = {page.stem for page in PAGES if any(lang == "python" for lang, _ in snippets(page).values())}
    assert pages >= {"autogen", "openai-agents", "langgraph", "pydantic-ai", "agent-framework", "claude-agent-sdk",
                     "google-adk"}, pages


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FRAMEWORKS))
def test_each_framework_page_program_runs_an_approved_call(name: str, dev: Dev, tmp_path: Path) -> None:
    program_file = tmp_path / "mailer.py"
    program_file.write_text(FRAMEWORKS[name], encoding="utf-8")
    env = reader_environment(tmp_path)
    for line in exports_of(dev):  # the reader's `export …` lines
        key, value = shlex.split(line)[1].split("=", 1)
        env[key] = value
    program = subprocess.Popen([sys.executable, str(program_file)], cwd=tmp_path, env=env, text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        card = approve_as_bob(dev, program, DECIDED)
        out = finish(program)
    finally:
        if program.poll() is None:
            program.kill()
            program.communicate()
    assert "send_email" in block_text(card), block_text(card)
    assert out.count("send_email(to='bob@example.com')") == 1, out  # the approved call ran, once
    assert "bob@example.com" in out.split("send_email(to='bob@example.com')", 1)[1], out  # then the answer


@pytest.mark.slow
def test_the_readme_quickstart_with_bob_clicking_on_the_page(dev: Dev, tmp_path: Path) -> None:
    """The same three commands, and a person on the dev page (Chromium): switch to bob, open #approvals, click
    Approve on the program's card. The program gets the decision and the approved call runs once."""
    _, code = snippets(ROOT / "README.md")["quickstart"]
    run = [line for line in code.splitlines() if line.strip()][2]
    script = "\n".join(["set -e", *exports_of(dev), run])
    program = subprocess.Popen(["bash", "-c", script], cwd=ROOT, env=reader_environment(tmp_path), text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with chromium() as browser, workspace_page(browser, dev) as page:
            be(page, "bob")
            go(page, "approvals")
            card = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text="bob@example.com")
            approve = card.get_by_test_id("button-approval_approve")
            expect(approve.last).to_be_visible(timeout=RUN_TIMEOUT * 1000)
            screenshot(page, "quickstart-card.png")
            approve.last.click()
            expect(card.last).to_contain_text("Approved by @bob")
            screenshot(page, "quickstart-approved.png")
        out = finish(program)
    finally:
        if program.poll() is None:
            program.kill()
            program.communicate()
    emails = [json.loads(p.read_text()) for p in (tmp_path / "outbox").glob("*.json")]
    assert [e["to"] for e in emails] == ["bob@example.com"], out
    assert "approved by @bob" in out, out
