"""Reveal (bot/stepup/reveal.py): "Show hidden values" (action `reveal`) on a card whose call carries a card number
answers a reviewer who may decide with a one-time link; its page, after Sign in with Slack as them, shows the value
once (no-store) and audits who saw which fields of which approval. Another person signed in, a person of another
team and one who may not decide (the requester) are refused, audited; the reveal sends Slack no value. A value
policy.yaml's `redact:` names is revealed too, and nothing once the approval ended (its values dropped)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devslack.model import DevUser
from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import ACTION_REVEAL
from tests.conftest import ALICE, BOB, CAROL, Worker, block_texts
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import nth_card, reject, until
from tests.support.signin import sign_in
from tests.support.signing import signing_worker
from tests.support.stepup import ORIGIN

CARD = "4111111111111111"
TAX_ID = "TX-55-0192-8841"
LINK = re.compile(r"<(http://localhost:8999/reveal/[A-Za-z0-9_-]+)\|")
PARTNER = DevUser(id="U0ZED", name="zed", real_name="Zed Partner", team_id="T0PARTNER")


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def asked_with_a_card(worker: Worker, slack: SlackStandIn) -> tuple[str, dict[str, Any]]:
    client = Client(worker, (await new_key(worker, "refunds")).key)
    status, answer = await client.ask(tool_ask(tool={"name": "refund", "arguments": {
        "order": "A-77", "card": {"number": CARD}, "amount": 12}}))
    assert status == 201, answer
    return str(answer["id"]), await nth_card(slack, 1)


async def show_hidden(slack: SlackStandIn, user: str, card: dict[str, Any], approval_id: str) -> str:
    """`user` clicks "Show hidden values" on `card`; what they are told."""
    before = len(slack.ephemerals(user))
    result = await slack.click(user=user, channel=card["channel"], ts=card["ts"], action_id=ACTION_REVEAL)
    assert result.status == 200
    told = await slack.wait_for(lambda: slack.ephemerals(user)[before:], description=f"{user}'s answer")
    return str(told[-1]["text"])


def sent_since(slack: SlackStandIn, posted: int) -> list[Any]:
    """The Slack calls since the card was posted, but the card's own redraws (which show the redacted arguments)."""
    return [call for call in slack.calls()[posted:] if call.method != "chat.update"]


async def audited(worker: Worker, event: str) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == event]


async def test_a_reviewer_sees_the_hidden_value_once_after_signing_in_and_it_is_audited(
    stepup: Worker, slack: SlackStandIn, browser: aiohttp.ClientSession,
) -> None:
    approval_id, card = await asked_with_a_card(stepup, slack)
    posted = len(slack.calls())
    told = await show_hidden(slack, BOB, card, approval_id)
    link = LINK.search(told)
    assert link, told
    path = link.group(1).removeprefix(ORIGIN)
    assert not await audited(stepup, "revealed")  # a link is not a view

    called = await sign_in(browser, stepup.url, path, person=BOB)
    assert called.status == 302 and called.headers["Location"] == path
    async with browser.get(stepup.url + path, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 200 and page.headers["Cache-Control"] == "no-store", text
        assert CARD in text and "card.number" in text and 'http-equiv="refresh"' in text
    assert [(e["by"], e["approval"], e["fields"]) for e in await audited(stepup, "revealed")] == [
        (BOB, approval_id, "card.number")]
    async with browser.get(stepup.url + path, allow_redirects=False) as again:
        assert again.status == 410 and CARD not in await again.text()  # once
    seen = await slack.wait_for(lambda: [m for m in slack.messages(card["channel"]) if m.get("ts") == card["ts"]
                                         and "Hidden values seen by <@U0BOB>" in str(m.get("blocks"))],
                                description="the card saying who saw the values")
    assert seen
    assert not any(CARD in str(call.args) for call in sent_since(slack, posted))  # the reveal sends Slack no value
    assert not any(CARD in str(call.args) for call in slack.calls())  # nor did anything else (#68 item 2)


async def test_reveal_shows_what_policy_yaml_redacts_and_nothing_once_the_approval_ended(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, browser: aiohttp.ClientSession,
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "policy.yaml").write_text("redact:\n  refund:\n    - customer.tax_id\n")
    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json", STEP_UP_URL=ORIGIN,
                                  POLICY_DIR=str(policies))
    try:
        client = Client(worker, (await new_key(worker, "refunds")).key)
        _, answer = await client.ask(tool_ask(tool={"name": "refund", "arguments": {
            "order": "A-78", "customer": {"tax_id": TAX_ID}}}))
        card = await nth_card(slack, 1)
        assert "sensitive value (hidden)" in block_texts(card) and TAX_ID not in str(card)
        path = LINK.search(await show_hidden(slack, BOB, card, answer["id"]))
        assert path
        await sign_in(browser, worker.url, path.group(1).removeprefix(ORIGIN), person=BOB)
        async with browser.get(worker.url + path.group(1).removeprefix(ORIGIN), allow_redirects=False) as page:
            assert TAX_ID in await page.text() and "customer.tax_id" in await page.text()
        await reject(slack, card, user=BOB, reason="no")
        await until(lambda: gone(worker, answer["id"]), what="its hidden values dropped")  # (nothing to reveal)
    finally:
        await worker.stop()


async def gone(worker: Worker, approval_id: str) -> bool:
    return await worker.services.store.hidden.get(approval_id) is None


async def test_reveal_refuses_another_person_a_person_of_another_team_and_one_who_may_not_decide(
    stepup: Worker, slack: SlackStandIn, browser: aiohttp.ClientSession,
) -> None:
    approval_id, card = await asked_with_a_card(stepup, slack)
    posted = len(slack.calls())
    link = LINK.search(await show_hidden(slack, BOB, card, approval_id))
    assert link
    path = link.group(1).removeprefix(ORIGIN)
    await sign_in(browser, stepup.url, path, person=CAROL)  # Bob's link, Carol signed in
    async with browser.get(stepup.url + path, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 403 and "This page is for bob" in text and CARD not in text

    slack.set_user(PARTNER)  # a partner of another organisation: refused at the click, no link
    told = await show_hidden(slack, PARTNER.id, card, approval_id)
    assert "another Slack organization" in told and "/reveal/" not in told

    told = await show_hidden(slack, ALICE, card, approval_id)  # the requester may not decide her own ask
    assert told == "You may not decide this approval, so its hidden values are not shown to you."
    assert await audited(stepup, "revealed") == []
    refused = {(e["by"], e["reason"]) for e in await audited(stepup, "refused")}
    assert {(CAROL, f"sign-in: the page is for {BOB}, signed in as {CAROL}"), (PARTNER.id, "outsider: external"),
            (ALICE, "reveal: self")} <= refused, refused
    assert not any(CARD in str(call.args) for call in sent_since(slack, posted))
