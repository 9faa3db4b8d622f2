"""Claude Code's own edits arrive as their change, and run only on the file as approved, as a user runs it: the real
`claude` CLI (headless, `-p`) with our hook installed (the command hook, and the bot's HTTP hook), its model the
fake Messages API (a Read, then an Edit), a real worker and the Slack stand-in. The API's answer names the change
the ask carries (its digest: the file now, and the file with the edit); approved, Claude Code writes exactly that;
the file changed between the approval and the run: not edited, denied with the reason, and asked again with the
file as it is now, whose approval then runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.artifacts import artifact_sha256, file_change, text_sha256
from agent_approvals.claude_code.edits import sourced

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker, block_texts, bot_env, start_worker
from tests.support.api import Client
from tests.support.claude_code import Claude, claude
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.hitl import click, nth_card
from tests.support.homes import approval_id_of

pytestmark = pytest.mark.slow  # the real `claude` CLI (node)

BEFORE = "the prices go up in May\nsee the list\n"
CHANGED = BEFORE + "and the tax goes up too\n"  # someone else's change, after the approval


@pytest.fixture
async def model() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def worker(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Worker, str]]:
    """A worker whose HTTP hook may read the files under `tmp_path` (CLAUDE_CODE_FILES), and a key for #sales."""
    bot = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                     CLAUDE_CODE_FILES=str(tmp_path)))
    slack.events_url = bot.url + "/slack/events"
    made = await bot.services.store.api_keys.create("coder", [SALES], by=BOB)
    assert made is not None
    yield bot, made.key
    await bot.stop()


def project_with_notes(cli: Claude) -> tuple[Path, dict[str, Any]]:
    notes = cli.project / "notes.txt"
    notes.write_text(BEFORE)
    return notes, {"file_path": str(notes), "old_string": "in May", "new_string": "in June"}


async def carried(bot: Worker, key: str, card: dict[str, Any]) -> list[dict[str, Any]]:
    """The artefacts the API answers for the approval `card` shows."""
    status, answer, _ = await Client(bot, key).call("GET", f"/api/v1/approvals/{approval_id_of(card)}")
    assert status == 200, answer
    found: list[dict[str, Any]] = answer.get("artifacts", [])
    return found


def digest(before: str, after: str) -> list[dict[str, Any]]:
    change = file_change("notes.txt", before, after)
    return [{"kind": "file", "sha256": artifact_sha256(change), "path": "notes.txt",
             "before_sha256": text_sha256(before)}]


async def edit_approved_and_applied(bot: Worker, key: str, slack: SlackStandIn, cli: Claude) -> None:
    notes, edit = project_with_notes(cli)
    running = asyncio.create_task(cli.run(("Read", {"file_path": str(notes)}), ("Edit", edit)))
    card = await nth_card(slack, 1, within=60)
    assert "Claude Code: Edit in shop-api: " in block_texts(card)
    after = BEFORE.replace("in May", "in June")
    assert await carried(bot, key, card) == digest(BEFORE, after)  # the file now, and with the edit
    assert notes.read_text() == BEFORE
    await click(slack, card, "approval_approve", user=BOB)
    done = await running
    assert not done.told[1]["error"], done.told
    assert notes.read_text() == after  # Claude Code wrote exactly the change that was approved


async def file_changed_after_the_approval(bot: Worker, key: str, slack: SlackStandIn, cli: Claude) -> None:
    notes, edit = project_with_notes(cli)
    first = await _first_denied(slack, cli, notes, edit)
    second = await nth_card(slack, 2, within=30)  # asked again, with the file as it is now
    after = CHANGED.replace("in May", "in June")
    assert await carried(bot, key, second) == digest(CHANGED, after)
    await click(slack, second, "approval_approve", user=BOB)
    retry = await cli.run(("Read", {"file_path": str(notes)}), ("Edit", edit), resume=first)
    assert not retry.told[1]["error"], retry.told
    assert notes.read_text() == after


async def _first_denied(slack: SlackStandIn, cli: Claude, notes: Path, edit: dict[str, Any]) -> str:
    """The Edit asked, the file changed, the card approved: the edit is denied with the reason; the session."""
    running = asyncio.create_task(cli.run(("Read", {"file_path": str(notes)}), ("Edit", edit)))
    card = await nth_card(slack, 1, within=60)
    await asyncio.to_thread(notes.write_text, CHANGED)
    await click(slack, card, "approval_approve", user=BOB)
    done = await running
    told = done.told[1]
    assert told["error"] and "notes.txt was changed after the approval" in told["text"], told
    assert "Asked again in Slack with the file as it is now" in told["text"]
    assert await asyncio.to_thread(notes.read_text) == CHANGED  # not edited
    return done.session


