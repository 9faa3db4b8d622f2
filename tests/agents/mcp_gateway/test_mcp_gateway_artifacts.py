"""What an MCP tool's call changes, on its card and held to the disk, through the gateway as a process in front of
a real upstream (tests/support/mcp_upstream.py `--mode files`: `write_file` marks its file change in its
inputSchema, `x-artifact`; `save_note` does not, and the gateway's `--artifact` marks it). The API's answer names
the change (the file now and the file as the call writes it); approved, the upstream writes it; the file changed
between the approval and the forward: not forwarded, `isError` with the reason; such a call's card offers no edit
(the gateway forwards the call as made), and an edited change is never forwarded. Files outside `--files` are never
read. The marks themselves (what one must say) are checked without processes."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.artifacts import artifact_sha256, file_change, text_sha256

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import FIXED_ARGUMENTS
from tests.conftest import BOB, Worker, block_texts
from tests.support.api import Client
from tests.support.hitl import click, nth_card
from tests.support.homes import approval_id_of
from tests.support.lazy import lazy
from tests.support.mcp_gateway import over_stdio, text

# the gateway's package imports mcp: imported by the tests that use it, not to collect (tests/support/lazy.py)
gateway_marks = lazy("agent_approvals.mcp_gateway.marks")

NOTE_MARK = '{"kind": "file", "path": "name", "after": "text"}'


async def carried(bot: Worker, key: str, card: dict[str, Any]) -> list[dict[str, Any]]:
    status, answer, _ = await Client(bot, key).call("GET", f"/api/v1/approvals/{approval_id_of(card)}")
    assert status == 200, answer
    found: list[dict[str, Any]] = answer.get("artifacts", [])
    return found


def digest(path: Path, before: str | None, after: str) -> list[dict[str, Any]]:
    """The change to `path` as the API answers it: its path relative to the `--files` directory it is in."""
    return [{"kind": "file", "sha256": artifact_sha256(file_change(path.name, before, after)), "path": path.name,
             "before_sha256": None if before is None else text_sha256(before)}]


@pytest.mark.slow
async def test_a_marked_tools_change_is_on_the_ask_and_written_as_approved(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    notes = tmp_path / "notes.txt"
    notes.write_text("the prices go up in May\n")
    async with over_stdio(bot, key, tmp_path, "--files", str(tmp_path), "--artifact", f"save_note={NOTE_MARK}",
                          mode="files") as gw:
        writing = asyncio.create_task(gw.session.call_tool("write_file", {"path": str(notes),
                                                                          "content": "in June\n"}))
        card = await nth_card(slack, 1, within=30)
        assert await carried(bot, key, card) == digest(notes, "the prices go up in May\n", "in June\n")
        assert FIXED_ARGUMENTS in block_texts(card)  # the gateway forwards the call as made: no edit of its change
        await click(slack, card, "approval_approve", user=BOB)
        written = await asyncio.wait_for(writing, 30)
        assert not written.is_error and notes.read_text() == "in June\n"

        fresh = tmp_path / "fresh.txt"  # unmarked by the upstream, marked by --artifact; a new file
        saving = asyncio.create_task(gw.session.call_tool("save_note", {"name": str(fresh), "text": "hello\n"}))
        card = await nth_card(slack, 2, within=30)
        assert await carried(bot, key, card) == digest(fresh, None, "hello\n")
        await click(slack, card, "approval_approve", user=BOB)
        assert not (await asyncio.wait_for(saving, 30)).is_error and fresh.read_text() == "hello\n"


@pytest.mark.slow
async def test_a_file_changed_after_the_approval_is_not_forwarded(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    bot, key = emailer
    notes = tmp_path / "notes.txt"
    notes.write_text("v1\n")
    async with over_stdio(bot, key, tmp_path, "--files", str(tmp_path), mode="files") as gw:
        writing = asyncio.create_task(gw.session.call_tool("write_file", {"path": str(notes), "content": "v3\n"}))
        card = await nth_card(slack, 1, within=30)
        await asyncio.to_thread(notes.write_text, "v2\n")  # someone else's change, before the click
        await click(slack, card, "approval_approve", user=BOB)
        refused = await asyncio.wait_for(writing, 30)
        assert refused.is_error and text(refused) == (
            "Not run: notes.txt was changed after the approval (its content is not what was approved). Call"
            " write_file again to be asked with the file as it is now.")
        assert gw.calls("write_file") == [] and await asyncio.to_thread(notes.read_text) == "v2\n"
        assert "not forwarded: write_file on mailbox" in gw.logged()


@pytest.mark.slow
async def test_a_file_outside_files_is_never_read(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """Without `--files` (or outside them) the gateway reads no file: the ask carries no change, as for an unmarked
    tool, and the call is asked about as ever."""
    bot, key = emailer
    secret = tmp_path / "secret.txt"
    secret.write_text("xoxb-not-for-slack\n")
    async with over_stdio(bot, key, tmp_path, mode="files") as gw:
        writing = asyncio.create_task(gw.session.call_tool("write_file", {"path": str(secret), "content": "x"}))
        card = await nth_card(slack, 1, within=30)
        assert await carried(bot, key, card) == []
        await click(slack, card, "approval_approve", user=BOB)
        assert not (await asyncio.wait_for(writing, 30)).is_error


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_marks_say_which_argument_holds_what(tmp_path: Path) -> None:
    assert gateway_marks.marks_of({"kind": "command", "command": "cmd"}) == [{"kind": "command", "command": "cmd"}]
    for bad, words in (({"kind": "file", "path": "p"}, "names the arguments of path, after"),
                       ({"kind": "rm"}, "needs a kind"), ({"kind": "query", "sql": ""}, "names an argument"),
                       ({"kind": "query", "sql": "q", "host": "h"}, "not host"), ([], "a list of 1 to 20")):
        with pytest.raises(gateway_marks.BadMark, match=words):
            gateway_marks.marks_of(bad)
    with pytest.raises(gateway_marks.BadMark, match="--artifact 'save_note=nope'"):
        gateway_marks.configured(["save_note=nope"])
    marks = gateway_marks.Marks(gateway_marks.configured([f"save_note={NOTE_MARK}"]), files=[str(tmp_path)])
    schema = {"x-artifact": {"kind": "message", "to": "to", "body": "body"}}
    assert marks.artifacts("send", schema, {"to": ["a@example.com"], "body": "hi"}) == [
        {"kind": "message", "to": ["a@example.com"], "subject": None, "body": "hi"}]
    assert marks.artifacts("send", {"x-artifact": {"kind": "nope"}}, {"to": "a"}) == []  # an upstream's: ignored
    assert marks.artifacts("send", schema, {"to": "a@example.com"}) == []  # no body: no artefact
    assert marks.artifacts("save_note", schema, {"name": str(tmp_path / "n.txt"), "text": "t"}) == [
        file_change("n.txt", None, "t")]  # the gateway's own mark wins; its path relative to --files
    assert json.loads(NOTE_MARK)["kind"] == "file"
    edited = {"kind": "message", "sha256": "0" * 64, "edited": True}
    assert marks.changed([edited], []) == ("the change was edited by its reviewer, and the gateway forwards only the"
                                       " call as made")


@pytest.mark.slow
async def test_a_fifo_under_files_is_refused_at_once_and_the_gateway_serves_on(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """#87: a FIFO (no writer: a read waits for ever) under `--files` is never opened to wait on: each call naming
    it is asked about at once with no change on its ask, and the gateway's other calls go on."""
    bot, key = emailer
    os.mkfifo(tmp_path / "pipe")
    notes = tmp_path / "notes.txt"
    notes.write_text("v1\n")
    async with over_stdio(bot, key, tmp_path, "--files", str(tmp_path), mode="files") as gw:
        calls = [asyncio.create_task(gw.session.call_tool("write_file", {"path": str(tmp_path / "pipe"),
                                                                         "content": f"{n}\n"})) for n in range(8)]
        for n in range(1, len(calls) + 1):
            assert await carried(bot, key, await nth_card(slack, n, within=30)) == []
        writing = asyncio.create_task(gw.session.call_tool("write_file", {"path": str(notes), "content": "v2\n"}))
        card = await nth_card(slack, len(calls) + 1, within=30)
        assert await carried(bot, key, card) == digest(notes, "v1\n", "v2\n")
        await click(slack, card, "approval_approve", user=BOB)
        assert not (await asyncio.wait_for(writing, 30)).is_error and notes.read_text() == "v2\n"
        assert "pipe cannot be read (not a regular file: a FIFO)" in gw.logged()
        for call in calls:
            call.cancel()
