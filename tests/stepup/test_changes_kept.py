"""What the plane keeps of a large file change (#79): a file given whole (`before` / `after`) that Revise does not edit
is kept as its unified diff, not its texts: Redis holds no line of the file outside the hunks (so a secret on an
unchanged line far from the change is never stored, nor shown on the card or the page, whether a detector knows it or
not), a secret inside a hunk is hidden as before, the card, the DM copy, the Home and the signed-in page still show
the change (the page saying unchanged lines are not kept beyond the context), and the receipt's digest is of the
artefact as asked. A file whose `after` Revise may edit keeps its texts (bot/api/service.py `kept_artifact`)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from agent_approvals.artifacts import artifact_sha256, file_change, text_sha256

from bot.api.service import kept_artifact
from bot.core.artifact_edits import EDITABLE_CHARS, editable_artifact
from bot.core.diffs import CONTEXT, file_changes, from_texts
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker, block_texts
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import nth_card, until
from tests.support.homes import dm_cards, home_blocks, open_homes
from tests.support.leaks import leaks, redis_dump
from tests.support.signin import sign_in

CARD = "4111 1111 1111 1111"  # inside a hunk: the detectors hide it
MOTTO = "opensesame-quartz-7731"  # on an unchanged line far from the change: no detector knows it
BEFORE = "".join(f"row{n:04d} = value({n})\n" for n in range(1, 2001)).replace(
    "row0200 = value(200)\n", f"row0200 = '{MOTTO}'\n")
AFTER = (BEFORE.replace("row0010 = value(10)\n", "row0010 = faster(10)\n")
         .replace("row1500 = value(1500)\n", f"row1500 = value(1500)\nCARD = '{CARD}'\n"))
_ROW = re.compile(r"row(\d{4})")


def rows_in_hunks() -> set[int]:
    """The line numbers (before) of every line of the change's hunks."""
    return {line.old for hunk in from_texts("big.py", BEFORE, AFTER).hunks for line in hunk.lines
            if line.old is not None}


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def test_a_large_file_is_kept_as_its_diff_and_no_line_beyond_the_hunks_is_stored_nor_shown(
    stepup: Worker, slack: SlackStandIn, browser: aiohttp.ClientSession, redis_url: str,
) -> None:
    await stepup.services.store.settings.set(SALES, "approvers", BOB, by="operator")
    await stepup.services.store.settings.set(SALES, "deliver", "both", by="operator")
    asked = file_change("src/big.py", BEFORE, AFTER)
    client = Client(stepup, (await new_key(stepup, "editor")).key)
    status, answer = await client.ask(tool_ask(artifacts=[asked]))
    assert status == 201, answer
    assert [item["sha256"] for item in answer["artifacts"]] == [artifact_sha256(asked)]  # what a receipt binds
    assert answer["artifacts"][0]["before_sha256"] == text_sha256(BEFORE)

    kept = await stepup.services.store.approvals.get(answer["id"])
    assert kept is not None
    [item] = kept.artifact_items
    assert item["before"] is None and item["after"] is None and item["context_lines"] == CONTEXT
    assert item["sha256"] == artifact_sha256(asked) and item["before_sha256"] == text_sha256(BEFORE)
    dumped = await redis_dump(redis_url)
    stored_rows = {int(n) for n in _ROW.findall(dumped)}
    assert stored_rows == rows_in_hunks(), sorted(stored_rows ^ rows_in_hunks())
    assert 200 not in stored_rows and MOTTO not in dumped and not leaks(dumped, [CARD])

    card = await nth_card(slack, 1)
    shown = block_texts(card)
    assert "*The change:* +2 −1 in 1 file" in shown and "-row0010 = value(10)\n+row0010 = faster(10)" in shown
    assert "src/big.py · +2 −1" in shown, shown
    await until(lambda: [m for m in dm_cards(slack, BOB) if "+2 −1 in 1 file" in block_texts(m)],
                what="the card's copy in Bob's DM")
    await open_homes(slack, BOB)
    await until(lambda: "+2 −1 in 1 file" in str(home_blocks(slack, BOB)), what="Bob's Home row")

    path = f"/approvals/{answer['id']}/diff"
    await sign_in(browser, stepup.url, path, person=BOB)
    async with browser.get(stepup.url + path, allow_redirects=False) as got:
        assert got.status == 200
        text = await got.text()
    assert "@@ -7,7 +7,7 @@" in text and "@@ -1498,6 +1498,7 @@" in text and "CARD = " in text, text
    assert 'data-testid="context-only"' in text and "unchanged lines beyond them are not kept" in text
    sent = json.dumps([call.args for call in slack.calls()])
    for where in (sent, text):
        assert MOTTO not in where and "row0200" not in where and not leaks(where, [CARD])


def test_a_file_revise_edits_keeps_its_texts_and_a_larger_one_its_diff() -> None:
    small = file_change("a.py", "a = 1\n" * 10, "a = 2\n" + "a = 1\n" * 9)
    assert kept_artifact(small) == {**small, "sha256": artifact_sha256(small)}  # as before: Revise edits it
    assert editable_artifact([kept_artifact(small)]) is not None
    edge = file_change("b.py", "x\n", "y" * EDITABLE_CHARS)
    assert kept_artifact(edge)["after"] == "y" * EDITABLE_CHARS  # Revise edits up to EDITABLE_CHARS
    large = file_change("c.py", BEFORE, AFTER)
    kept = kept_artifact(large)
    assert kept["diff"].startswith("@@ -7,7 +7,7 @@\n") and "row0200" not in kept["diff"]
    assert kept["sha256"] == artifact_sha256(large) and editable_artifact([kept]) is None
    [read] = file_changes(kept)
    whole = from_texts("c.py", BEFORE, AFTER)
    assert read.hunks == whole.hunks and (read.added, read.removed) == (whole.added, whole.removed)
    assert read.context_only and not whole.context_only
    unchanged = kept_artifact(file_change("d.py", BEFORE, BEFORE))  # nothing changed: no line kept, one file read
    assert unchanged["diff"] == "" and [(f.path, f.added, f.removed) for f in file_changes(unchanged)] == [
        ("d.py", 0, 0)]
    new = file_change("e.py", None, AFTER)  # a new or deleted file shows every line: kept as asked
    assert kept_artifact(new) == {**new, "sha256": artifact_sha256(new)}