HOOKS = {"command": (), "http": ("--http",)}


def installed(tmp_path: Path, model: FakeAnthropic, bot: Worker, key: str, hook: str) -> Claude:
    """The CLI with the command hook, or the bot's HTTP hook, asking about Edit."""
    http = (*HOOKS[hook], bot.url) if hook == "http" else ()
    return claude(tmp_path, model, bot.url, key, *http, "--wait", "30", "--matcher", "Edit")


@pytest.mark.parametrize("hook", HOOKS)
async def test_an_approved_edit_carries_its_change_and_claude_code_writes_exactly_it(
    worker: tuple[Worker, str], slack: SlackStandIn, model: FakeAnthropic, tmp_path: Path, hook: str
) -> None:
    bot, key = worker
    await edit_approved_and_applied(bot, key, slack, installed(tmp_path, model, bot, key, hook))


@pytest.mark.parametrize("hook", HOOKS)
async def test_a_file_changed_after_the_approval_is_not_edited_and_is_asked_again(
    worker: tuple[Worker, str], slack: SlackStandIn, model: FakeAnthropic, tmp_path: Path, hook: str
) -> None:
    bot, key = worker
    await file_changed_after_the_approval(bot, key, slack, installed(tmp_path, model, bot, key, hook))


async def test_the_change_on_the_ask_is_what_claude_code_writes(model: FakeAnthropic, tmp_path: Path) -> None:
    """`edits.sourced`, computed before each call, against what the real CLI then writes (no hook: the project's
    settings accept edits): Claude Code's own rules (an empty new_string taking its line break, replace_all, a
    CRLF file, curly quotes found by straight ones, a notebook's cell replaced, a Write of a new file)."""
    project, home = tmp_path / "shop-api", tmp_path / "home"
    (project / ".claude").mkdir(parents=True)
    home.mkdir()
    (project / ".claude" / "settings.json").write_text(json.dumps({"permissions": {"defaultMode": "acceptEdits"}}))
    cli = Claude(project=project, home=home, model_url=model.url, bot_url="http://127.0.0.1:9", key="-")
    files = {"lines.txt": b"one\ntwo\nthree\n", "all.txt": b"May, May, May\n", "win.txt": b"one\r\ntwo\r\n",
             "quoted.md": "She said \u201chello\u201d.\n".encode()}
    edits: list[tuple[Any, ...]] = [("lines.txt", "two", ""), ("all.txt", "May", "June", True),
                                    ("win.txt", "one\ntwo", "one\nand two"),
                                    ("quoted.md", 'said "hello"', 'said "goodbye"')]
    calls: list[tuple[str, dict[str, Any]]] = []
    expected = {}
    for name, content in files.items():
        (project / name).write_bytes(content)
    for name, old, new, *every in edits:
        arguments = {"file_path": str(project / name), "old_string": old, "new_string": new,
                     **({"replace_all": True} if every else {})}
        [change] = sourced("Edit", arguments, cwd=str(project)).artifacts
        expected[name] = change["after"]
        calls += [("Read", {"file_path": str(project / name)}), ("Edit", arguments)]
    notebook = {"cells": [{"cell_type": "code", "execution_count": 2, "id": "c1", "metadata": {},
                           "outputs": [{"output_type": "stream", "name": "stdout", "text": ["4\n"]}],
                           "source": ["print(2 + 2)"]}], "metadata": {"language_info": {"name": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    (project / "nb.ipynb").write_text(json.dumps(notebook, indent=1))
    cell = {"notebook_path": str(project / "nb.ipynb"), "cell_id": "c1", "new_source": "print(3 + 3)"}
    [notebook_change] = sourced("NotebookEdit", cell, cwd=str(project)).artifacts
    write = {"file_path": str(project / "src" / "new.py"), "content": "print('new')\n"}
    [created] = sourced("Write", write, cwd=str(project)).artifacts
    assert created["before"] is None
    done = await cli.run(*calls, ("Read", {"file_path": str(project / "nb.ipynb")}), ("NotebookEdit", cell),
                         ("Write", write))
    assert not any(told["error"] for told in done.told), done.told
    for name, after in expected.items():
        assert (project / name).read_bytes().decode() == after, name
    assert (project / "src" / "new.py").read_text() == created["after"]
    assert (project / "nb.ipynb").read_text() == notebook_change["after"]
