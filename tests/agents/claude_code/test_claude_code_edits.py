"""Claude Code's calls as artefacts (`agent_approvals.claude_code.edits.sourced`): each file tool's change computed
against the file on disk as Claude Code 2.1 applies it (its FileEditTool's rules), a Bash call as its command, and
no change made up where an edit does not apply (the card's title says why); the bot's HTTP hook reading no file
outside CLAUDE_CODE_FILES. The real CLI applying the same edit is in test_claude_code_diffs.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.artifacts import command, file_change, file_diff, text_sha256, under
from agent_approvals.claude_code.edits import BUDGET, Sourced, sourced
from agent_approvals.claude_code.hook import decide

from bot.devslack.server import SlackStandIn
from tests.conftest import Worker, block_texts
from tests.support.api import Client
from tests.support.hitl import nth_card
from tests.support.homes import approval_id_of


def edit(path: Path, old: str, new: str, **more: object) -> dict[str, object]:
    return {"file_path": str(path), "old_string": old, "new_string": new, **more}


def test_an_edit_is_the_file_now_and_the_file_with_the_edit(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("the prices go up in May\nsee May's list\n")
    found = sourced("Edit", edit(notes, "up in May", "up in June"), cwd=str(tmp_path))
    assert found.note == ""
    assert found.artifacts == [file_change("notes.txt", "the prices go up in May\nsee May's list\n",
                                           "the prices go up in June\nsee May's list\n")]
    every = sourced("Edit", edit(notes, "May", "June", replace_all=True), cwd=str(tmp_path))
    assert every.artifacts[0]["after"] == "the prices go up in June\nsee June's list\n"


def test_claude_codes_own_rules_deletion_crlf_and_curly_quotes(tmp_path: Path) -> None:
    """An empty new_string also takes the line break after old_string; a CRLF file stays CRLF; straight quotes in
    old_string find the file's curly ones, and the new text gets them too."""
    lines = tmp_path / "lines.txt"
    lines.write_text("one\ntwo\nthree\n")
    assert sourced("Edit", edit(lines, "two", ""), cwd=str(tmp_path)).artifacts[0]["after"] == "one\nthree\n"
    windows = tmp_path / "win.txt"
    windows.write_bytes(b"one\r\ntwo\r\n")
    [change] = sourced("Edit", edit(windows, "one\ntwo", "one\nand two"), cwd=str(tmp_path)).artifacts
    assert change["before"] == "one\r\ntwo\r\n" and change["after"] == "one\r\nand two\r\n"
    assert change["before_sha256"] == text_sha256(windows.read_bytes().decode())
    quoted = tmp_path / "quoted.md"
    quoted.write_text("She said \u201chello\u201d.\n")
    [curly] = sourced("Edit", edit(quoted, 'said "hello"', 'said "goodbye"'), cwd=str(tmp_path)).artifacts
    assert curly["after"] == "She said \u201cgoodbye\u201d.\n"


def test_a_write_of_a_missing_path_is_a_new_file_and_of_an_existing_one_its_replacement(tmp_path: Path) -> None:
    new = sourced("Write", {"file_path": str(tmp_path / "src" / "app.py"), "content": "print(1)\n"},
                  cwd=str(tmp_path))
    assert new.artifacts == [file_change("src/app.py", None, "print(1)\n")]
    (tmp_path / "old.txt").write_text("old\n")
    assert sourced("Write", {"file_path": "old.txt", "content": "new\n"}, cwd=str(tmp_path)).artifacts == [
        file_change("old.txt", "old\n", "new\n")]
    fresh = sourced("Edit", edit(tmp_path / "fresh.txt", "", "hello\n"), cwd=str(tmp_path))
    assert fresh.artifacts[0]["before"] is None


def test_an_edit_that_does_not_apply_says_why_and_makes_nothing_up(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("a\na\n")
    missing = sourced("Edit", edit(notes, "zzz", "y"), cwd=str(tmp_path))
    assert missing.artifacts == [] and missing.note == "old_string not found in notes.txt"
    twice = sourced("Edit", edit(notes, "a", "b"), cwd=str(tmp_path))
    assert twice.artifacts == [] and twice.note == "old_string found 2 times (replace_all is false) in notes.txt"
    assert sourced("Edit", edit(tmp_path / "gone.txt", "x", "y"), cwd=str(tmp_path)).note == (
        "the file does not exist: old_string not found in gone.txt")
    (tmp_path / "bin").write_bytes(b"\xff\x00\xfe")
    binary = sourced("Write", {"file_path": str(tmp_path / "bin"), "content": "x"}, cwd=str(tmp_path))
    assert "not UTF-8 text" in binary.note


def test_a_multi_edit_applies_in_order_and_a_notebook_edit_to_its_json(tmp_path: Path) -> None:
    code = tmp_path / "app.py"
    code.write_text("x = 1\ny = 2\n")
    [change] = sourced("MultiEdit", {"file_path": str(code), "edits": [
        {"old_string": "x = 1", "new_string": "x = 10"}, {"old_string": "y = 2", "new_string": "y = x"}]},
        cwd=str(tmp_path)).artifacts
    assert change["after"] == "x = 10\ny = x\n"
    notebook = tmp_path / "nb.ipynb"
    cells = [{"cell_type": "code", "id": "c1", "source": "1+1", "metadata": {}, "execution_count": 3,
              "outputs": [{"output_type": "execute_result"}]}]
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1))
    [cell] = sourced("NotebookEdit", {"notebook_path": str(notebook), "cell_id": "c1", "new_source": "2+2"},
                     cwd=str(tmp_path)).artifacts
    assert json.loads(cell["after"])["cells"] == [{"cell_type": "code", "id": "c1", "source": "2+2", "metadata": {},
                                                   "execution_count": None, "outputs": []}]
    assert cell["after"].startswith('{\n "cells": [\n  {\n')  # written back with one space of indent


