"""The change on the card and on the bot's page (#79 items 2): a program asks to edit a 2,000-line file with a secret
in the diff; the card (and its DM copy, the Home row, the decided card) says `+n −m`, shows the first hunk and links
`/approvals/{id}/diff`; every Block Kit payload is valid; the page, after Sign in with Slack, shows each file's path
and hunks with line numbers, unified and side by side, and what was cut; an unknown id is a 404, a person who may not
see the approval a 403 (audited); the secret is in none of them, nor in Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from agent_approvals.artifacts import command, file_change

from bot.core.diffs import message_words
from bot.core.templates import render
from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from bot.stepup.changes_page import PAGE_LINES, shown_of
from tests.conftest import ALICE, BOB, CAROL, SALES, Worker, block_texts
from tests.support.api import Client, new_key, tool_ask
from tests.support.blockkit import tool_call
from tests.support.hitl import nth_card, reject, until
from tests.support.homes import dm_cards, home_blocks, open_homes
from tests.support.leaks import redis_dump
from tests.support.signin import sign_in
from tests.support.stepup import ORIGIN

SECRET = "4111 1111 1111 1111"  # a card number: the detectors hide it
BEFORE = "".join(f"line {n}\n" for n in range(1, 2001))
AFTER = BEFORE.replace("line 10\n", f"line ten\nCARD = '{SECRET}'\n").replace("line 1500\n", "")


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def page(browser: aiohttp.ClientSession, worker: Worker, path: str) -> tuple[int, str, dict[str, str]]:
    async with browser.get(worker.url + path, allow_redirects=False) as answer:
        return answer.status, await answer.text(), dict(answer.headers)


def every_payload_valid(slack: SlackStandIn) -> None:
    for call in slack.calls():
        if call.method in ("chat.postMessage", "chat.update") and call.args.get("blocks"):
            assert validate_blocks(call.args["blocks"]) is None, (call.method, validate_blocks(call.args["blocks"]))
        if call.method == "views.publish":
            assert validate_blocks(call.args["view"]["blocks"], max_blocks=100, surface="home") is None


async def test_a_2000_line_edit_shows_on_the_card_the_home_a_dm_and_the_signed_in_page(
    stepup: Worker, slack: SlackStandIn, browser: aiohttp.ClientSession, redis_url: str,
) -> None:
    await stepup.services.store.settings.set(SALES, "approvers", BOB, by="operator")
    await stepup.services.store.settings.set(SALES, "deliver", "both", by="operator")
    client = Client(stepup, (await new_key(stepup, "editor")).key)
    status, answer = await client.ask(tool_ask(artifacts=[file_change("src/big.py", BEFORE, AFTER),
                                                          command("make test", cwd="/srv")]))
    assert status == 201, answer
    approval_id = answer["id"]
    card = await nth_card(slack, 1)
    shown = block_texts(card)
    assert "*The change:* +2 −2 in 1 file · 1 command" in shown, shown
    assert "@@ -7,7 +7,8 @@" in shown and "-line 10\n+line ten" in shown and "src/big.py · +2 −2" in shown
    link = f"<{ORIGIN}/approvals/{approval_id}/diff|See the whole change>"
    assert link in shown and "make test" in shown and "@@ -1497" not in shown
    copy = await until(lambda: [m for m in dm_cards(slack, BOB) if link in block_texts(m)],
                       what="the card's copy in Bob's DM")
    assert "+2 −2 in 1 file · 1 command" in str(copy)
    await open_homes(slack, BOB)
    await until(lambda: "+2 −2 in 1 file · 1 command" in str(home_blocks(slack, BOB)), what="Bob's Home row")

    path = f"/approvals/{approval_id}/diff"
    called = await sign_in(browser, stepup.url, path, person=BOB)
    assert called.status == 302 and called.headers["Location"] == path
    status, text, headers = await page(browser, stepup, path)
    assert status == 200 and headers["Cache-Control"] == "no-store", text
    assert "src/big.py" in text and "+2 −2 in 1 file · 1 command" in text and "@@ -1497,7 +1498,6 @@" in text
    assert '<td class="num" data-testid="old">10</td><td class="num" data-testid="new"></td>' in text
    assert "make test" in text and "/srv" in text
    status, split, _ = await page(browser, stepup, path + "?view=split")
    assert status == 200 and split.count('data-testid="row"') > 10 and 'data-testid="split"' in split

    await reject(slack, card, user=BOB, reason="not now")
    decided = await until(lambda: [m for m in slack.messages(card["channel"]) if m.get("ts") == card["ts"]
                                   and "Rejected" in block_texts(m) and link in block_texts(m)],
                          what="the decided card with its change")
    assert "+2 −2 in 1 file · 1 command" in block_texts(decided[-1])
    assert (await page(browser, stepup, path))[0] == 200  # decided, still shown to who may see it

    every_payload_valid(slack)
    assert not any(SECRET in str(call.args) for call in slack.calls())
    assert SECRET not in text and SECRET not in split
    assert SECRET not in await redis_dump(redis_url)


async def test_an_unknown_id_is_a_404_and_one_who_may_not_see_it_a_403_audited(
    stepup: Worker, slack: SlackStandIn, browser: aiohttp.ClientSession,
) -> None:
    await stepup.services.store.settings.set(SALES, "approvers", BOB, by="operator")
    client = Client(stepup, (await new_key(stepup, "editor")).key)
    status, answer = await client.ask(tool_ask(artifacts=[file_change("a.txt", "a\n", "b\n")]))
    assert status == 201, answer
    await nth_card(slack, 1)
    path = f"/approvals/{answer['id']}/diff"
    async with browser.get(stepup.url + path, allow_redirects=False) as signed_out:
        assert signed_out.status == 302 and "/openid/connect/authorize" in signed_out.headers["Location"]
    await sign_in(browser, stepup.url, path, person=CAROL)
    status, text, _ = await page(browser, stepup, path)
    assert status == 403 and "You may not see this approval" in text and "a.txt" not in text
    refused = [e for e in await stepup.services.store.audit.entries() if e["event"] == "refused"]
    assert [(e["by"], e["approval"]) for e in refused] == [(CAROL, answer["id"])]
    status, text, _ = await page(browser, stepup, "/approvals/no-such-approval/diff")
    assert status == 404 and "There is no approval with this id" in text
    browser.cookie_jar.clear()
    await sign_in(browser, stepup.url, path, person=ALICE)  # the requester sees what was asked for her
    assert (await page(browser, stepup, path))[0] == 200


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
def test_the_page_says_what_it_cut_and_shows_both_views_with_line_numbers() -> None:
    big = "".join(f"old {n}\n" for n in range(1, 15_001))
    artifacts: list[dict[str, Any]] = [
        {"kind": "file", "path": "a.txt", "before": big, "after": big.replace("old", "new")},
        {"kind": "file", "path": "b.txt", "before": "x\n", "after": "y\n"},
        {"kind": "message", "to": ["a@x.org"], "subject": "<b>hi</b>", "body": "<script>x</script>"}]
    approval = replace(tool_call(), artifacts=json.dumps([{**a, "sha256": "0" * 64} for a in artifacts]))
    unified = render("changes/diff.html", shown=shown_of(approval, "unified"), words=message_words, nonce="n",
                     sign_out="/signin/logout")
    assert "+15,001 −15,001 in 2 files · email to 1 person" in unified
    assert unified.count('data-testid="line"') == PAGE_LINES
    assert "… 10,000 more lines of this file's diff are not shown" in unified and "… 1 more files" in unified
    assert "&lt;script&gt;x&lt;/script&gt;" in unified and "<script>" not in unified
    split = render("changes/diff.html", shown=shown_of(approval, "split"), words=message_words, nonce="n",
                   sign_out="/signin/logout")
    assert split.count('data-testid="row"') == 15_000  # the 20,000 lines kept: 15,000 removed beside 5,000 added
    assert '<td class="num" data-testid="old">1</td><td class="del">old 1</td>' in split


async def test_the_page_shows_direction_controls_and_invisible_spaces_as_what_they_are(
    stepup: Worker, slack: SlackStandIn, browser: aiohttp.ClientSession,
) -> None:
    """#87: a path that would read reversed, and lines with an isolate and a zero-width space, are shown with each of
    those characters written out (`<U+202E>`), on the page fetched as Bob; none of them is on it raw."""
    client = Client(stepup, (await new_key(stepup, "editor")).key)
    path = "src/invoice\u202etxt.exe"
    after = "ok = True\nrole = '\u2066admin\u2069'\nkey = 'a\u200bb'\n"
    status, answer = await client.ask(tool_ask(artifacts=[file_change(path, "ok = True\n", after),
                                                          command("rm -rf /tmp/\u202eplan", cwd="/srv")]))
    assert status == 201, answer
    diff = f"/approvals/{answer['id']}/diff"
    await sign_in(browser, stepup.url, diff, person=BOB)
    for view in ("", "?view=split"):
        code, text, _ = await page(browser, stepup, diff + view)
        assert code == 200, text
        assert "src/invoice&lt;U+202E&gt;txt.exe" in text, text
        assert "&lt;U+2066&gt;admin&lt;U+2069&gt;" in text and "a&lt;U+200B&gt;b" in text
        assert "rm -rf /tmp/&lt;U+202E&gt;plan" in text
        assert not [c for c in "\u202e\u2066\u2069\u200b" if c in text], view