def test_bash_is_its_command_and_other_tools_have_no_artefact(tmp_path: Path) -> None:
    assert sourced("Bash", {"command": "npm publish"}, cwd="/home/me/shop-api").artifacts == [
        command("npm publish", "/home/me/shop-api")]
    assert sourced("Read", {"file_path": str(tmp_path)}).artifacts == []


def test_a_change_too_large_for_one_ask_is_a_diff(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    before = "".join(f"line {n}\n" for n in range(BUDGET // 8))
    big.write_text(before)
    [change] = sourced("Edit", edit(big, "line 7\n", "line seven\n"), cwd=str(tmp_path)).artifacts
    assert change == file_diff("big.txt", change["diff"], text_sha256(before))
    assert "-line 7\n+line seven\n" in change["diff"] and change["diff"].startswith("--- a/big.txt\n+++ b/big.txt\n")


def test_may_read_keeps_the_reader_to_its_directories(tmp_path: Path) -> None:
    """The bot's HTTP hook reads only under CLAUDE_CODE_FILES: elsewhere (its own files, /proc) nothing, and a
    symbolic link out of the directory is read as where it leads."""
    project, other = tmp_path / "project", tmp_path / "secret"
    project.mkdir()
    other.mkdir()
    (other / "token.txt").write_text("xoxb-secret\n")
    (project / "notes.txt").write_text("a\n")
    os.symlink(other / "token.txt", project / "link.txt")
    allowed = under((str(project),))
    assert sourced("Edit", edit(project / "notes.txt", "a", "b"), cwd=str(project), may_read=allowed).artifacts
    for path in (other / "token.txt", project / "link.txt", Path("/proc/self/environ")):
        found = sourced("Edit", edit(path, "x", "y"), cwd=str(project), may_read=allowed)
        assert found.artifacts == [] and found.note == "", path
    assert sourced("Edit", edit(project / "notes.txt", "a", "b"), cwd=str(project), may_read=under(())).artifacts == []


def test_only_a_regular_file_in_the_project_is_read(tmp_path: Path) -> None:
    """#87: a file outside the project (an artefact's path is relative to it) shows no change, saying so; a FIFO
    (no writer: reading it would wait for ever) or a device is refused at once, saying what it is."""
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "elsewhere.txt").write_text("a\n")
    outside = sourced("Edit", edit(tmp_path / "elsewhere.txt", "a", "b"), cwd=str(project))
    assert outside.artifacts == []
    assert outside.note == f"no diff shown: {tmp_path / 'elsewhere.txt'} is outside the project"
    assert sourced("Edit", edit(tmp_path / "elsewhere.txt", "a", "b")).note.endswith("is outside the project")  # no cwd
    os.mkfifo(project / "pipe")
    os.symlink("/dev/zero", project / "zero")
    assert sourced("Write", {"file_path": "pipe", "content": "x"}, cwd=str(project)) == Sourced(
        note="pipe cannot be read (not a regular file: a FIFO)")
    assert sourced("Write", {"file_path": "zero", "content": "x"}, cwd=str(project)).note == (
        "no diff shown: zero is outside the project")  # the link leads out of it: never opened


def hook_input(tool: str, arguments: dict[str, object], cwd: Path) -> dict[str, object]:
    return {"session_id": "s-edits", "cwd": str(cwd), "hook_event_name": "PreToolUse", "tool_name": tool,
            "tool_input": arguments}


@pytest.mark.slow
async def test_an_edit_that_does_not_apply_is_asked_about_saying_why(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """Through the hook's own core, against a real worker: the card's title says why there is no change, and the
    ask carries none."""
    bot, key = emailer
    project = tmp_path / "shop-api"
    project.mkdir()
    (project / "notes.txt").write_text("the prices go up in May\n")
    payload = hook_input("Edit", edit(project / "notes.txt", "in April", "in June"), project)
    async with ApprovalsClient(bot.url, key) as client:
        decided = await decide(client, payload, wait=0.5)
    assert decided["hookSpecificOutput"]["permissionDecision"] == "deny"  # still waiting: deny-then-grant
    card = await nth_card(slack, 1)
    assert "Claude Code: Edit in shop-api: old_string not found in notes.txt" in block_texts(card)
    status, answer, _ = await Client(bot, key).call("GET", f"/api/v1/approvals/{approval_id_of(card)}")
    assert status == 200 and "artifacts" not in answer, answer


@pytest.mark.slow
async def test_the_http_hook_reads_no_file_outside_claude_code_files(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """The worker names no CLAUDE_CODE_FILES: a hook input naming one of its files (or any) gets a card with the
    arguments alone, and the file's text goes nowhere."""
    bot, key = emailer
    secret = tmp_path / "bot.env"
    secret.write_text("SLACK_BOT_TOKEN=xoxb-0000-never-on-a-card\n")
    payload = hook_input("Edit", edit(secret, "SLACK", "X"), tmp_path)
    status, body, _ = await Client(bot, key).call("POST", "/api/v1/hooks/claude-code?wait=0.5", body=payload)
    assert status == 200 and body["hookSpecificOutput"]["permissionDecision"] == "deny", body
    card = await nth_card(slack, 1)
    status, answer, _ = await Client(bot, key).call("GET", f"/api/v1/approvals/{approval_id_of(card)}")
    assert status == 200 and "artifacts" not in answer, answer
    record = await bot.services.store.approvals.get(approval_id_of(card))
    assert record is not None and record.artifacts == "" and "never-on-a-card" not in block_texts(card)
